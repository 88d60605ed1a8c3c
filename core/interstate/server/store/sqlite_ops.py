"""SQLite implementation of atomic batches and refs (see ``ops``).

The functions here are synchronous and take the raw ``sqlite3.Connection``: ``SqliteStore`` runs
each call on its aiosqlite worker thread inside one ``BEGIN IMMEDIATE`` transaction, so a batch
costs one hop to that thread however many statements it runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Iterable, Iterator

from interstate.server.errors import already_exists, failed_precondition, not_found
from interstate.server.store.base import InteractionRecord
from interstate.server.store.ops import (
    BatchOp,
    DeleteOp,
    DeleteRefsOp,
    MetadataOp,
    PatchRefOp,
    RecordOp,
    Ref,
    RefQuery,
    SetRefOp,
    merge_patch,
)
from interstate.server.store.sqlite import _COLUMNS, _dumps, _record_params, _row_to_record

_CHUNK = 500
_UNFINISHED = ("queued", "in_progress")


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(items: list[Any]) -> str:
    return ", ".join("?" * len(items))


def _records(conn: sqlite3.Connection, tenant: str, ids: Iterable[str]) -> dict[str, InteractionRecord]:
    """Live records of ``tenant`` among ``ids``."""
    found: dict[str, InteractionRecord] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM interactions WHERE tenant = ? AND deleted = 0"
            f" AND id IN ({_marks(chunk)})",
            (tenant, *chunk),
        ).fetchall()
        found.update((row["id"], _row_to_record(row)) for row in rows)
    return found


def apply_batch(conn: sqlite3.Connection, tenant: str, ops: list[BatchOp]) -> list[dict[str, Any]]:
    """Apply ``ops`` in order (the caller holds the transaction); raise a ``ServiceError`` to
    roll everything back."""
    pending: dict[str, InteractionRecord] = {}
    results: list[dict[str, Any]] = []
    for op in ops:
        if isinstance(op, RecordOp):
            results.append(_record(conn, tenant, op, pending))
        elif isinstance(op, MetadataOp):
            results.append(_metadata(conn, tenant, op))
        elif isinstance(op, DeleteOp):
            results.append(_delete(conn, tenant, op))
            for interaction_id in op.ids:
                pending.pop(interaction_id, None)
        elif isinstance(op, SetRefOp):
            results.append(_set_ref(conn, tenant, op))
        elif isinstance(op, PatchRefOp):
            results.append(_patch_ref(conn, tenant, op))
        elif isinstance(op, DeleteRefsOp):
            results.append(_delete_refs(conn, tenant, op))
        else:  # pragma: no cover - the parser builds only the types above
            raise TypeError(f"unknown batch operation {op!r}")
    return results


def _record(
    conn: sqlite3.Connection, tenant: str, op: RecordOp, pending: dict[str, InteractionRecord]
) -> dict[str, Any]:
    record = op.record
    parent_id = record.parent_id
    wanted = [i for i in (parent_id, record.id if op.client_id else None) if i and i not in pending]
    found = _records(conn, tenant, wanted) if wanted else {}
    parent = pending.get(parent_id or "") or found.get(parent_id or "")
    if parent_id and parent is None:
        raise not_found(f"previous_interaction_id {parent_id!r} was not found")
    if parent is not None and parent.status in _UNFINISHED:
        raise failed_precondition(f"previous_interaction_id {parent_id!r} is still running")
    record.root_id = parent.root_id if parent else record.id
    record.depth = parent.depth + 1 if parent else 0
    same = pending.get(record.id) if op.client_id else None
    same = same or found.get(record.id)
    if same is not None:
        if (same.input, same.steps, same.parent_id) != (record.input, record.steps, record.parent_id):
            raise already_exists(
                f"Interaction {record.id!r} already exists with different content; choose "
                "another id or omit id to get a generated one"
            )
        return {"id": same.id, "created": False}
    try:
        conn.execute(
            f"INSERT INTO interactions ({_COLUMNS}) VALUES ({_marks(list(range(25)))})",
            _record_params(record),
        )
    except sqlite3.IntegrityError:
        raise already_exists(f"Interaction id {record.id!r} is already taken") from None
    pending[record.id] = record
    return {"id": record.id, "created": True}


def _metadata(conn: sqlite3.Connection, tenant: str, op: MetadataOp) -> dict[str, Any]:
    row = conn.execute(
        "SELECT metadata FROM interactions WHERE id = ? AND tenant = ? AND deleted = 0",
        (op.interaction_id, tenant),
    ).fetchone()
    if row is None:
        if op.missing_ok:
            return {"id": op.interaction_id, "found": False}
        raise not_found(f"Interaction {op.interaction_id!r} was not found")
    merged = merge_patch(json.loads(row[0]), op.patch, keep_existing=op.keep_existing)
    conn.execute(
        "UPDATE interactions SET metadata = ? WHERE id = ? AND tenant = ?",
        (_dumps(merged), op.interaction_id, tenant),
    )
    return {"id": op.interaction_id, "found": True}


def _children(conn: sqlite3.Connection, ids: list[str]) -> dict[str, list[str]]:
    """``parent id -> ids of its rows`` (tombstones included) for the given parents."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(
            f"SELECT id, parent_id FROM interactions WHERE parent_id IN ({_marks(chunk)})", chunk
        ):
            out.setdefault(row[1], []).append(row[0])
    return out


def _delete(conn: sqlite3.Connection, tenant: str, op: DeleteOp) -> dict[str, Any]:
    live = list(_records(conn, tenant, op.ids))
    missing = [i for i in dict.fromkeys(op.ids) if i not in set(live)]
    children = _children(conn, live)
    removable = set(live)
    changed = True
    while changed:  # a member is referenced if any child of it stays
        changed = False
        for interaction_id in list(removable):
            if any(c not in removable for c in children.get(interaction_id, [])):
                removable.discard(interaction_id)
                changed = True
    referenced = [i for i in live if i not in removable]
    parents: set[str] = set()
    for chunk in _chunks(sorted(removable)):
        parents |= {
            row[0]
            for row in conn.execute(
                f"SELECT parent_id FROM interactions WHERE id IN ({_marks(chunk)})"
                " AND parent_id IS NOT NULL",
                chunk,
            )
        }
        conn.execute(f"DELETE FROM interactions WHERE id IN ({_marks(chunk)})", chunk)
        conn.execute(f"DELETE FROM events WHERE interaction_id IN ({_marks(chunk)})", chunk)
    if referenced and not op.keep_referenced:
        for chunk in _chunks(referenced):
            conn.execute(
                "UPDATE interactions SET deleted = 1, input = '[]', steps = '[]', config = '{}',"
                " metadata = '{}', labels = '{}', usage = NULL, errors = NULL,"
                " idempotency_key = NULL, lease_owner = NULL, lease_until = NULL"
                f" WHERE id IN ({_marks(chunk)})",
                chunk,
            )
            conn.execute(f"DELETE FROM events WHERE interaction_id IN ({_marks(chunk)})", chunk)
    _drop_orphan_tombstones(conn, parents - removable)
    return {
        "deleted": sorted(removable),
        "tombstoned": [] if op.keep_referenced else referenced,
        "kept": referenced if op.keep_referenced else [],
        "missing": missing,
    }


def _drop_orphan_tombstones(conn: sqlite3.Connection, candidates: set[str]) -> None:
    """Tombstones among ``candidates`` (and, in turn, their parents) that no row names any more."""
    while candidates:
        gone: list[str] = []
        parents: set[str] = set()
        for chunk in _chunks(sorted(candidates)):
            rows = conn.execute(
                f"SELECT id, parent_id FROM interactions i WHERE id IN ({_marks(chunk)})"
                " AND deleted = 1 AND NOT EXISTS"
                " (SELECT 1 FROM interactions c WHERE c.parent_id = i.id)",
                chunk,
            ).fetchall()
            gone += [row[0] for row in rows]
            parents |= {row[1] for row in rows if row[1]}
        for chunk in _chunks(gone):
            conn.execute(f"DELETE FROM interactions WHERE id IN ({_marks(chunk)})", chunk)
        candidates = parents


def _set_ref(conn: sqlite3.Connection, tenant: str, op: SetRefOp) -> dict[str, Any]:
    if not conn.execute(
        "SELECT 1 FROM interactions WHERE id = ? AND tenant = ? AND deleted = 0",
        (op.interaction_id, tenant),
    ).fetchone():
        raise not_found(f"Ref {op.name!r}: interaction {op.interaction_id!r} was not found")
    row = conn.execute(
        "SELECT order_key, metadata FROM refs WHERE tenant = ? AND name = ?", (tenant, op.name)
    ).fetchone()
    now = time.time()
    if row is None:
        metadata = merge_patch({}, op.metadata or {})
        conn.execute(
            "INSERT INTO refs (tenant, name, interaction_id, order_key, metadata, updated)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (tenant, op.name, op.interaction_id, op.order_key, _dumps(metadata), now),
        )
        return {"name": op.name, "interaction_id": op.interaction_id, "moved": True}
    stored_key = row[0]
    moved = op.force or stored_key is None or op.order_key is None or op.order_key >= stored_key
    metadata = merge_patch(json.loads(row[1]), op.metadata) if op.metadata else None
    if moved:
        conn.execute(
            "UPDATE refs SET interaction_id = ?, order_key = ?, updated = ?"
            + (", metadata = ?" if metadata is not None else "")
            + " WHERE tenant = ? AND name = ?",
            (op.interaction_id, op.order_key, now,
             *([_dumps(metadata)] if metadata is not None else []), tenant, op.name),
        )  # fmt: skip
    elif metadata is not None:
        conn.execute(
            "UPDATE refs SET metadata = ?, updated = ? WHERE tenant = ? AND name = ?",
            (_dumps(metadata), now, tenant, op.name),
        )
    return {"name": op.name, "interaction_id": op.interaction_id if moved else None,
            "moved": moved}  # fmt: skip


def _patch_ref(conn: sqlite3.Connection, tenant: str, op: PatchRefOp) -> dict[str, Any]:
    row = conn.execute(
        "SELECT metadata FROM refs WHERE tenant = ? AND name = ?", (tenant, op.name)
    ).fetchone()
    if row is None:
        if op.missing_ok:
            return {"name": op.name, "found": False}
        raise not_found(f"Ref {op.name!r} was not found")
    merged = merge_patch(json.loads(row[0]), op.patch, keep_existing=op.keep_existing)
    conn.execute(
        "UPDATE refs SET metadata = ?, updated = ? WHERE tenant = ? AND name = ?",
        (_dumps(merged), time.time(), tenant, op.name),
    )
    return {"name": op.name, "found": True}


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _delete_refs(conn: sqlite3.Connection, tenant: str, op: DeleteRefsOp) -> dict[str, Any]:
    deleted = 0
    for chunk in _chunks(op.names):
        deleted += conn.execute(
            f"DELETE FROM refs WHERE tenant = ? AND name IN ({_marks(chunk)})", (tenant, *chunk)
        ).rowcount
    if op.prefix is not None:
        deleted += conn.execute(
            "DELETE FROM refs WHERE tenant = ? AND name LIKE ? ESCAPE '\\'",
            (tenant, _like_prefix(op.prefix)),
        ).rowcount
    return {"deleted": deleted}


def get_refs(
    conn: sqlite3.Connection, tenant: str, query: RefQuery, resolve: bool
) -> list[tuple[Ref, InteractionRecord | None]]:
    where, params = ["r.tenant = ?"], [tenant]
    if query.names:
        where.append(f"r.name IN ({_marks(query.names)})")
        params += query.names
    if query.prefix is not None:
        where.append("r.name LIKE ? ESCAPE '\\'")
        params.append(_like_prefix(query.prefix))
    if query.after is not None:
        where.append("r.name > ?")
        params.append(query.after)
    columns = ", ".join(f"i.{name.strip()} AS i_{name.strip()}" for name in _COLUMNS.split(","))
    join = (
        " LEFT JOIN interactions i ON i.id = r.interaction_id AND i.tenant = r.tenant"
        " AND i.deleted = 0"
    )
    sql = (
        "SELECT r.name, r.interaction_id, r.order_key, r.metadata, r.updated"
        + (f", {columns} FROM refs r{join}" if resolve else " FROM refs r")
        + f" WHERE {' AND '.join(where)} ORDER BY r.name LIMIT ?"
    )
    out: list[tuple[Ref, InteractionRecord | None]] = []
    for row in conn.execute(sql, (*params, query.limit)).fetchall():
        ref = Ref(row[0], row[1], row[2], json.loads(row[3]), row[4])
        record = None
        if resolve and row["i_id"] is not None:
            record = _row_to_record(
                {name.strip(): row[f"i_{name.strip()}"] for name in _COLUMNS.split(",")}  # type: ignore[arg-type]
            )
        out.append((ref, record))
    return out
