"""Atomic batches of extension writes, and refs (named, movable pointers to interactions).

A batch is a list of operations a store applies in one transaction: all of them or none. Refs
are small rows ``(tenant, name) -> interaction id`` with an optional ``order_key`` (a ref given
one only moves forward: a write with a smaller key leaves it where it is) and a metadata object.
Framework adapters use them as O(1) heads ("the latest checkpoint of this thread") and as a
registry of what they keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from interstate.server.store.base import InteractionRecord


@dataclass
class RecordOp:
    """Insert ``record``; its parent is ``record.parent_id`` (a stored interaction, or one
    recorded earlier in the same batch), resolved when the batch runs. With a client-chosen id,
    recording the same content again is a no-op; different content is a conflict."""

    record: InteractionRecord
    client_id: bool = False


@dataclass
class MetadataOp:
    """RFC 7396 merge-patch of an interaction's metadata. ``keep_existing`` turns it into an
    insert-if-absent merge: keys that already exist keep their value (objects recurse)."""

    interaction_id: str
    patch: dict[str, Any]
    keep_existing: bool = False
    missing_ok: bool = False


@dataclass
class DeleteOp:
    """Delete interactions as a set. Members whose children are all being deleted go away;
    members with other children become tombstones (as ``DELETE`` does), or, with
    ``keep_referenced``, stay untouched and are reported. Unknown ids are reported, not errors."""

    ids: list[str]
    keep_referenced: bool = False


@dataclass
class SetRefOp:
    """Point ref ``name`` at an interaction (creating the ref). With an ``order_key`` the ref
    only moves to a key at least as large as the stored one (unless ``force``); ``metadata`` is
    merge-patched into the ref's metadata either way."""

    name: str
    interaction_id: str
    order_key: str | None = None
    metadata: dict[str, Any] | None = None
    #: Move the ref even if ``order_key`` is smaller than the stored one.
    force: bool = False


@dataclass
class PatchRefOp:
    """Merge-patch a ref's metadata (``keep_existing`` as for ``MetadataOp``); a missing ref is
    an error unless ``missing_ok``."""

    name: str
    patch: dict[str, Any]
    keep_existing: bool = False
    missing_ok: bool = False


@dataclass
class DeleteRefsOp:
    names: list[str] = field(default_factory=list)
    prefix: str | None = None


BatchOp = Union[RecordOp, MetadataOp, DeleteOp, SetRefOp, PatchRefOp, DeleteRefsOp]


@dataclass
class Ref:
    name: str
    interaction_id: str
    order_key: str | None
    metadata: dict[str, Any]
    updated: float


@dataclass
class RefQuery:
    names: list[str] = field(default_factory=list)
    prefix: str | None = None
    limit: int = 100
    #: Resume after this name (refs come in name order).
    after: str | None = None


def merge_patch(target: Any, patch: Any, *, keep_existing: bool = False) -> Any:
    """RFC 7396 merge-patch of ``target`` with ``patch``; ``keep_existing`` never replaces or
    removes a value that is already there (it only adds missing keys)."""
    if not isinstance(patch, dict):
        return target if keep_existing and target is not None else patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            if not keep_existing:
                out.pop(key, None)
        elif key not in out:
            out[key] = merge_patch(None, value)
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = merge_patch(out[key], value, keep_existing=keep_existing)
        elif not keep_existing:
            out[key] = merge_patch(out[key], value)
    return out
