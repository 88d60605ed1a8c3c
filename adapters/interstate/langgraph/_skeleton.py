"""A checkpoint's skeleton (everything but its channel values), stored as a delta to its parent's.

Stored keys: ``v`` (format version, when not 4); the timestamp as microseconds since the
parent's (``d``) or since the epoch (``t``) when that gives back the same ISO string, else
``ts``; ``cd``/``cr`` (channel versions that changed / channels removed since the parent; ``cn``
lists the changed channels when each got the parent's highest version + 1, as LangGraph numbers
them; ``cv``, all of them, for a checkpoint without a parent); ``vd``/``vr`` (the same for
``versions_seen``, per node; ``vs`` in full); ``u`` (``updated_channels``, an int standing for
the n-th changed channel) and ``x`` (any other key, encoded).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any

from ._codec import decode_value, encode_value, pack_name, pack_names, unpack_name, unpack_names

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_KNOWN = {"v", "id", "ts", "channel_values", "channel_versions", "versions_seen",
          "updated_channels"}  # fmt: skip


def _ts_to_int(ts: Any) -> int | None:
    return _iso_to_int(ts) if isinstance(ts, str) else None


@functools.lru_cache(maxsize=1024)
def _iso_to_int(ts: str) -> int | None:
    """Microseconds since the epoch, if they give ``ts`` back exactly. Cached: a timestamp is
    converted when its checkpoint is stored, and again as the next checkpoint's parent."""
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        return None
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    return micros if _int_to_ts(micros) == ts else None


def _micros_of(skeleton: dict[str, Any]) -> int | None:
    """A full skeleton's timestamp in microseconds (kept by ``expand_skeleton``: a chain's
    rebuild would parse every timestamp again as the next checkpoint's parent)."""
    micros = skeleton.get("us")
    return micros if micros is not None else _ts_to_int(skeleton["ts"])


def _int_to_ts(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat()


def _next_int(versions: dict[str, Any]) -> int | None:
    ints = [v for v in versions.values() if type(v) is int]
    if len(ints) != len(versions):
        return None
    return (max(ints) if ints else 0) + 1


def compress_skeleton(
    checkpoint: dict[str, Any], parent: dict[str, Any] | None, serde: Any
) -> dict[str, Any]:
    """The stored form of ``checkpoint``'s skeleton; ``parent`` is the parent's full skeleton
    (from ``expand_skeleton``), or None to store everything."""
    out: dict[str, Any] = {}
    if checkpoint.get("v", 4) != 4:
        out["v"] = checkpoint.get("v")
    micros = _ts_to_int(checkpoint.get("ts"))
    before = _micros_of(parent) if parent is not None else None
    if micros is not None and before is not None:
        out["d"] = micros - before
    elif micros is not None:
        out["t"] = micros
    else:
        out["ts"] = checkpoint.get("ts", "")
    extra = {k: v for k, v in checkpoint.items() if k not in _KNOWN}
    versions = checkpoint.get("channel_versions") or {}
    seen = checkpoint.get("versions_seen") or {}
    changed = list(versions)
    if parent is None:
        out["cv"], out["vs"] = versions, seen
    else:
        old = parent["channel_versions"]
        delta = {k: v for k, v in versions.items() if k not in old or old[k] != v}
        changed = list(delta)
        following = _next_int(old)
        if delta and following is not None and all(v == following for v in delta.values()):
            out["cn"] = changed  # each got the next version, as LangGraph numbers them
        elif delta:
            out["cd"] = delta
        removed = [k for k in old if k not in versions]
        if removed:
            out["cr"] = removed
        seen_before = parent["versions_seen"]
        nodes = {k: v for k, v in seen.items() if k not in seen_before or seen_before[k] != v}
        if nodes:
            out["vd"] = nodes
        gone = [k for k in seen_before if k not in seen]
        if gone:
            out["vr"] = gone
    if checkpoint.get("updated_channels") is not None:
        out["u"] = [changed.index(c) if c in changed else c for c in checkpoint["updated_channels"]]
    if extra:
        out["x"] = {k: encode_value(v, serde) for k, v in extra.items()}
    return _names(out, pack_name, pack_names)


def _names(stored: dict[str, Any], one: Any, many: Any) -> dict[str, Any]:
    """``stored`` with channel and node names packed or unpacked."""
    out = dict(stored)
    for key in ("cv", "cd"):
        if key in out:
            out[key] = many(out[key])
    for key in ("vs", "vd"):
        if key in out:
            out[key] = {one(node): many(seen) for node, seen in out[key].items()}
    for key in ("cn", "cr", "vr"):
        if key in out:
            out[key] = [one(name) for name in out[key]]
    if "u" in out:
        out["u"] = [one(c) if type(c) is str else c for c in out["u"]]
    return out


def expand_skeleton(stored: dict[str, Any], parent: dict[str, Any] | None,
                    with_ts: bool = True) -> dict[str, Any]:  # fmt: skip
    """The full skeleton: ``v``, ``ts``, ``channel_versions``, ``versions_seen``,
    ``updated_channels`` and ``x`` (other keys, still encoded). Without ``with_ts``, ``ts``
    is left out where ``us`` says it (for a checkpoint that is only the next one's parent)."""
    # Only the keys read here are unpacked (``_names`` would copy the whole record, messages
    # and all, for every checkpoint of a chain a cold read rebuilds).
    get = stored.get
    if "cv" in stored:
        versions = unpack_names(get("cv") or {})
        seen = {unpack_name(node): unpack_names(v) for node, v in (get("vs") or {}).items()}
        changed = list(versions)
    elif parent is not None:
        old = parent["channel_versions"]
        removed = get("cr")
        if removed:
            gone = {unpack_name(name) for name in removed}
            versions = {k: v for k, v in old.items() if k not in gone}
        else:
            versions = dict(old)
        if "cn" in stored:
            following = _next_int(old)
            delta = {unpack_name(k): following for k in stored["cn"]}
        else:
            delta = unpack_names(get("cd") or {})
        versions.update(delta)
        changed = list(delta)
        dropped = get("vr")
        if dropped:
            gone = {unpack_name(name) for name in dropped}
            seen = {k: v for k, v in parent["versions_seen"].items() if k not in gone}
        else:
            seen = dict(parent["versions_seen"])
        seen.update({unpack_name(node): unpack_names(v) for node, v in (get("vd") or {}).items()})
    else:
        raise LookupError("a checkpoint stored as a delta needs its parent checkpoint, which is gone")
    if "d" in stored:
        before = _micros_of(parent) if parent is not None else None
        if before is None:
            raise LookupError("a checkpoint timestamp stored as a delta needs its parent")
        micros: int | None = before + stored["d"]
    else:
        micros = stored.get("t")
    ts = stored.get("ts", "") if micros is None else _int_to_ts(micros) if with_ts else None
    updated = get("u")
    if updated is not None:
        updated = [changed[c] if type(c) is int else unpack_name(c) for c in updated]
    return {
        "v": stored.get("v", 4),
        "ts": ts,
        "channel_versions": versions,
        "versions_seen": seen,
        "updated_channels": updated,
        "x": stored.get("x") or {},
        #: The timestamp in microseconds since the epoch, when it converts exactly (or None).
        "us": micros,
        #: Channels whose version this checkpoint set (absent from its values = empty).
        "changed": changed,
    }


def checkpoint_of(skeleton: dict[str, Any], checkpoint_id: str, values: dict[str, Any],
                  serde: Any) -> dict[str, Any]:  # fmt: skip
    """A fresh LangGraph checkpoint dict (callers may mutate it)."""
    checkpoint: dict[str, Any] = {
        "v": skeleton["v"],
        "id": checkpoint_id,
        "ts": skeleton["ts"],
        "channel_values": values,
        "channel_versions": dict(skeleton["channel_versions"]),
        "versions_seen": {k: dict(v) for k, v in skeleton["versions_seen"].items()},
        "updated_channels": list(skeleton["updated_channels"])
        if skeleton["updated_channels"] is not None else None,
    }  # fmt: skip
    for key, encoded in skeleton["x"].items():
        checkpoint[key] = decode_value(encoded, serde)
    return checkpoint
