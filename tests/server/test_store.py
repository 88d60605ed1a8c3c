"""The stores on their own: migrations, chains, tombstones, leases, idempotency keys.

Tests on the ``store`` fixture run on SQLite and on PostgreSQL (``db_url`` in conftest)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from interstate.server.store import Store, open_store
from interstate.server.store.base import KIND_MODEL, KIND_RECORD, InteractionRecord, ListQuery, StoredEvent
from interstate.server.store.sqlite import MIGRATIONS, SqliteStore, sqlite_path, sqlite_synchronous


def rec(id: str, parent: InteractionRecord | None = None, **kw: Any) -> InteractionRecord:
    now = kw.pop("created", time.time())
    return InteractionRecord(
        id=id, tenant=kw.pop("tenant", "t"), kind=kw.pop("kind", KIND_RECORD),
        status=kw.pop("status", "completed"), created=now, updated=now,
        parent_id=parent.id if parent else None, root_id=parent.root_id if parent else id,
        depth=parent.depth + 1 if parent else 0,
        input=[{"type": "user_input", "content": [{"type": "text", "text": id}]}], **kw,
    )  # fmt: skip


@pytest.fixture
async def store(db_url: str):
    s = await open_store(db_url)
    yield s
    await s.close()


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("sqlite://:memory:") == ":memory:"
    assert sqlite_path("sqlite:///rel/x.db?synchronous=full") == "rel/x.db"
    assert sqlite_synchronous("sqlite:///x.db") == "normal"
    assert sqlite_synchronous("sqlite:///x.db?synchronous=FULL") == "full"
    with pytest.raises(ValueError, match="off, normal, full, extra"):
        sqlite_synchronous("sqlite:///x.db?synchronous=always")
    with pytest.raises(ValueError, match="Unknown SQLite URL option"):
        sqlite_synchronous("sqlite:///x.db?journal=off")


async def test_synchronous_option_reaches_sqlite(tmp_path: Any) -> None:
    for level, expected in (("", 1), ("?synchronous=full", 2)):
        store = await SqliteStore.open(f"sqlite:///{tmp_path}/s{len(level)}.db{level}")
        try:
            async with store._conn.execute("PRAGMA synchronous") as cursor:
                assert (await cursor.fetchone())[0] == expected
        finally:
            await store.close()


async def test_migrations_set_user_version_and_wal(tmp_path: Any) -> None:
    s = await SqliteStore.open(f"sqlite:///{tmp_path}/m.db")
    await s.close()
    again = await SqliteStore.open(f"sqlite:///{tmp_path}/m.db")  # idempotent re-open
    await again.close()
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_chain_is_root_first_and_tenant_scoped(store: Store) -> None:
    a = rec("a")
    b = rec("b", a)
    c = rec("c", b)
    await store.insert_many([a, b, c])
    assert [r.id for r in await store.chain("t", "c")] == ["a", "b", "c"]
    assert await store.chain("other", "c") == []
    assert await store.get("other", "a") is None


async def test_insert_many_is_atomic(store: Store) -> None:
    await store.insert(rec("a"))
    with pytest.raises(KeyError):
        await store.insert_many([rec("new"), rec("a")])
    assert await store.get("t", "new") is None


async def test_delete_leaf_removes_row_and_parent_tombstone(store: Store) -> None:
    a = rec("a")
    b = rec("b", a)
    await store.insert_many([a, b])
    await store.append_events("a", [StoredEvent(1, {"event_type": "x"})])
    assert await store.delete("t", "a")  # has a child: tombstone
    assert await store.get("t", "a") is None
    chain = await store.chain("t", "b")
    assert [(r.id, r.deleted, r.input) for r in chain] == [("a", True, []), ("b", False, b.input)]
    assert await store.events_after("a", 0) == []
    assert await store.delete("t", "b")  # last child gone: the tombstone goes too
    assert await store.chain("t", "a") == []
    assert not await store.delete("t", "b")


async def test_list_filters_and_pages(store: Store) -> None:
    base = time.time()
    records = [
        rec(f"r{i}", created=base + i, labels={"team": "x" if i % 2 else "y"},
            metadata={"thread": f"t{i % 3}", "n": i, "ok": i > 2})
        for i in range(6)
    ]  # fmt: skip
    await store.insert_many(records)
    xs = await store.list("t", ListQuery(labels={"team": "x"}))
    assert [r.id for r in xs] == ["r5", "r3", "r1"]
    assert [r.id for r in await store.list("t", ListQuery(metadata={"thread": "t0"}))] == ["r3", "r0"]
    assert [r.id for r in await store.list("t", ListQuery(metadata={"n": 4}))] == ["r4"]
    assert [r.id for r in await store.list("t", ListQuery(metadata={"ok": True}, descending=False))] == ["r3", "r4", "r5"]
    page1 = await store.list("t", ListQuery(limit=4))
    page2 = await store.list("t", ListQuery(limit=4, after=(page1[-1].created, page1[-1].id)))
    assert [r.id for r in page1 + page2] == [f"r{i}" for i in range(5, -1, -1)]


async def test_leaves_only(store: Store) -> None:
    a = rec("a")
    await store.insert_many([a, rec("b", a), rec("c", a)])
    assert sorted(r.id for r in await store.list("t", ListQuery(leaves_only=True))) == ["b", "c"]


async def test_claim_jobs_respects_leases_and_dead_owners(store: Store) -> None:
    now = time.time()
    await store.insert_many([
        rec("queued", kind=KIND_MODEL, status="queued"),
        rec("held", kind=KIND_MODEL, status="in_progress", lease_owner="alive", lease_until=now + 60),
        rec("expired", kind=KIND_MODEL, status="in_progress", lease_owner="alive", lease_until=now - 1),
        rec("dead", kind=KIND_MODEL, status="in_progress", lease_owner="gone", lease_until=now + 60),
        rec("done", kind=KIND_MODEL, status="completed"),
        rec("recorded", status="completed"),
    ])  # fmt: skip
    assert await store.unfinished_owners() == {"alive", "gone"}
    claimed = await store.claim_jobs("me", now=now, lease_seconds=10, limit=10, dead_owners={"gone"})
    assert sorted(r.id for r in claimed) == ["dead", "expired", "queued"]
    assert all(r.lease_owner == "me" and r.attempts == 1 for r in claimed)
    again = await store.claim_jobs("other", now=now, lease_seconds=10, limit=10, dead_owners=set())
    assert again == []


async def test_update_status_guard_and_atomic_events(store: Store) -> None:
    await store.insert(rec("a", kind=KIND_MODEL, status="in_progress"))
    ok = await store.update_status(
        "a", "completed", only_if=frozenset({"in_progress"}), steps=[{"type": "model_output"}],
        events=[StoredEvent(1, {"event_type": "interaction.completed"})],
    )  # fmt: skip
    assert ok
    lost = await store.update_status(
        "a", "cancelled", only_if=frozenset({"in_progress"}),
        events=[StoredEvent(2, {"event_type": "error"})],
    )  # fmt: skip
    assert not lost
    assert (await store.get("t", "a")).status == "completed"
    assert [e.seq for e in await store.events_after("a", 0)] == [1]


async def test_idempotency_key_unique_per_tenant(store: Store) -> None:
    await store.insert(rec("a", idempotency_key="k"))
    await store.insert(rec("b", idempotency_key="k", tenant="u"))
    with pytest.raises(KeyError):
        await store.insert(rec("c", idempotency_key="k"))
    assert (await store.get_by_idempotency_key("t", "k")).id == "a"


async def test_merge_metadata_is_a_merge_patch(store: Store) -> None:
    await store.insert(rec("a", metadata={"keep": 1, "drop": 2, "nested": {"x": 1}}))
    updated = await store.merge_metadata("t", "a", {"drop": None, "nested": {"y": 2}, "new": "v"})
    assert updated.metadata == {"keep": 1, "nested": {"x": 1, "y": 2}, "new": "v"}
    assert await store.merge_metadata("other", "a", {"x": 1}) is None
