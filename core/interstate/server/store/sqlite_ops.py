"""SQLite side of atomic batches and refs: ``batch.BatchDb`` over the raw ``sqlite3.Connection``.

The methods are synchronous at heart: ``SqliteStore`` runs a whole batch on its aiosqlite worker
thread inside one ``BEGIN IMMEDIATE`` transaction (``batch.run_sync``), so a batch costs one hop
to that thread however many statements it runs.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

from interstate.server.store import batch, generations, sql
from interstate.server.store.base import InteractionRecord
from interstate.server.store.ops import BatchOp, Ref, RefQuery
from interstate.server.store.sqlite import (
    _COLUMNS,
    SQLITE,
    _dumps,
    _record_params,
    _row_to_record,
)

_CHUNK = 500


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(items: list[Any]) -> str:
    return ", ".join("?" * len(items))


class SqliteBatchDb:
    """``batch.BatchDb`` on a sqlite3 connection (the caller holds the transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def records(self, tenant: str, ids: Iterable[str]) -> dict[str, InteractionRecord]:
        found: dict[str, InteractionRecord] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM interactions WHERE tenant = ? AND deleted = 0"
                f" AND id IN ({_marks(chunk)})",
                (tenant, *chunk),
            ).fetchall()
            found.update((row["id"], _row_to_record(row)) for row in rows)
        return found

    async def lineage(self, tenant: str, ids: Iterable[str]) -> dict[str, batch.Lineage]:
        found: dict[str, batch.Lineage] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            rows = self.conn.execute(
                "SELECT id, status, root_id, depth FROM interactions WHERE tenant = ?"
                f" AND deleted = 0 AND id IN ({_marks(chunk)})",
                (tenant, *chunk),
            ).fetchall()
            found.update((row[0], batch.Lineage(row[1], row[2], row[3])) for row in rows)
        return found

    async def insert(self, record: InteractionRecord) -> bool:
        try:
            self.conn.execute(
                f"INSERT INTO interactions ({_COLUMNS}) VALUES ({_marks(list(range(25)))})",
                _record_params(record),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def metadata(self, tenant: str, interaction_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT metadata FROM interactions WHERE id = ? AND tenant = ? AND deleted = 0",
            (interaction_id, tenant),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    async def set_metadata(
        self, tenant: str, interaction_id: str, metadata: dict[str, Any]
    ) -> None:
        self.conn.execute(
            "UPDATE interactions SET metadata = ? WHERE id = ? AND tenant = ?",
            (_dumps(metadata), interaction_id, tenant),
        )

    async def children(self, ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in _chunks(ids):
            for row in self.conn.execute(
                f"SELECT id, parent_id FROM interactions WHERE parent_id IN ({_marks(chunk)})", chunk
            ):
                out.setdefault(row[1], []).append(row[0])
        return out

    async def parents(self, ids: list[str]) -> set[str]:
        parents: set[str] = set()
        for chunk in _chunks(ids):
            parents |= {
                row[0]
                for row in self.conn.execute(
                    f"SELECT parent_id FROM interactions WHERE id IN ({_marks(chunk)})"
                    " AND parent_id IS NOT NULL",
                    chunk,
                )
            }
        return parents

    async def remove(self, ids: list[str]) -> None:
        for chunk in _chunks(ids):
            self.conn.execute(f"DELETE FROM interactions WHERE id IN ({_marks(chunk)})", chunk)
            self.conn.execute(f"DELETE FROM events WHERE interaction_id IN ({_marks(chunk)})", chunk)

    async def tombstone(self, ids: list[str]) -> None:
        for chunk in _chunks(ids):
            self.conn.execute(
                "UPDATE interactions SET deleted = 1, input = '[]', steps = '[]', config = '{}',"
                " metadata = '{}', labels = '{}', usage = NULL, errors = NULL,"
                " idempotency_key = NULL, lease_owner = NULL, lease_until = NULL"
                f" WHERE id IN ({_marks(chunk)})",
                chunk,
            )
            self.conn.execute(f"DELETE FROM events WHERE interaction_id IN ({_marks(chunk)})", chunk)

    async def bump_generations(self, tenant: str, root_ids: list[str]) -> None:
        self.conn.executemany(
            generations.bump_sql(SQLITE), [(tenant, root_id) for root_id in root_ids]
        )

    async def orphan_tombstones(self, ids: list[str]) -> list[tuple[str, str | None]]:
        rows: list[tuple[str, str | None]] = []
        for chunk in _chunks(ids):
            rows += self.conn.execute(
                f"SELECT id, parent_id FROM interactions i WHERE id IN ({_marks(chunk)})"
                " AND deleted = 1 AND NOT EXISTS"
                " (SELECT 1 FROM interactions c WHERE c.parent_id = i.id)",
                chunk,
            ).fetchall()
        return rows

    async def ref(self, tenant: str, name: str) -> tuple[str | None, dict[str, Any]] | None:
        row = self.conn.execute(
            "SELECT order_key, metadata FROM refs WHERE tenant = ? AND name = ?", (tenant, name)
        ).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    async def insert_ref(self, tenant: str, ref: Ref) -> None:
        self.conn.execute(
            "INSERT INTO refs (tenant, name, interaction_id, order_key, metadata, updated)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (tenant, ref.name, ref.interaction_id, ref.order_key, _dumps(ref.metadata),
             ref.updated),  # fmt: skip
        )

    async def update_ref(self, tenant: str, name: str, values: dict[str, Any]) -> None:
        if "metadata" in values:
            values = {**values, "metadata": _dumps(values["metadata"])}
        self.conn.execute(
            f"UPDATE refs SET {', '.join(f'{column} = ?' for column in values)}"
            " WHERE tenant = ? AND name = ?",
            (*values.values(), tenant, name),
        )

    async def delete_refs(self, tenant: str, names: list[str], prefix: str | None) -> int:
        deleted = 0
        for chunk in _chunks(names):
            deleted += self.conn.execute(
                f"DELETE FROM refs WHERE tenant = ? AND name IN ({_marks(chunk)})", (tenant, *chunk)
            ).rowcount
        if prefix is not None:
            deleted += self.conn.execute(
                "DELETE FROM refs WHERE tenant = ? AND name LIKE ? ESCAPE '\\'",
                (tenant, sql.like_prefix(prefix)),
            ).rowcount
        return deleted


def apply_batch(conn: sqlite3.Connection, tenant: str, ops: list[BatchOp]) -> list[dict[str, Any]]:
    """Apply ``ops`` in order (the caller holds the transaction); raise a ``ServiceError`` to
    roll everything back."""
    return batch.run_sync(batch.apply_batch(SqliteBatchDb(conn), tenant, ops))


#: One abbreviated interaction as JSON text (``sql.chain_json_sql``), concatenated: the JSON
#: columns hold JSON text already (``_dumps``), which ``json_object`` would parse again.
_WIRE_JSON = (
    """'{"id":' || json_quote(id) || ',"previous_interaction_id":' || json_quote(parent_id)"""
    """ || ',"status":' || json_quote(status) || ',"labels":' || labels || ',"input":' || input"""
    """ || ',"steps":' || steps || ',"interstate":{"kind":' || json_quote(kind)"""
    """ || ',"root_interaction_id":' || json_quote(root_id) || ',"depth":' || depth"""
    """ || ',"metadata":' || metadata || '}}'"""
)


def chain_json(conn: sqlite3.Connection, tenant: str, interaction_id: str) -> str:
    rows = conn.execute(sql.chain_json_sql(SQLITE, _WIRE_JSON), (interaction_id, tenant, tenant))
    return "[" + ",".join(row[0] for row in rows) + "]"


def get_refs(
    conn: sqlite3.Connection, tenant: str, query: RefQuery, resolve: bool
) -> list[tuple[Ref, InteractionRecord | None]]:
    statement, params = sql.refs_sql(SQLITE, tenant, query, resolve)
    rows = conn.execute(statement, params).fetchall()
    return sql.refs_from_rows(rows, resolve, json.loads, _row_to_record)  # type: ignore[arg-type]
