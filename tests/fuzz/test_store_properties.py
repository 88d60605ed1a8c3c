"""Property tests of the store and batch layer (issue 13): random sequences of records, batches,
metadata patches, refs and deletes, checked after every step against a model kept in Python.

Invariants: every live interaction reads back with its whole chain (tombstones where deleted
ancestors are), lists by tenant, parent, label and leaves equal the model's, deleted ids are
gone, a tombstone stays only while something below it lives, and a refused batch writes nothing.
Each run uses a tenant of its own, so one store serves every example (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from interstate.server.errors import ServiceError
from interstate.server.store import Store, open_store
from interstate.server.store.base import KIND_RECORD, InteractionRecord, ListQuery
from interstate.server.store.ops import DeleteOp, MetadataOp, RecordOp, RefQuery, SetRefOp

from .conftest import examples

LABELS = ("red", "blue")
KEYS = ("a", "b", "c")
EVERYTHING = 10_000


class StoreModel(RuleBasedStateMachine):
    """The store under test (``store``, ``loop``: set by the test) against dicts and sets."""

    store: Store
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @initialize()
    def start(self) -> None:
        self.tenant = f"prop-{uuid.uuid4().hex[:12]}"
        self.parent: dict[str, str | None] = {}  # every row: live or tombstone
        self.live: set[str] = set()
        self.labels: dict[str, str] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, tuple[str, str]] = {}  # name -> (interaction id, order key)
        self.clock = 1_000_000.0
        self.ever: set[str] = set()  # every id recorded in this run

    # -- helpers ---------------------------------------------------------------------------
    def new_record(self, parent_id: str | None, label: str) -> InteractionRecord:
        self.clock += 1
        interaction_id = f"{self.tenant}-{int(self.clock)}"
        return InteractionRecord(
            id=interaction_id, tenant=self.tenant, kind=KIND_RECORD, status="completed",
            created=self.clock, updated=self.clock, parent_id=parent_id, labels={"color": label},
            input=[{"type": "user_input", "content": [{"type": "text", "text": interaction_id}]}],
        )  # fmt: skip

    def added(self, record: InteractionRecord) -> None:
        self.parent[record.id] = record.parent_id
        self.live.add(record.id)
        self.labels[record.id] = record.labels["color"]
        self.metadata[record.id] = {}
        self.ever.add(record.id)

    def deleted(self, ids: set[str]) -> None:
        self.live -= ids
        for interaction_id in ids:
            self.labels.pop(interaction_id, None)
            self.metadata.pop(interaction_id, None)
        while True:  # a tombstone goes once nothing stored names it as parent
            named = {p for p in self.parent.values() if p}
            orphans = {i for i in self.parent if i not in self.live and i not in named}
            if not orphans:
                return
            for interaction_id in orphans:
                del self.parent[interaction_id]

    def path(self, interaction_id: str) -> list[str]:
        out: list[str] = []
        node: str | None = interaction_id
        while node is not None:
            out.append(node)
            node = self.parent[node]
        return out[::-1]

    def listed(self, **query: Any) -> list[str]:
        rows = self.run(self.store.list(self.tenant, ListQuery(limit=EVERYTHING, **query)))
        return [r.id for r in rows]

    def by_age(self, ids: set[str]) -> list[str]:
        """Newest first, as lists are (records are created one clock tick apart, in id order)."""
        return sorted(ids, key=lambda i: int(i.rpartition("-")[2]), reverse=True)

    live_ids = property(lambda self: sorted(self.live))

    # -- rules -----------------------------------------------------------------------------
    @rule(data=st.data(), label=st.sampled_from(LABELS), batch=st.booleans())
    def record(self, data: st.DataObject, label: str, batch: bool) -> None:
        parent_id = data.draw(st.none() | st.sampled_from(self.live_ids)) if self.live else None
        record = self.new_record(parent_id, label)
        if batch:
            [result] = self.run(self.store.apply_batch(self.tenant, [RecordOp(record)]))
            assert result == {"id": record.id, "created": True}
        else:
            record.root_id = self.path(parent_id)[0] if parent_id else record.id
            record.depth = len(self.path(parent_id)) if parent_id else 0
            self.run(self.store.insert(record))
        self.added(record)

    @rule(data=st.data(), length=st.integers(2, 4), label=st.sampled_from(LABELS))
    def record_chain_in_one_batch(self, data: st.DataObject, length: int, label: str) -> None:
        parent_id = data.draw(st.none() | st.sampled_from(self.live_ids)) if self.live else None
        records = []
        for _ in range(length):
            records.append(self.new_record(records[-1].id if records else parent_id, label))
        self.run(self.store.apply_batch(self.tenant, [RecordOp(r) for r in records]))
        for record in records:
            self.added(record)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), with_batch=st.booleans())
    def delete_some(self, data: st.DataObject, with_batch: bool) -> None:
        ids = data.draw(st.sets(st.sampled_from(self.live_ids), min_size=1, max_size=3))
        if with_batch:
            [result] = self.run(self.store.apply_batch(self.tenant, [DeleteOp(sorted(ids))]))
            assert set(result["deleted"]) | set(result["tombstoned"]) == ids
        else:
            for interaction_id in sorted(ids):
                assert self.run(self.store.delete(self.tenant, interaction_id)) is True
        self.deleted(ids)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), patch=st.dictionaries(st.sampled_from(KEYS), st.none() | st.integers(0, 9), min_size=1))
    def patch_metadata(self, data: st.DataObject, patch: dict[str, Any]) -> None:
        interaction_id = data.draw(st.sampled_from(self.live_ids))
        self.run(self.store.apply_batch(self.tenant, [MetadataOp(interaction_id, patch)]))
        for key, value in patch.items():
            if value is None:
                self.metadata[interaction_id].pop(key, None)
            else:
                self.metadata[interaction_id][key] = value

    @precondition(lambda self: self.live)
    @rule(data=st.data(), name=st.sampled_from(("r1", "r2")), key=st.sampled_from(("k1", "k2", "k3")))
    def set_ref(self, data: st.DataObject, name: str, key: str) -> None:
        interaction_id = data.draw(st.sampled_from(self.live_ids))
        [result] = self.run(self.store.apply_batch(self.tenant, [SetRefOp(name, interaction_id, key)]))
        moves = name not in self.refs or key >= self.refs[name][1]
        assert result["moved"] is moves
        if moves:
            self.refs[name] = (interaction_id, key)

    @rule(data=st.data(), failing=st.sampled_from(("missing parent", "missing metadata", "taken id", "ref to nothing")),
          label=st.sampled_from(LABELS))  # fmt: skip
    def refused_batch(self, data: st.DataObject, failing: str, label: str) -> None:
        """Valid operations, then one that fails: the store raises and nothing of it stays."""
        parent_id = data.draw(st.none() | st.sampled_from(self.live_ids)) if self.live else None
        fresh = self.new_record(parent_id, label)
        ops: list[Any] = [RecordOp(fresh)]
        if self.live:
            ops.append(MetadataOp(data.draw(st.sampled_from(self.live_ids)), {"a": 1}))
            ops.append(DeleteOp([data.draw(st.sampled_from(self.live_ids))]))
        ops.append(SetRefOp("r1", fresh.id, "k9"))
        if failing == "missing parent":
            ops.append(RecordOp(self.new_record(f"{self.tenant}-nothing", label)))
        elif failing == "missing metadata":
            ops.append(MetadataOp(f"{self.tenant}-nothing", {"a": 1}))
        elif failing == "taken id":
            ops.append(RecordOp(self.new_record(None, label)))
            ops[-1].record.id = fresh.id
        else:
            ops.append(SetRefOp("r2", f"{self.tenant}-nothing"))
        with pytest.raises(ServiceError):
            self.run(self.store.apply_batch(self.tenant, ops))
        assert self.run(self.store.get(self.tenant, fresh.id)) is None

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def chains_read_back(self) -> None:
        for interaction_id in self.live:
            chain = self.run(self.store.chain(self.tenant, interaction_id))
            path = self.path(interaction_id)
            assert [r.id for r in chain] == path
            assert [r.deleted for r in chain] == [i not in self.live for i in path]
            assert {r.root_id for r in chain} == {path[0]}
            assert [r.depth for r in chain] == list(range(len(path)))

    @invariant()
    def descendants_are_the_living_below(self) -> None:
        for interaction_id in self.live_ids[:3]:
            below = self.run(self.store.descendants(self.tenant, interaction_id))
            expected = {i for i in self.live if i != interaction_id and interaction_id in self.path(i)}
            assert {r.id for r in below} == expected
            order = [r.id for r in below]  # parents before children
            assert all(self.parent[i] not in order[k:] for k, i in enumerate(order))

    @invariant()
    def lists_match_the_model(self) -> None:
        assert self.listed() == self.by_age(self.live)
        for label in LABELS:
            expected = {i for i in self.live if self.labels[i] == label}
            assert self.listed(labels={"color": label}) == self.by_age(expected)
        has_live_child = {self.parent[i] for i in self.live}
        assert self.listed(leaves_only=True) == self.by_age(self.live - has_live_child)
        for interaction_id in self.live_ids[:3]:
            children = {i for i in self.live if self.parent[i] == interaction_id}
            assert self.listed(parent_id=interaction_id) == self.by_age(children)

    @invariant()
    def reads_match_the_model(self) -> None:
        for interaction_id in self.parent:
            stored = self.run(self.store.get(self.tenant, interaction_id))
            if interaction_id in self.live:
                assert stored is not None and stored.metadata == self.metadata[interaction_id]
            else:
                assert stored is None
        refs = self.run(self.store.get_refs(self.tenant, RefQuery(prefix="")))
        assert {ref.name: (ref.interaction_id, ref.order_key) for ref, _ in refs} == self.refs

    @invariant()
    def tombstones_only_above_the_living(self) -> None:
        """No row of the tenant outlives what it is kept for: ``chain`` (which shows tombstones)
        of any id ever recorded reaches exactly the model's rows."""
        seen: set[str] = set()
        for interaction_id in self.ever:
            seen |= {r.id for r in self.run(self.store.chain(self.tenant, interaction_id))}
        assert seen == set(self.parent)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_on(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, asyncio.AbstractEventLoop, str]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('props')}/props.db"
    else:
        url = request.getfixturevalue("fuzz_postgres")
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(open_store(url))
    try:
        yield store, loop, request.param
    finally:
        loop.run_until_complete(store.close())
        loop.close()


def test_random_operations_keep_the_store_consistent(store_on: tuple[Store, asyncio.AbstractEventLoop, str]) -> None:
    store, loop, flavour = store_on
    StoreModel.store, StoreModel.loop = store, loop
    runs = examples() if flavour == "sqlite" else max(5, examples() // 3)
    run_state_machine_as_test(StoreModel, settings=settings(
        max_examples=runs, stateful_step_count=15, derandomize=True, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))  # fmt: skip
