"""SQLite store: one file, WAL journal, schema migrations keyed on ``PRAGMA user_version``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Iterable, Iterator

import aiosqlite

from interstate.server.store import generations
from interstate.server.store.base import (
    KIND_MODEL,
    InteractionRecord,
    ListQuery,
    Store,
    StoredEvent,
    VectorQuery,
)
from interstate.server.store.ops import DeleteOp
from interstate.server.store.sqlite_schema import (
    MIGRATIONS,
    TAG_MAX,
    sqlite_path,
    sqlite_synchronous,
)
from interstate.server.store.sql import (
    Flavour,
    chain_sql,
    descendants_sql,
    list_sql,
    newest_sql,
    update_status_sql,
)

#: Written out, not bound: only a literal list lets SQLite use the partial index
#: ``interactions_unfinished`` (with parameters, the worker's every round scanned the table).
_UNFINISHED = "status IN ('queued', 'in_progress')"
_COLUMNS = (
    "id, tenant, kind, status, created, updated, parent_id, root_id, depth, model, agent, config,"
    " input, steps, usage, errors, labels, metadata, background, idempotency_key, attempts,"
    " lease_owner, lease_until, provider_state, deleted"
)
_JSON_FIELDS = (
    "config", "input", "steps", "usage", "errors", "labels", "metadata", "provider_state"
)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _row_to_record(row: sqlite3.Row) -> InteractionRecord:
    values = dict(row)
    for name in _JSON_FIELDS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    values["background"] = bool(values["background"])
    values["deleted"] = bool(values["deleted"])
    return InteractionRecord(**values)


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration (a trigger's body holds ``;`` too)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def _record_params(r: InteractionRecord) -> tuple[Any, ...]:
    return (
        r.id, r.tenant, r.kind, r.status, r.created, r.updated, r.parent_id, r.root_id, r.depth,
        r.model, r.agent, _dumps(r.config), _dumps(r.input), _dumps(r.steps), _dumps(r.usage),
        _dumps(r.errors), _dumps(r.labels), _dumps(r.metadata), int(r.background),
        r.idempotency_key, r.attempts, r.lease_owner, r.lease_until, _dumps(r.provider_state),
        int(r.deleted),
    )  # fmt: skip


def _json_scalar(value: Any) -> Any:
    """A Python value as ``json_extract`` returns it (booleans become 0/1, objects JSON text)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return _dumps(value)
    return value


def _json_equals(column: str, key: str, value: Any, params: list[Any]) -> str:
    params += [f'$."{key}"', _json_scalar(value)]
    return f"json_extract({column}, ?) = ?"


def _any_of(column: str, values: Any, params: list[Any]) -> str:
    params += values
    return f"{column} IN ({', '.join('?' * len(values))})"


def _tagged(key: str, value: Any) -> bool:
    """Whether ``interaction_tags`` holds this label / metadata value (see the migration)."""
    if len(key) > TAG_MAX or value is None or isinstance(value, (dict, list)):
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return not isinstance(value, str) or len(value) <= TAG_MAX


SQLITE = Flavour(mark="?", false="0", json=_dumps, json_equals=_json_equals, any_of=_any_of,
                 tagged=_tagged, tag_value=_json_scalar, unindexed="+")  # fmt: skip


class SqliteStore(Store):
    """One aiosqlite connection; a lock serialises statements so that a transaction opened by
    one coroutine never absorbs (or rolls back) another coroutine's writes.

    In embedded mode, callers' threads may also run batches and ref reads themselves (``here``):
    the connection lock, taken after the coroutines' lock, keeps them out while a coroutine uses
    the connection (and holds the loop for the few statements a caller's thread runs).
    """

    #: Run ``_run`` (batches, ref reads) on the loop's thread, not aiosqlite's (same lock, hence
    #: ``check_same_thread=False``). The embedded server sets it: its callers wait anyway, and
    #: two thread hand-offs per call (each waiting for the GIL) cost more than the statements.
    run_on_loop = False
    #: ``here()`` runs batches, ref reads and reads of interactions in the calling thread.
    serves_here = True

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._conn_lock = threading.Lock()
        self._here = threading.local()
        self.path = path

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """The connection, for a coroutine on the loop (see the class docstring)."""
        async with self._lock:
            with self._conn_lock:
                yield

    @contextlib.contextmanager
    def here(self) -> Iterator[None]:
        """Within this block, batches and ref reads (``_run``) called from this thread run in
        this thread, under the connection lock: a coroutine that only calls them never
        suspends, so it can be driven without the loop (``EmbeddedServer.serve_here``)."""
        self._here.active = True
        try:
            yield
        finally:
            self._here.active = False

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        async with self._exclusive():
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @classmethod
    async def open(cls, url: str) -> "SqliteStore":
        path, synchronous = sqlite_path(url), sqlite_synchronous(url)
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            path = str(Path(path).expanduser())
        conn = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA busy_timeout = 10000")
        if path != ":memory:":
            await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        await conn.execute("PRAGMA foreign_keys = ON")
        store = cls(conn, path)
        await store._migrate()
        return store

    async def _migrate(self) -> None:
        async with self._transaction():
            (version,) = await (await self._conn.execute("PRAGMA user_version")).fetchone()
            for index in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[index]):
                    await self._conn.execute(statement)
            if version < len(MIGRATIONS):
                await self._conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    async def _fetch_in_tx(self, sql: str, params: Iterable[Any] = ()) -> list[InteractionRecord]:
        async with self._conn.execute(sql, tuple(params)) as cursor:
            return [_row_to_record(row) for row in await cursor.fetchall()]

    async def _write_in_tx(self, sql: str, params: Iterable[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, tuple(params))
        return cursor.rowcount

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[InteractionRecord]:
        """Records read in one hop (``_run``): in the caller's thread under ``here``, so an
        embedded read of interactions is served without the loop (``serve_here``)."""

        def read(conn: sqlite3.Connection) -> list[InteractionRecord]:
            return [_row_to_record(row) for row in conn.execute(sql, tuple(params)).fetchall()]

        return await self._run(read, transaction=False)  # type: ignore[no-any-return]

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        async with self._exclusive():
            return await self._write_in_tx(sql, params)

    # -- interactions -------------------------------------------------------------------
    async def insert(self, record: InteractionRecord) -> None:
        await self.insert_many([record])

    async def insert_many(self, records: list[InteractionRecord]) -> None:
        placeholders = ", ".join("?" * 25)
        try:
            async with self._transaction():
                await self._conn.executemany(
                    f"INSERT INTO interactions ({_COLUMNS}) VALUES ({placeholders})",
                    [_record_params(r) for r in records],
                )
        except sqlite3.IntegrityError as exc:
            raise KeyError(str(exc)) from exc

    async def get(self, tenant: str, interaction_id: str) -> InteractionRecord | None:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM interactions WHERE id = ? AND tenant = ? AND deleted = 0",
            (interaction_id, tenant),
        )
        return rows[0] if rows else None

    async def get_by_idempotency_key(self, tenant: str, key: str) -> InteractionRecord | None:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM interactions"
            " WHERE tenant = ? AND idempotency_key = ? AND deleted = 0",
            (tenant, key),
        )
        return rows[0] if rows else None

    async def chain(self, tenant: str, interaction_id: str) -> list[InteractionRecord]:
        sql = chain_sql(SQLITE, _COLUMNS)
        return await self._fetch(sql, (interaction_id, tenant, tenant))

    async def chain_generation(self, tenant: str, root_id: str) -> int | None:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute(generations.read_sql(SQLITE), (tenant, root_id)).fetchone()
            return int(row[0]) if row else 0

        return await self._run(read, transaction=False)  # type: ignore[no-any-return]

    async def descendants(self, tenant: str, interaction_id: str) -> list[InteractionRecord]:
        sql = descendants_sql(SQLITE, _COLUMNS)
        return await self._fetch(sql, (interaction_id, tenant, tenant))

    async def list(self, tenant: str, query: ListQuery) -> list[InteractionRecord]:
        return await self._fetch(*list_sql(SQLITE, _COLUMNS, tenant, query))

    async def update_status(
        self,
        interaction_id: str,
        status: str,
        *,
        only_if: frozenset[str] | None = None,
        steps: list[dict[str, Any]] | None = None,
        usage: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
        release_lease: bool = False,
        events: list[StoredEvent] | None = None,
        provider_state: dict[str, Any] | None = None,
    ) -> bool:
        outputs = {"steps": steps, "usage": usage, "errors": errors,
                   "provider_state": provider_state}  # fmt: skip
        sql, params = update_status_sql(
            SQLITE, interaction_id, status, time.time(), only_if, outputs, release_lease
        )
        async with self._transaction():
            changed = await self._write_in_tx(sql, params) > 0
            if changed and events:
                await self._append_events_in_tx(interaction_id, events)
        return changed

    async def merge_metadata(
        self, tenant: str, interaction_id: str, patch: dict[str, Any]
    ) -> InteractionRecord | None:
        # json_patch implements RFC 7396 merge-patch: a null value removes the key.
        changed = await self._write(
            "UPDATE interactions SET metadata = json_patch(metadata, ?)"
            " WHERE id = ? AND tenant = ? AND deleted = 0",
            (_dumps(patch), interaction_id, tenant),
        )
        return await self.get(tenant, interaction_id) if changed else None

    async def delete(self, tenant: str, interaction_id: str) -> bool:
        # The batch's delete (as on PostgreSQL): tombstones above it that nothing names any
        # more go too, however many levels (one sweep left a chain's older tombstones behind).
        [result] = await self.apply_batch(tenant, [DeleteOp([interaction_id])])
        return bool(result["deleted"] or result["tombstoned"])

    # -- events -------------------------------------------------------------------------
    async def append_events(self, interaction_id: str, events: list[StoredEvent]) -> None:
        async with self._exclusive():
            await self._append_events_in_tx(interaction_id, events)

    async def _append_events_in_tx(self, interaction_id: str, events: list[StoredEvent]) -> None:
        await self._conn.executemany(
            "INSERT OR REPLACE INTO events (interaction_id, seq, data) VALUES (?, ?, ?)",
            [(interaction_id, e.seq, _dumps(e.data)) for e in events],
        )

    async def events_after(self, interaction_id: str, seq: int) -> list[StoredEvent]:
        async with self._exclusive(), self._conn.execute(
            "SELECT seq, data FROM events WHERE interaction_id = ? AND seq > ? ORDER BY seq",
            (interaction_id, seq),
        ) as cursor:
            return [StoredEvent(row[0], json.loads(row[1])) for row in await cursor.fetchall()]

    async def clear_events(self, interaction_id: str, *, before: int) -> None:
        await self._write(
            "DELETE FROM events WHERE interaction_id = ? AND seq < ?", (interaction_id, before)
        )

    # -- background jobs ----------------------------------------------------------------
    async def unfinished_owners(self) -> set[str]:
        async with self._exclusive(), self._conn.execute(
            f"SELECT DISTINCT lease_owner FROM interactions"
            f" WHERE {_UNFINISHED} AND lease_owner IS NOT NULL",
        ) as cursor:
            return {row[0] for row in await cursor.fetchall()}

    async def claim_jobs(
        self, owner: str, *, now: float, lease_seconds: float, limit: int, dead_owners: set[str]
    ) -> list[InteractionRecord]:
        dead = sorted(dead_owners) or [""]
        claimable = (
            f"{_UNFINISHED} AND deleted = 0 AND kind = ? AND (lease_owner IS NULL"
            f" OR lease_until < ? OR lease_owner IN ({', '.join('?' * len(dead))}))"
        )
        async with self._transaction():
            rows = await self._fetch_in_tx(
                f"SELECT {_COLUMNS} FROM interactions WHERE {claimable}"
                " ORDER BY created, id LIMIT ?",
                (KIND_MODEL, now, *dead, limit),
            )
            for record in rows:
                await self._write_in_tx(
                    "UPDATE interactions SET lease_owner = ?, lease_until = ?,"
                    " attempts = attempts + 1 WHERE id = ?",
                    (owner, now + lease_seconds, record.id),
                )
                record.lease_owner, record.lease_until = owner, now + lease_seconds
                record.attempts += 1
        return rows

    async def statuses(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        async with self._exclusive(), self._conn.execute(
            f"SELECT id, status FROM interactions WHERE deleted = 0"
            f" AND id IN ({', '.join('?' * len(ids))})",
            ids,
        ) as cursor:
            return {row[0]: row[1] for row in await cursor.fetchall()}

    async def renew_leases(self, owner: str, ids: list[str], until: float) -> None:
        if ids:
            await self._write(
                f"UPDATE interactions SET lease_until = ? WHERE lease_owner = ?"
                f" AND id IN ({', '.join('?' * len(ids))})",
                (until, owner, *ids),
            )

    async def close(self) -> None:
        async with self._exclusive():
            await self._conn.close()
        # aiosqlite's connection is a thread that ends just after close() returns: wait for it
        # (microseconds), so a closed store leaves no thread behind.
        if isinstance(self._conn, threading.Thread) and self._conn.is_alive():
            self._conn.join(timeout=5)

    # -- vectors ------------------------------------------------------------------------
    async def put_embeddings(self, tenant: str, vectors: dict[str, list[float]]) -> list[str]:
        from interstate.server import vectors as vec

        ids = list(vectors)
        async with self._transaction():
            found = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                async with self._conn.execute(
                    f"SELECT id FROM interactions WHERE tenant = ? AND deleted = 0"
                    f" AND id IN ({', '.join('?' * len(chunk))})",
                    (tenant, *chunk),
                ) as cursor:
                    found |= {row[0] for row in await cursor.fetchall()}
            missing = [i for i in ids if i not in found]
            if not missing:
                await self._conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (interaction_id, dim, vector)"
                    " VALUES (?, ?, ?)",
                    [(i, len(v), vec.pack(v)) for i, v in vectors.items()],
                )
        return missing

    async def search(
        self, tenant: str, query: VectorQuery
    ) -> list[tuple[InteractionRecord, float | None]]:
        from interstate.server import vectors as vec

        if not getattr(self, "_vector_functions", False):
            await self._conn.create_function(vec.SQL_FUNCTION, 2, vec.dot, deterministic=True)
            self._vector_functions = True
        where, params = vec.filter_sql(tenant, query, table="i")
        if query.vector is None:
            sql, params = newest_sql(SQLITE, where, params, query)
        else:
            columns = ", ".join(f"i.{name.strip()}" for name in _COLUMNS.split(","))
            sql = (
                f"SELECT * FROM (SELECT {columns}, {vec.SQL_FUNCTION}(e.vector, ?) AS score"
                f" FROM interactions i JOIN embeddings e ON e.interaction_id = i.id"
                f" WHERE {where} AND e.dim = ?) WHERE score IS NOT NULL AND score >= ?"
                " ORDER BY score DESC, created DESC, id DESC LIMIT ? OFFSET ?"
            )
            min_score = -2.0 if query.min_score is None else query.min_score
            params = [vec.pack(query.vector), *params, len(query.vector), min_score,
                      query.limit, query.offset]  # fmt: skip
        async with self._exclusive(), self._conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        out: list[tuple[InteractionRecord, float | None]] = []
        for row in rows:
            values = dict(row)
            score = values.pop("score", None)
            out.append((_row_to_record(values), score))  # type: ignore[arg-type]
        return out

    # -- atomic batches and refs (interstate extension, see store/ops.py) ------------------
    async def _run(self, fn: Any, *args: Any, transaction: bool) -> Any:
        """Run ``fn(sqlite3_connection, *args)`` inside ``BEGIN IMMEDIATE ... COMMIT`` when
        ``transaction`` (rolled back if it raises): in this thread under ``here``, else on the
        loop (``run_on_loop``) or on aiosqlite's thread, in one hop."""

        def call() -> Any:
            conn = self._conn._conn  # the sqlite3 connection aiosqlite wraps
            if not transaction:
                return fn(conn, *args)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        if getattr(self._here, "active", False):
            with self._conn_lock:
                return call()
        async with self._exclusive():
            if self.run_on_loop:
                return call()
            return await self._conn._execute(call)

    async def apply_batch(self, tenant: str, ops: list[Any]) -> list[dict[str, Any]]:
        return await self._run(sqlite_ops.apply_batch, tenant, ops, transaction=True)

    async def get_refs(self, tenant: str, query: Any, *, resolve: bool = False) -> list[Any]:
        return await self._run(sqlite_ops.get_refs, tenant, query, resolve, transaction=False)

    async def chain_json(self, tenant: str, interaction_id: str) -> str:
        return await self._run(sqlite_ops.chain_json, tenant, interaction_id, transaction=False)


# The batch and ref SQL beside the store builds on the names above; imported with the store,
# not by a process's first request.
from interstate.server.store import sqlite_ops  # noqa: E402
