"""Atomic batches (see ``ops``), written once for every store flavour.

Each operation's logic — parent checks, idempotent client ids, delete-as-a-set with tombstones,
ref ordering — lives here, over ``BatchDb``: the few reads and writes a flavour provides with its
own SQL, inside the one transaction its store holds around ``apply_batch``.

The functions are coroutines so that an asynchronous driver (psycopg) can await each statement.
A synchronous driver (sqlite3, on aiosqlite's thread) implements the same methods as coroutines
that never suspend, and runs the whole batch with ``run_sync``: one hop to its thread, however
many statements the batch runs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, NamedTuple, Protocol, TypeVar

from interstate.server.errors import already_exists, failed_precondition, id_taken, not_found
from interstate.server.store.base import InteractionRecord
from interstate.server.store.ops import (
    BatchOp,
    DeleteOp,
    DeleteRefsOp,
    MetadataOp,
    PatchRefOp,
    RecordOp,
    Ref,
    SetRefOp,
    merge_patch,
)

T = TypeVar("T")
_UNFINISHED = ("queued", "in_progress")


class Lineage(NamedTuple):
    """What a batch needs to know of an existing record to put a turn under it (or to move a
    ref to it), read without its content: most batches store one turn under its parent."""

    status: str
    root_id: str | None
    depth: int


class BatchDb(Protocol):
    """The reads and writes of a batch, inside the caller's transaction."""

    async def records(self, tenant: str, ids: Iterable[str]) -> dict[str, InteractionRecord]:
        """Live records of ``tenant`` among ``ids``."""

    async def lineage(self, tenant: str, ids: Iterable[str]) -> dict[str, Lineage]:
        """Status, root and depth of the live records of ``tenant`` among ``ids``."""

    async def insert(self, record: InteractionRecord) -> bool:
        """Insert a record; False (writing nothing) if its id or idempotency key is taken."""

    async def metadata(self, tenant: str, interaction_id: str) -> dict[str, Any] | None:
        """The live record's metadata (locked until the transaction ends), or None."""

    async def set_metadata(
        self, tenant: str, interaction_id: str, metadata: dict[str, Any]
    ) -> None: ...

    async def children(self, ids: list[str]) -> dict[str, list[str]]:
        """``parent id -> ids of its rows`` (tombstones included) for the given parents."""

    async def parents(self, ids: list[str]) -> set[str]:
        """The parent ids of the given rows."""

    async def remove(self, ids: list[str]) -> None:
        """Delete the rows and their events."""

    async def tombstone(self, ids: list[str]) -> None:
        """Turn the rows into tombstones (content cleared, ``deleted`` set), events dropped."""

    async def bump_generations(self, tenant: str, root_ids: list[str]) -> None:
        """Bump the chain generation of each tree (``generations``)."""

    async def orphan_tombstones(self, ids: list[str]) -> list[tuple[str, str | None]]:
        """``(id, parent_id)`` of the tombstones among ``ids`` that no row names as parent."""

    async def ref(self, tenant: str, name: str) -> tuple[str | None, dict[str, Any]] | None:
        """``(order_key, metadata)`` of a ref, or None."""

    async def insert_ref(self, tenant: str, ref: Ref) -> None: ...

    async def update_ref(self, tenant: str, name: str, values: dict[str, Any]) -> None:
        """Set the given columns (``interaction_id``, ``order_key``, ``metadata``, ``updated``)."""

    async def delete_refs(self, tenant: str, names: list[str], prefix: str | None) -> int:
        """Delete the refs named, and those whose name starts with ``prefix``; how many went."""


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (all it awaits is synchronous) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a synchronous batch suspended")


async def apply_batch(db: BatchDb, tenant: str, ops: list[BatchOp]) -> list[dict[str, Any]]:
    """Apply ``ops`` in order (the caller holds the transaction); raise a ``ServiceError`` to
    roll everything back."""
    pending: dict[str, InteractionRecord] = {}
    results: list[dict[str, Any]] = []
    for op in ops:
        if isinstance(op, RecordOp):
            results.append(await record(db, tenant, op, pending))
        elif isinstance(op, MetadataOp):
            results.append(await metadata(db, tenant, op))
        elif isinstance(op, DeleteOp):
            results.append(await delete(db, tenant, op))
            for interaction_id in op.ids:
                pending.pop(interaction_id, None)
        elif isinstance(op, SetRefOp):
            results.append(await set_ref(db, tenant, op, pending))
        elif isinstance(op, PatchRefOp):
            results.append(await patch_ref(db, tenant, op))
        elif isinstance(op, DeleteRefsOp):
            results.append({"deleted": await db.delete_refs(tenant, op.names, op.prefix)})
        else:  # pragma: no cover - the parser builds only the types above
            raise TypeError(f"unknown batch operation {op!r}")
    return results


async def record(
    db: BatchDb, tenant: str, op: RecordOp, pending: dict[str, InteractionRecord]
) -> dict[str, Any]:
    record = op.record
    parent_id = record.parent_id
    wanted = [i for i in (parent_id, record.id if op.client_id else None) if i and i not in pending]
    found = await db.lineage(tenant, wanted) if wanted else {}
    parent = pending.get(parent_id or "") or found.get(parent_id or "")
    if parent_id and parent is None:
        raise not_found(f"previous_interaction_id {parent_id!r} was not found")
    if parent is not None and parent.status in _UNFINISHED:
        raise failed_precondition(f"previous_interaction_id {parent_id!r} is still running")
    record.root_id = parent.root_id if parent else record.id
    record.depth = parent.depth + 1 if parent else 0
    same = pending.get(record.id) if op.client_id else None
    if same is None and op.client_id and record.id in found:
        same = (await db.records(tenant, [record.id])).get(record.id)
    if same is not None:
        content = (record.input, record.steps, record.parent_id)
        if (same.input, same.steps, same.parent_id) != content:
            raise already_exists(
                f"Interaction {record.id!r} already exists with different content; choose "
                "another id or omit id to get a generated one"
            )
        return {"id": same.id, "created": False}
    if not await db.insert(record):
        raise id_taken(f"Interaction id {record.id!r}")
    pending[record.id] = record
    return {"id": record.id, "created": True}


async def metadata(db: BatchDb, tenant: str, op: MetadataOp) -> dict[str, Any]:
    async def write(merged: dict[str, Any]) -> None:
        await db.set_metadata(tenant, op.interaction_id, merged)

    current = await db.metadata(tenant, op.interaction_id)
    what = {"id": op.interaction_id}
    return await _patch(current, op, what, f"Interaction {op.interaction_id!r}", write)


async def _patch(
    current: dict[str, Any] | None,
    op: MetadataOp | PatchRefOp,
    what: dict[str, Any],
    name: str,
    write: Callable[[dict[str, Any]], Awaitable[None]],
) -> dict[str, Any]:
    """Merge-patch ``current`` (None: not found) with ``op`` and ``write`` the result."""
    if current is None:
        if op.missing_ok:
            return {**what, "found": False}
        raise not_found(f"{name} was not found")
    await write(merge_patch(current, op.patch, keep_existing=op.keep_existing))
    return {**what, "found": True}


async def delete(db: BatchDb, tenant: str, op: DeleteOp) -> dict[str, Any]:
    found = await db.records(tenant, op.ids)
    live = sorted(found)
    missing = [i for i in dict.fromkeys(op.ids) if i not in set(live)]
    children = await db.children(live)
    removable = set(live)
    changed = True
    while changed:  # a member is referenced if any child of it stays
        changed = False
        for interaction_id in list(removable):
            if any(c not in removable for c in children.get(interaction_id, [])):
                removable.discard(interaction_id)
                changed = True
    referenced = [i for i in live if i not in removable]
    parents = await db.parents(sorted(removable)) if removable else set()
    gone = [*removable, *([] if op.keep_referenced else referenced)]
    if gone:  # a cached history of these trees may show what goes now
        await db.bump_generations(tenant, sorted({found[i].root_id for i in gone}))
    if removable:
        await db.remove(sorted(removable))
    if referenced and not op.keep_referenced:
        await db.tombstone(referenced)
    await _drop_orphan_tombstones(db, parents - removable)
    return {
        "deleted": sorted(removable),
        "tombstoned": [] if op.keep_referenced else referenced,
        "kept": referenced if op.keep_referenced else [],
        "missing": missing,
    }


async def _drop_orphan_tombstones(db: BatchDb, candidates: set[str]) -> None:
    """Tombstones among ``candidates`` (and, in turn, their parents) that no row names any more."""
    while candidates:
        rows = await db.orphan_tombstones(sorted(candidates))
        if rows:
            await db.remove([row[0] for row in rows])
        candidates = {row[1] for row in rows if row[1]}


async def set_ref(
    db: BatchDb, tenant: str, op: SetRefOp, pending: dict[str, InteractionRecord]
) -> dict[str, Any]:
    if op.interaction_id not in pending and not await db.lineage(tenant, [op.interaction_id]):
        raise not_found(f"Ref {op.name!r}: interaction {op.interaction_id!r} was not found")
    row = await db.ref(tenant, op.name)
    now = time.time()
    if row is None:
        ref_metadata = merge_patch({}, op.metadata or {})
        ref = Ref(op.name, op.interaction_id, op.order_key, ref_metadata, now)
        await db.insert_ref(tenant, ref)
        return {"name": op.name, "interaction_id": op.interaction_id, "moved": True}
    stored_key, stored_metadata = row
    moved = op.force or stored_key is None or op.order_key is None or op.order_key >= stored_key
    values: dict[str, Any] = {}
    if moved:
        values.update(interaction_id=op.interaction_id, order_key=op.order_key)
    if op.metadata:
        values["metadata"] = merge_patch(stored_metadata, op.metadata)
    if values:
        await db.update_ref(tenant, op.name, {**values, "updated": now})
    return {"name": op.name, "interaction_id": op.interaction_id if moved else None,
            "moved": moved}  # fmt: skip


async def patch_ref(db: BatchDb, tenant: str, op: PatchRefOp) -> dict[str, Any]:
    async def write(merged: dict[str, Any]) -> None:
        await db.update_ref(tenant, op.name, {"metadata": merged, "updated": time.time()})

    row = await db.ref(tenant, op.name)
    current = None if row is None else row[1]
    return await _patch(current, op, {"name": op.name}, f"Ref {op.name!r}", write)
