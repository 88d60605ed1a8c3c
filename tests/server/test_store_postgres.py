"""The PostgreSQL store: what only it has (migrations shared by several processes, job claims
and batches across servers) and what it must have like SQLite (the same answers to the same
calls). The common store tests run on both flavours through ``db_url`` (see conftest)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import psycopg
import pytest

from interstate.server.errors import ServiceError
from interstate.server.store import Store, open_store, store_scheme
from interstate.server.store.base import (
    KIND_MODEL,
    InteractionRecord,
    ListQuery,
    VectorQuery,
)
from interstate.server.store.ops import (
    DeleteOp,
    DeleteRefsOp,
    MetadataOp,
    RecordOp,
    RefQuery,
    SetRefOp,
)
from interstate.server.store.postgres import MIGRATIONS, PostgresStore

from .postgres_support import create_schema
from .test_store import rec


@pytest.fixture
def pg_url(postgres_admin_url: str) -> str:
    return create_schema(postgres_admin_url)


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[PostgresStore]:
    store = await PostgresStore.open(pg_url)
    yield store
    await store.close()


async def test_urls_pick_the_store() -> None:
    assert [store_scheme(u) for u in ("x.db", "sqlite:///x.db", "postgresql://h/db", "postgres://h/db")] == [
        "sqlite", "sqlite", "postgres", "postgres"]  # fmt: skip
    with pytest.raises(ValueError, match="No store for mysql://"):
        await open_store("mysql://h/db")


async def test_migrations_are_recorded_once_even_when_servers_start_together(pg_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_url) for _ in range(3)))
    for store in stores:
        await store.close()
    again = await PostgresStore.open(pg_url)  # an up-to-date schema: nothing to do
    await again.close()
    with psycopg.connect(pg_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT v FROM interstate_migrations ORDER BY v")]
    assert versions == list(range(len(MIGRATIONS)))


async def test_two_servers_never_claim_the_same_job(pg_url: str) -> None:
    a, b = PostgresStore.open(pg_url), PostgresStore.open(pg_url)
    a, b = await a, await b
    try:
        now = time.time()
        await a.insert_many([rec(f"job{i:02}", kind=KIND_MODEL, status="queued", created=now + i)
                             for i in range(40)])  # fmt: skip
        claims = await asyncio.gather(*(
            store.claim_jobs(owner, now=now, lease_seconds=60, limit=3, dead_owners=set())
            for _ in range(10) for store, owner in ((a, "a"), (b, "b"))
        ))  # fmt: skip
        claimed = [r.id for batch in claims for r in batch]
        assert sorted(claimed) == [f"job{i:02}" for i in range(40)]  # each exactly once
        for batch in claims:
            assert [r.id for r in batch] == sorted(r.id for r in batch)  # oldest first
        assert await a.claim_jobs("c", now=now, lease_seconds=60, limit=50, dead_owners=set()) == []
        assert await a.unfinished_owners() == {"a", "b"}
    finally:
        await a.close()
        await b.close()


async def test_a_job_locked_by_another_server_is_skipped_not_waited_for(pg: PostgresStore, pg_url: str) -> None:
    now = time.time()
    await pg.insert_many([rec("locked", kind=KIND_MODEL, status="queued", created=now),
                          rec("free", kind=KIND_MODEL, status="queued", created=now + 1)])  # fmt: skip
    async with await psycopg.AsyncConnection.connect(pg_url) as other:
        await other.execute("SELECT 1 FROM interactions WHERE id = 'locked' FOR UPDATE")
        claimed = await asyncio.wait_for(
            pg.claim_jobs("me", now=now, lease_seconds=60, limit=10, dead_owners=set()), 5
        )
        assert [r.id for r in claimed] == ["free"]
        await other.rollback()
    claimed = await pg.claim_jobs("me", now=now, lease_seconds=60, limit=10, dead_owners=set())
    assert [(r.id, r.attempts) for r in claimed] == [("locked", 1)]


async def test_concurrent_deletes_of_the_last_children_drop_the_tombstone(pg_url: str) -> None:
    a, b = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        for n in range(20):  # without the tenant lock, about half of them leave the tombstone
            root = rec(f"r{n}")
            parent = rec(f"p{n}", root)
            kids = [rec(f"c{n}-{i}", parent) for i in range(2)]
            await a.insert_many([root, parent, *kids])
            assert await a.delete("t", parent.id)  # it has children: a tombstone
            assert all(await asyncio.gather(a.delete("t", kids[0].id), b.delete("t", kids[1].id)))
            assert [r.id for r in await a.chain("t", parent.id)] == []  # gone with its last child
            assert [r.id for r in await a.list("t", ListQuery(root_id=root.id))] == [root.id]
    finally:
        await a.close()
        await b.close()


async def test_a_batch_under_a_parent_being_deleted_never_leaves_an_orphan(pg_url: str) -> None:
    """Batches without deletes take no tenant lock (threads write in parallel): the parent's
    row lock orders them against a delete, either way round."""
    from interstate.server.errors import ServiceError
    from interstate.server.refs import parse_operations

    a, b = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        outcomes = set()
        for n in range(30):
            root = rec(f"o{n}")
            await a.insert(root)
            child = parse_operations("t", {"operations": [
                {"record": {"id": f"o{n}-kid", "previous_interaction_id": root.id}},
                {"set_ref": {"name": f"head-{n}", "interaction_id": f"o{n}-kid"}}]})  # fmt: skip
            added, deleted = await asyncio.gather(a.apply_batch("t", child), b.delete("t", root.id),
                                                  return_exceptions=True)  # fmt: skip
            assert deleted is True
            kid = await a.get("t", f"o{n}-kid")
            if isinstance(added, ServiceError):  # the delete went first: no parent any more
                assert kid is None and await a.chain("t", root.id) == []
                outcomes.add("refused")
            else:  # the child went first: the parent stays, as a tombstone
                assert kid is not None
                assert [(r.id, r.deleted) for r in await a.chain("t", kid.id)] == [(root.id, True), (kid.id, False)]
                outcomes.add("tombstone")
        assert outcomes  # (which orders occur depends on timing; both are checked when they do)
    finally:
        await a.close()
        await b.close()


async def test_batches_of_different_threads_do_not_wait_for_each_other(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch holding its transaction open does not block another thread's batch."""
    from interstate.server.refs import parse_operations
    from interstate.server.store import batch as batches

    a, b = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        await a.insert_many([rec("x"), rec("y")])
        one = parse_operations("t", {"operations": [{"record": {"id": "x1", "previous_interaction_id": "x"}},
                                                    {"set_ref": {"name": "hx", "interaction_id": "x1"}}]})  # fmt: skip
        two = parse_operations("t", {"operations": [{"record": {"id": "y1", "previous_interaction_id": "y"}},
                                                    {"set_ref": {"name": "hy", "interaction_id": "y1"}}]})  # fmt: skip
        applied, release = asyncio.Event(), asyncio.Event()
        real = batches.apply_batch

        async def held_open(db: Any, tenant: str, ops: Any) -> Any:
            result = await real(db, tenant, ops)
            if ops is one:  # done, but not committed until released
                applied.set()
                await release.wait()
            return result

        monkeypatch.setattr(batches, "apply_batch", held_open)
        first = asyncio.create_task(a.apply_batch("t", one))
        await applied.wait()
        await asyncio.wait_for(b.apply_batch("t", two), timeout=10)
        release.set()
        await first
        assert {r.id for r in await a.list("t", ListQuery())} >= {"x1", "y1"}
    finally:
        await a.close()
        await b.close()


async def test_a_chain_of_tombstones_goes_with_its_last_live_descendant(pg: PostgresStore) -> None:
    a = rec("a")
    b = rec("b", a)
    c = rec("c", b)
    await pg.insert_many([a, b, c])
    assert await pg.delete("t", "a") and await pg.delete("t", "b") and await pg.delete("t", "c")
    assert await pg.chain("t", "a") == [] and await pg.chain("t", "b") == []


async def test_concurrent_metadata_merges_lose_nothing(pg_url: str) -> None:
    a, b = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        await a.insert(rec("m", metadata={"keep": True}))
        await asyncio.gather(*(
            (a if i % 2 else b).merge_metadata("t", "m", {f"k{i}": i}) for i in range(20)
        ))  # fmt: skip
        merged = (await a.get("t", "m")).metadata
        assert merged == {"keep": True, **{f"k{i}": i for i in range(20)}}
    finally:
        await a.close()
        await b.close()


async def test_ref_prefixes_are_case_sensitive(pg: PostgresStore) -> None:
    await pg.apply_batch("t", [RecordOp(rec("x"), client_id=True), SetRefOp("b/1", "x"), SetRefOp("B/2", "x")])
    assert [ref.name for ref, _ in await pg.get_refs("t", RefQuery(prefix="b/"))] == ["b/1"]
    assert (await pg.apply_batch("t", [DeleteRefsOp(prefix="B/")])) == [{"deleted": 1}]


async def test_a_closed_store_refuses_work(pg_url: str) -> None:
    store = await PostgresStore.open(pg_url)
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("t", "x")


# -- the same answers as SQLite ----------------------------------------------------------------


def _record(r: InteractionRecord) -> tuple[Any, ...]:
    return (r.id, r.root_id, r.depth, r.deleted, r.input, r.labels, r.metadata)


def _with_input(record: InteractionRecord, input: list[Any]) -> InteractionRecord:
    record.input = input
    return record


async def _outcome(coro: Any) -> Any:
    try:
        return await coro
    except ServiceError as exc:
        return ("error", exc.status, exc.message)


async def _transcript(store: Store) -> list[Any]:
    """Everything a scenario of calls answers, in a form two flavours can be compared on."""
    out: list[Any] = []
    ids = ["b", "B", "a", "_", "Z", "\u00e9", "a-1", "a_1", "A", "~"]
    await store.insert_many([
        rec(i, created=1000.0 + n % 3, labels={"team": "x" if n % 2 else "y"},
            metadata={"n": n % 4, "tags": ["p", "q"] if n % 2 else ["q"], "path": f"/s/{i}" if n % 3 else "/s",
                      "deep": {"k": n % 2}, **({"opt": n} if n > 5 else {})})
        for n, i in enumerate(ids)
    ])  # fmt: skip
    for descending in (True, False):
        pages, after = [], None
        while True:
            page = await store.list("t", ListQuery(limit=3, after=after, descending=descending))
            pages.append([r.id for r in page])
            if len(page) < 3:
                break
            after = (page[-1].created, page[-1].id)
        out.append(pages)
    for query in (
        ListQuery(labels={"team": "x"}), ListQuery(metadata={"n": 1}), ListQuery(metadata={"n": 1.0}),
        ListQuery(metadata={"tags": ["q"]}), ListQuery(metadata={"tags": ["q", "p"]}),
        ListQuery(metadata={"deep": {"k": 1}}), ListQuery(metadata={"n": None}),
        ListQuery(metadata={"n": "1"}), ListQuery(labels={"team": "y"}, metadata={"n": 2}),
    ):  # fmt: skip
        out.append([r.id for r in await store.list("t", query)])
    for vquery in (
        VectorQuery(metadata_prefix={"path": "/s"}, limit=100),
        VectorQuery(metadata_prefix={"path": "/s/a"}, limit=100),
        VectorQuery(metadata_prefix={"path": "/"}, labels={"team": "x"}, limit=100),
        VectorQuery(metadata_any={"tags": ["p", "zz"]}, limit=100),
        VectorQuery(metadata_any={"n": [0, 3]}, limit=100),
        VectorQuery(metadata_any={"n": []}, limit=100),
        VectorQuery(metadata={"deep.k": 1}, limit=100),
        VectorQuery(metadata={"opt": None}, limit=100),
        VectorQuery(metadata={"deep.nope": None}, limit=4, offset=2),
    ):
        out.append([(r.id, s) for r, s in await store.search("t", vquery)])
    assert await store.put_embeddings("t", {"a": [1, 0, 0], "b": [0.6, 0.8, 0], "B": [0, 0, 2], "_": [1, 1]}) == []
    assert await store.put_embeddings("t", {"a": [1, 0, 0], "nope": [1, 0, 0]}) == ["nope"]
    for vquery in (VectorQuery(vector=[1, 0.1, 0]), VectorQuery(vector=[1, 0, 0], min_score=0.5),
                   VectorQuery(vector=[3, 3]), VectorQuery(vector=[1, 0, 0], limit=1, offset=1)):  # fmt: skip
        out.append([(r.id, s) for r, s in await store.search("t", vquery)])  # the same floats
    # batches: results and errors alike, failures writing nothing
    chain = [rec("c1"), rec("c2", rec("c1")), rec("c3", rec("c2", rec("c1")))]
    out.append(await _outcome(store.apply_batch("t", [RecordOp(r, client_id=True) for r in chain] + [
        SetRefOp("r/2", "c3", order_key="2", metadata={"x": {"y": 1}}), SetRefOp("r/1", "c1"), SetRefOp("R", "c2"),
        MetadataOp("c1", {"w": {"k": 1}}), MetadataOp("c1", {"w": {"k": 2, "j": 3}}, keep_existing=True),
    ])))  # fmt: skip
    for ops in (
        [RecordOp(rec("c1"), client_id=True), SetRefOp("r/2", "c1", order_key="1", metadata={"x": None})],
        [RecordOp(rec("new")), RecordOp(_with_input(rec("c1"), ["other"]), client_id=True)],
        [RecordOp(rec("orphan", rec("missing")))],
        [RecordOp(rec("q", kind=KIND_MODEL, status="in_progress")), RecordOp(rec("q2", rec("q")))],
        [MetadataOp("missing", {"a": 1}, missing_ok=True), MetadataOp("missing", {"a": 1})],
        [SetRefOp("r/9", "missing")],
        [DeleteOp(["c1", "c3", "nope"], keep_referenced=True)],
        [DeleteOp(["c1", "c3", "nope"])],
    ):
        out.append(await _outcome(store.apply_batch("t", ops)))
    refs = await store.get_refs("t", RefQuery(prefix="", limit=2), resolve=True)
    out.append([(ref.name, ref.interaction_id, ref.order_key, ref.metadata, target and _record(target))
                for ref, target in refs])  # fmt: skip
    more = await store.get_refs("t", RefQuery(prefix="r/", after="r/1"))
    out.append([(ref.name, ref.interaction_id) for ref, _ in more])
    out.append([_record(r) for r in await store.chain("t", "c2")])
    out.append([_record(r) for r in await store.descendants("t", "c1")])
    out.append([_record(r) for r in await store.chain("t", "c1")])
    out.append(await _outcome(store.apply_batch("t", [DeleteRefsOp(names=["R", "zz"], prefix="r/")])))
    out.append(await store.get_refs("other", RefQuery(prefix="")))
    out.append(await store.delete("t", "c2"))
    out.append([_record(r) for r in await store.list("t", ListQuery(leaves_only=True, limit=100))])
    return out


async def test_postgres_answers_like_sqlite(pg: PostgresStore, tmp_path: Any) -> None:
    sqlite = await open_store(f"sqlite:///{tmp_path}/same.db")
    try:
        expected = await _transcript(sqlite)
    finally:
        await sqlite.close()
    assert await _transcript(pg) == expected


# -- end to end: `interstate serve --db postgresql://...` and the embedded server -----------------


def test_interstate_serve_on_postgres_serves_the_official_sdk(pg_url: str, tmp_path: Any) -> None:
    from google import genai
    from interstate.testing import ServerProcess

    server = ServerProcess(pg_url, ["--provider", "scripted", "--api-key", "k:t"], tmp_path / "log")
    with server.start():
        sdk = genai.Client(api_key="k", http_options={"base_url": server.url, "api_version": "v1beta",
                                                       "retry_options": {"attempts": 1}})  # fmt: skip
        first = sdk.interactions.create(model="scripted", input="hello")
        assert first.status == "completed" and first.output_text == "echo: hello"
        assert sdk.interactions.get(first.id).output_text == "echo: hello"
        second = sdk.interactions.create(model="scripted", input="again", previous_interaction_id=first.id)
        assert second.output_text == "echo: again" and second.previous_interaction_id == first.id
    with psycopg.connect(pg_url) as conn:  # stored in PostgreSQL, chained
        rows = conn.execute("SELECT id, parent_id, depth FROM interactions ORDER BY depth").fetchall()
    assert rows == [(first.id, None, 0), (second.id, first.id, 1)]


def test_the_client_runs_an_embedded_server_on_postgres(pg_url: str) -> None:
    from interstate.client import Client
    from interstate.server.embedded import EmbeddedServer

    try:
        with Client.from_url(pg_url) as client:
            first = client.interactions.create(model="scripted", input="hi")
            second = client.interactions.create(model="scripted", input="more", previous_interaction_id=first.id)
            assert client.interactions.get(second.id).output_text == "echo: more"
    finally:
        EmbeddedServer.start(pg_url).close()  # this URL's server only
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM interactions").fetchone() == (2,)
