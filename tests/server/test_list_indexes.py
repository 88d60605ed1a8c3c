"""Lists are index lookups (issue 12): by root, parent, label and metadata, on SQLite (query
plans checked with ``EXPLAIN QUERY PLAN``; label and metadata filters go through the
``interaction_tags`` side table, kept by triggers) and on PostgreSQL (B-tree and GIN indexes).

The ``store`` tests run on both stores and check that what the indexes serve is what the rows
say, after every kind of write: insert, metadata merge, tombstone, delete."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from interstate.server.store import Store, open_store
from interstate.server.store.base import InteractionRecord, ListQuery
from interstate.server.store.sql import list_sql
from interstate.server.store.sqlite import _COLUMNS, MIGRATIONS, SQLITE, SqliteStore

from .postgres_support import create_schema
from .test_store import rec

QUERIES = {
    "root": ListQuery(root_id="r"),
    "root and metadata": ListQuery(root_id="r", metadata={"user": "u1"}, limit=5),
    "parent": ListQuery(parent_id="p"),
    "parents": ListQuery(parent_ids=("p", "q", "r")),
    "label": ListQuery(labels={"app": "x"}),
    "metadata": ListQuery(metadata={"user": "u1"}, limit=5),
    "metadata, oldest first, next page": ListQuery(metadata={"step": 3}, descending=False,
                                                   after=(1.0, "a")),
    "label and metadata": ListQuery(labels={"app": "x"}, metadata={"user": "u1", "ok": True}),
    "leaves with metadata": ListQuery(metadata={"user": "u1"}, leaves_only=True),
}  # fmt: skip


@pytest.fixture
async def store(db_url: str):
    s = await open_store(db_url)
    yield s
    await s.close()


def _plan(conn: sqlite3.Connection, query: ListQuery) -> list[str]:
    statement, params = list_sql(SQLITE, _COLUMNS, "t", query)
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, params)]


@pytest.mark.parametrize("name", list(QUERIES))
async def test_sqlite_lists_search_an_index_in_order(tmp_path: Any, name: str) -> None:
    store = await SqliteStore.open(f"sqlite:///{tmp_path}/plans.db")
    await store.close()
    plan = _plan(sqlite3.connect(tmp_path / "plans.db"), QUERIES[name])
    assert not [step for step in plan if step.startswith("SCAN")], plan
    if not QUERIES[name].parent_ids:  # several parents: their few children sorted
        assert not [step for step in plan if "TEMP B-TREE" in step], plan  # no sort: index order
    first = plan[0]
    if QUERIES[name].root_id:
        assert "interactions_by_root" in first
    elif QUERIES[name].parent_id or QUERIES[name].parent_ids:
        assert "interactions_by_parent" in first
    else:
        assert first.startswith("SEARCH t USING PRIMARY KEY"), plan


@pytest.mark.parametrize("metadata", [{"o": {"a": 1}}, {"long": "x" * 300}, {"n": None}])
async def test_sqlite_filters_the_tags_do_not_hold_read_the_rows(tmp_path: Any,
                                                                 metadata: dict[str, Any]) -> None:  # fmt: skip
    store = await SqliteStore.open(f"sqlite:///{tmp_path}/plans.db")
    await store.close()
    plan = _plan(sqlite3.connect(tmp_path / "plans.db"), ListQuery(metadata=metadata))
    assert "interactions_by_tenant" in plan[0]


def _ids(records: list[InteractionRecord]) -> list[str]:
    return [r.id for r in records]


async def test_metadata_and_label_lists_follow_every_write(store: Store) -> None:
    t0 = time.time()
    a = rec("a", metadata={"user": "u1", "step": 1, "ok": True}, labels={"app": "x"}, created=t0)
    b = rec("b", a, metadata={"user": "u1", "step": 2, "ok": False}, labels={"app": "y"}, created=t0 + 1)
    c = rec("c", b, metadata={"user": "u2", "step": "2", "long": "z" * 300}, created=t0 + 2)
    d = rec("d", c, metadata={"user": "u1", "obj": {"k": [1, 2]}}, created=t0 + 3)
    await store.insert_many([a, b, c])
    await store.insert(d)
    other = rec("e", metadata={"user": "u1"}, labels={"app": "x"}, tenant="other", created=t0)
    await store.insert(other)

    async def ids(**query: Any) -> list[str]:
        return _ids(await store.list("t", ListQuery(**query)))

    assert await ids(metadata={"user": "u1"}) == ["d", "b", "a"]
    assert await ids(metadata={"user": "u1"}, descending=False, limit=2) == ["a", "b"]
    assert await ids(metadata={"user": "u1"}, after=(t0 + 3, "d"), limit=1) == ["b"]
    assert await ids(metadata={"step": 2}) == ["b"]  # the number, not the string "2"
    assert await ids(metadata={"step": "2"}) == ["c"]
    assert await ids(metadata={"ok": False}) == ["b"]
    assert await ids(metadata={"long": "z" * 300}) == ["c"]  # not in the tags: read from rows
    assert await ids(metadata={"obj": {"k": [1, 2]}}) == ["d"]
    assert await ids(labels={"app": "x"}) == ["a"]
    assert await ids(labels={"app": "x"}, metadata={"user": "u1"}) == ["a"]
    assert await ids(metadata={"user": "u1"}, leaves_only=True) == ["d"]
    assert await ids(metadata={"user": "nobody"}) == []

    await store.merge_metadata("t", "b", {"user": "u3", "step": None})
    assert await ids(metadata={"user": "u1"}) == ["d", "a"]
    assert await ids(metadata={"user": "u3"}) == ["b"]
    assert await ids(metadata={"step": 2}) == []

    await store.delete("t", "a")  # has children: a tombstone, out of every list
    assert await ids(metadata={"user": "u1"}) == ["d"]
    assert await ids(labels={"app": "x"}) == []
    await store.delete("t", "d")  # a leaf: gone
    assert await ids(metadata={"user": "u1"}) == []
    assert _ids(await store.list("other", ListQuery(metadata={"user": "u1"}))) == ["e"]


async def test_an_old_sqlite_database_gets_its_tags_on_open(tmp_path: Any) -> None:
    """A database written before the tags migration: opening it fills the tags."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    before = next(i for i, m in enumerate(MIGRATIONS) if "interaction_tags" in m)
    for migration in MIGRATIONS[:before]:
        conn.executescript(migration)
    conn.execute(f"PRAGMA user_version = {before}")
    conn.execute(
        "INSERT INTO interactions (id, tenant, kind, status, created, updated, root_id, depth,"
        " config, input, steps, labels, metadata, background) VALUES ('old', 't', 'record',"
        " 'completed', 1, 1, 'old', 0, '{}', '[]', '[]', '{\"app\":\"x\"}', '{\"user\":\"u1\"}', 0)"
    )
    conn.commit()
    conn.close()
    store = await SqliteStore.open(f"sqlite:///{path}")
    try:
        assert _ids(await store.list("t", ListQuery(metadata={"user": "u1"}))) == ["old"]
        assert _ids(await store.list("t", ListQuery(labels={"app": "x"}))) == ["old"]
    finally:
        await store.close()


async def test_postgres_lists_use_indexes(postgres_admin_url: str) -> None:
    store = await open_store(create_schema(postgres_admin_url))
    try:
        from interstate.server.store.postgres_ops import POSTGRES, SELECT

        async with store._pool.connection() as conn:  # type: ignore[attr-defined]
            await conn.execute("SET enable_seqscan = off")
            for name, query in QUERIES.items():
                statement, params = list_sql(POSTGRES, SELECT, "t", query)
                rows = await (await conn.execute("EXPLAIN " + statement, params)).fetchall()
                plan = "\n".join(str(next(iter(row.values()))) for row in rows)
                assert "Seq Scan on interactions" not in plan, (name, plan)
    finally:
        await store.close()


async def test_the_workers_rounds_search_the_unfinished_index(tmp_path: Any) -> None:
    """Every embedded server polls for background jobs twice a second: a table scan there held
    the connection for tens of milliseconds per round in a store of thousands of threads. (The
    statements are planned as sent, parameters unbound: a partial index is used only when the
    statement itself implies its condition.)"""
    store = await SqliteStore.open(f"sqlite:///{tmp_path}/plans.db")
    sent: list[tuple[str, Any]] = []
    execute = store._conn.execute

    def recording(sql: str, parameters: Any = None) -> Any:
        sent.append((sql, parameters))
        return execute(sql, parameters)

    store._conn.execute = recording  # type: ignore[method-assign]
    try:
        await store.unfinished_owners()
        await store.claim_jobs("me", now=time.time(), lease_seconds=5, limit=4, dead_owners={"x"})
    finally:
        store._conn.execute = execute  # type: ignore[method-assign]
        await store.close()
    conn = sqlite3.connect(tmp_path / "plans.db")
    selects = [(q, p) for q, p in sent if q.lstrip().startswith("SELECT")]
    assert len(selects) == 2
    for statement, parameters in selects:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, parameters or ())]
        assert plan[0].startswith("SEARCH interactions USING INDEX interactions_unfinished"), plan
