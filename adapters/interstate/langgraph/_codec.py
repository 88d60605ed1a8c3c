"""Names and encodings the checkpointer stores: interaction ids, ref names, and values.

Ids. Checkpoint ``C`` of thread ``T``, namespace ``N`` is the interaction whose id is ``C``
itself in 22 characters when it is a UUID (LangGraph's uuid6 ids; an order-preserving base64,
so ids sort like checkpoint ids) — otherwise ``.`` and a hash of ``(T, N, C)`` —, followed by the
namespace's suffix: empty, except for namespaces created by ``copy_thread`` (a checkpoint id
then exists in two threads), whose suffix the namespace's head ref records. So reading a
checkpoint by id is one GET, and ids are short (they are stored in four indexes).

Values. Channel values and pending writes are stored as one of:

* the value itself when it is a JSON scalar or object (None, bool, int, float, str,
  str-keyed dicts), ``["j", value]`` for a JSON list;
* ``["m", structure]``: JSON with LangChain messages inside (e.g. ``{"messages": [msg]}`` or
  ``[msg]``): each message is ``{"$R": ref}``, a reference to a message stored as steps: an int
  ``i >= 0`` is message ``i`` stored by this checkpoint, ``i < 0`` message ``-i-1`` stored by its
  parent, ``[c, i]`` message ``i`` stored by the checkpoint whose interaction id is ``c``; or,
  where no checkpoint stores it yet, ``{"$M": [steps, side]}`` inline (see ``_messages``);
* ``[type, base64]``: anything else, through the saver's serializer (``JsonPlusSerializer`` by
  default, as the stock savers use).

Channel and node names are packed (``__start__`` is ``^``, ``messages`` ``~``, ``branch:to:x``
``@x``) and UUID-shaped task ids take 22 characters.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import uuid
from typing import Any, Callable, Iterator

from langchain_core.messages import BaseMessage

from ._messages import fresh_message, is_json, message_to_steps, steps_to_message

#: ASCII-sorted base64 alphabet (all characters allowed in interaction ids).
_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_ALPHABET_SET = frozenset(_ALPHABET)
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TO_SORTED = str.maketrans(_STANDARD, _ALPHABET)
_FROM_SORTED = str.maketrans(_ALPHABET, _STANDARD)
#: Last characters of a packed UUID: its 4 low bits are zero.
_LAST = frozenset(_ALPHABET[0::16])
REF_PREFIX = "langgraph/"
LANGGRAPH_MODEL = "langgraph"
#: Key of the checkpointer's own bookkeeping inside an interaction's metadata.
BOOK = "__lg"

Lookup = Callable[[Any], BaseMessage]


def _b32(data: bytes, size: int) -> str:
    return base64.b32encode(data).decode("ascii").lower().rstrip("=")[:size]


def _digest(*parts: str) -> bytes:
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=16).digest()


@functools.lru_cache(maxsize=4096)
def thread_key(thread_id: str) -> str:
    """Label value naming a thread (the model turns of ChatInteractions carry it)."""
    return _b32(_digest("thread", thread_id), 13)


def namespace_key(thread_id: str, checkpoint_ns: str) -> str:
    return _b32(_digest("ns", thread_id, checkpoint_ns), 13)


@functools.lru_cache(maxsize=4096)
def pack_uuid(value: str) -> str:
    """A UUID string in 22 characters (order-preserving); anything else as ``=value``.

    Cached: a put or put_writes packs the same few checkpoint ids several times."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        parsed = None
    if parsed is None or str(parsed) != value:
        return "=" + value
    # 128 bits and 4 zero bits: 22 characters of 6 bits, standard base64 mapped onto _ALPHABET
    return base64.b64encode(parsed.bytes).decode("ascii")[:22].translate(_TO_SORTED)


def unpacks(packed: str) -> bool:
    """Whether ``unpack_uuid(packed)`` is not None, without decoding (a cold read checks the
    parent of every checkpoint of a chain, and needs only the head's ids)."""
    if packed.startswith("="):
        return True
    return len(packed) == 22 and _ALPHABET_SET.issuperset(packed) and packed[-1] in _LAST


@functools.lru_cache(maxsize=8192)
def unpack_uuid(packed: str) -> str | None:
    """The UUID string ``pack_uuid`` packed (cached: a cold read unpacks every checkpoint id
    of a chain, and a thread's ids come back on every read)."""
    if packed.startswith("="):
        return packed[1:]
    if not unpacks(packed):
        return None
    hexed = base64.b64decode(packed.translate(_FROM_SORTED) + "==").hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def encode_checkpoint_id(checkpoint_id: str, thread_id: str, checkpoint_ns: str) -> str:
    packed = pack_uuid(checkpoint_id)
    if packed.startswith("="):
        return "." + _b32(_digest("cid", thread_id, checkpoint_ns, checkpoint_id), 26)
    return packed


@functools.lru_cache(maxsize=4096)
def ref_name(thread_id: str, checkpoint_ns: str) -> str:
    return f"{REF_PREFIX}{thread_key(thread_id)}/{namespace_key(thread_id, checkpoint_ns)}"


def thread_ref_prefix(thread_id: str) -> str:
    return f"{REF_PREFIX}{thread_key(thread_id)}/"


_NAMES = {"__start__": "^", "__input__": "%", "messages": "~"}
_UNNAMES = {v: k for k, v in _NAMES.items()}


def pack_name(name: str) -> str:
    """A channel or node name, shorter."""
    if name in _NAMES:
        return _NAMES[name]
    if name.startswith("branch:to:"):
        return "@" + name[10:]
    return "!" + name if name[:1] in "^%~@!" else name


def unpack_name(packed: str) -> str:
    if packed in _UNNAMES:
        return _UNNAMES[packed]
    if packed[:1] == "@":
        return "branch:to:" + packed[1:]
    return packed[1:] if packed[:1] == "!" else packed


def pack_names(mapping: dict[str, Any]) -> dict[str, Any]:
    return {pack_name(k): v for k, v in mapping.items()}


def unpack_names(mapping: dict[str, Any]) -> dict[str, Any]:
    return {unpack_name(k): v for k, v in mapping.items()}


# -- values ---------------------------------------------------------------------------------


Place = Callable[[BaseMessage], Any]
Channels = dict[str, tuple[BaseMessage, ...]]


def _send_type() -> Any:
    from langgraph.types import Send

    return Send


def _prefix_channel(value: list[Any], channels: Channels | None) -> tuple[str, int] | None:
    """The message channel whose value starts the list, and how many of its messages do."""
    if not channels or not value or not isinstance(value[0], BaseMessage):
        return None
    best: tuple[str, int] | None = None
    for name, messages in channels.items():
        if not messages or (messages[0] is not value[0] and messages[0] != value[0]):
            continue
        n = 0
        for a, b in zip(messages, value):
            if a is not b and a != b:
                break
            n += 1
        if n > 1 and (best is None or n > best[1]):
            best = (name, n)
    return best


def _structure(value: Any, serde: Any, place: Place | None, channels: Channels | None) -> Any:
    """JSON with message placeholders, or raise TypeError when ``value`` is not that shape."""
    if isinstance(value, BaseMessage):
        ref = place(value) if place is not None else None
        if ref is not None:
            return {"$R": ref}
        steps, side = message_to_steps(value, serde)
        return {"$M": [steps, side]}
    kind = type(value)
    if kind is list:
        prefix = _prefix_channel(value, channels)
        if prefix is not None:  # the first n messages of a channel of this checkpoint
            rest = [_structure(v, serde, place, channels) for v in value[prefix[1] :]]
            return {"$X": [prefix[0], prefix[1], rest]}
        return [_structure(v, serde, place, channels) for v in value]
    if kind is dict:
        if not all(type(k) is str and not k.startswith("$") for k in value):
            raise TypeError("keys")
        return {k: _structure(v, serde, place, channels) for k, v in value.items()}
    if kind is _send_type() and isinstance(value.node, str) and getattr(value, "timeout", None) is None:
        return {"$S": [value.node, _structure(value.arg, serde, place, channels)]}
    if is_json(value):
        return value
    raise TypeError("not JSON")


def has_messages(value: Any) -> bool:
    if isinstance(value, BaseMessage):
        return True
    if type(value) is list:
        return any(has_messages(v) for v in value)
    if type(value) is dict:
        return any(has_messages(v) for v in value.values())
    if type(value) is _send_type():
        return has_messages(value.arg)
    return False


def encode_value(
    value: Any, serde: Any, place: Place | None = None, channels: Channels | None = None
) -> Any:
    """A stored value; ``place(message)`` gives the reference of a message that is (or will be)
    stored as steps, or None to keep it inline; ``channels`` are the message channels of the
    checkpoint the value is stored with (a list starting with one becomes a range of it)."""
    if is_json(value):
        return ["j", value] if type(value) is list else value
    if has_messages(value):
        try:
            return ["m", _structure(value, serde, place, channels)]
        except TypeError:
            pass
    kind, data = serde.dumps_typed(value)
    return [kind, base64.b64encode(data).decode("ascii")]


def _walk_refs(node: Any) -> Iterator[Any]:
    if type(node) is list:
        for item in node:
            yield from _walk_refs(item)
    elif type(node) is dict:
        if len(node) == 1 and "$R" in node:
            yield node["$R"]
        elif not (len(node) == 1 and "$M" in node):
            for item in node.values():
                yield from _walk_refs(item)


def value_refs(encoded: Any) -> list[Any]:
    """The message references inside a stored value."""
    if type(encoded) is list and encoded and encoded[0] == "m":
        return list(_walk_refs(encoded[1]))
    return []


def holder_refs(encoded: Any) -> set[str]:
    """Interaction ids of the checkpoints a stored value refers to by ``[c, i]`` references."""
    return {ref[0] for ref in value_refs(encoded) if type(ref) is list}


def _unstructure(node: Any, serde: Any, lookup: Lookup | None) -> Any:
    if type(node) is list:
        return [_unstructure(v, serde, lookup) for v in node]
    if type(node) is dict:
        if len(node) == 1 and "$M" in node:
            steps, side = node["$M"]
            return steps_to_message(steps, side, serde)
        if len(node) == 1 and "$R" in node:
            if lookup is None:
                raise LookupError("a message reference needs the checkpoint that stores it")
            return fresh_message(lookup(node["$R"]))
        if len(node) == 1 and "$X" in node:
            channel, count, rest = node["$X"]
            channel_of = getattr(lookup, "channel", None)
            if channel_of is None:
                raise LookupError("a channel range needs the checkpoint it belongs to")
            return [fresh_message(m) for m in channel_of(channel)[:count]] + _unstructure(rest, serde, lookup)
        if len(node) == 1 and "$S" in node:
            return _send_type()(node["$S"][0], _unstructure(node["$S"][1], serde, lookup))
        return {k: _unstructure(v, serde, lookup) for k, v in node.items()}
    return node


def decode_value(encoded: Any, serde: Any, lookup: Lookup | None = None) -> Any:
    if type(encoded) is not list:
        return json.loads(json.dumps(encoded)) if type(encoded) is dict else encoded
    kind = encoded[0]
    if kind == "j":
        value = encoded[1]
        return json.loads(json.dumps(value)) if isinstance(value, (list, dict)) else value
    if kind == "m":
        return _unstructure(encoded[1], serde, lookup)
    return serde.loads_typed((kind, base64.b64decode(encoded[1])))


# -- metadata -------------------------------------------------------------------------------


def split_metadata(metadata: dict[str, Any], serde: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """LangGraph metadata as top-level interaction metadata (JSON values, filterable on the
    server) plus the rest, encoded, for the bookkeeping block. ``parents`` is left out when it
    is ``{}`` (nearly always), and a missing ``parents`` is marked (``md.parents = null``)."""
    plain: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for key, value in metadata.items():
        if key == "parents" and value == {}:
            continue
        if key != BOOK and is_json(value):
            plain[key] = value
        else:
            other[key] = encode_value(value, serde)
    if "parents" not in metadata:
        other["parents"] = ["e"]
    return plain, other


def join_metadata(stored: dict[str, Any], serde: Any) -> dict[str, Any]:
    return metadata_of({k: v for k, v in stored.items() if k != BOOK},
                       (stored.get(BOOK) or {}).get("md") or {}, serde)  # fmt: skip


def metadata_of(plain: dict[str, Any], other: dict[str, Any], serde: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(plain))
    if "parents" not in plain:
        out["parents"] = {}
    for key, value in other.items():
        if value == ["e"]:
            out.pop(key, None)
        else:
            out[key] = decode_value(value, serde)
    return out


def writes_key(task_id: str, idx: int) -> str:
    return f"{task_id}|{idx}"


def parse_writes_key(key: str) -> tuple[str, int]:
    task_id, _, idx = key.rpartition("|")
    return task_id, int(idx)


_PATHS = (("<", "~__pregel_pull, "), (">", "~__pregel_push, "))


def pack_path(path: str) -> str:
    for tag, prefix in _PATHS:
        if path.startswith(prefix):
            return tag + path[len(prefix) :]
    return "=" + path


def unpack_path(packed: str) -> str:
    for tag, prefix in _PATHS:
        if packed.startswith(tag):
            return prefix + packed[1:]
    return packed[1:]


def pack_writes(entries: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``{task_id|idx: [channel, value, path?]}`` grouped by task, for storing in a record:
    ``{packed task_id: [packed path, [idx, packed channel, value], ...]}``."""
    out: dict[str, list[Any]] = {}
    for key, entry in entries.items():
        task_id, idx = parse_writes_key(key)
        group = out.setdefault(pack_uuid(task_id), [pack_path(entry[2] if len(entry) > 2 else "")])
        group.append([idx, pack_name(entry[0]), entry[1]])
    return out


def unpack_writes(packed: dict[str, list[Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for task, group in packed.items():
        task_id = unpack_uuid(task) or task
        path = unpack_path(group[0])
        for idx, channel, value in group[1:]:
            channel = unpack_name(channel)
            out[writes_key(task_id, idx)] = [channel, value, path] if path else [channel, value]
    return out
