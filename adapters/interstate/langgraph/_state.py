"""What the checkpointer reads back: stored interactions, rebuilt checkpoint states, and the
I/O operations its plans ask the sync/async drivers to perform (sans-I/O, like httpx's split).

A plan is a generator that yields operations (``Get``, ``Chain``, ``Refs``, ``List``, ``Batch``,
or ``Emit`` for a result of ``list``) and receives their results; ``InteractionsSaver`` runs
plans with a ``Client``, ``AsyncInteractionsSaver`` with an ``AsyncClient``. Everything else —
encoding, caching, deciding what to fetch — is shared and lives here and in ``_plans``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generator, Generic, Iterator, TypeVar

from langchain_core.messages import BaseMessage

from interstate.client._extensions import batch_call, chain_call, get_call, list_call, refs_call

from ._codec import (BOOK, Lookup, decode_value, encode_checkpoint_id, ref_name, unpack_names,
                     unpack_uuid, unpacks)
from ._messages import ai_message_from_steps, chain_hash, fresh_message, step_count, steps_to_message
from ._skeleton import expand_skeleton

# -- operations ---------------------------------------------------------------------------


@dataclass
class Get:
    """One interaction with input and metadata; the result is ``Stored`` or None (missing)."""

    interaction_id: str


@dataclass
class Chain:
    """The chain from the root down to ``interaction_id``; a list of ``Stored`` ([] if missing)."""

    interaction_id: str


@dataclass
class Refs:
    """Refs by name or prefix (every page); a list of ``RefInfo``."""

    names: list[str] = field(default_factory=list)
    prefix: str | None = None
    #: True: each ref's target; "chain": the target and its ancestors (``RefInfo.chain``).
    resolve: bool | str = False


@dataclass
class List:
    """Every interaction matching labels / metadata / parent / root (every page): ``Stored``s."""

    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    include_input: bool = True
    #: One parent, or several (children of any of them).
    previous_interaction_id: str | list[str] | None = None
    root_interaction_id: str | None = None


@dataclass
class Batch:
    """``client.interstate.batch(operations)``; the list of results."""

    operations: list[dict[str, Any]]


@dataclass
class Emit:
    """A value ``list`` yields to its caller."""

    value: Any


Plan = Generator[Any, Any, Any]

# -- the requests behind the operations (raw JSON: the checkpointer needs wire dicts, and
# validating every interaction into pydantic models first costs more than the read itself) --

#: How many items one List / Refs page asks for.
PAGE_SIZE = 1000


def page_call(op: "List | Refs", token: str | None) -> tuple[Any, str]:
    """The request for one page of a ``List`` / ``Refs`` (``_send`` arguments)."""
    if isinstance(op, Refs):
        return refs_call(names=op.names, prefix=op.prefix, resolve=op.resolve,
                         page_size=PAGE_SIZE, page_token=token), "refs"  # fmt: skip
    return list_call(labels=op.labels, metadata=op.metadata, include_input=op.include_input,
                     previous_interaction_id=op.previous_interaction_id,
                     root_interaction_id=op.root_interaction_id, page_size=PAGE_SIZE,
                     page_token=token), "list"  # fmt: skip


def parse_page(op: "List | Refs", data: dict[str, Any]) -> tuple[list[Any], str | None]:
    """A page's items (``Stored`` / ``RefInfo``) and the next page's token."""
    if isinstance(op, Refs):
        return [RefInfo.of_wire(r) for r in data.get("refs") or []], data.get("next_page_token")
    return [Stored.of_wire(i) for i in data.get("interactions") or []], data.get("next_page_token")


def single_call(op: "Get | Chain | Batch") -> tuple[Any, str]:
    if isinstance(op, Get):
        return get_call(op.interaction_id), "get"
    if isinstance(op, Chain):
        return chain_call(op.interaction_id), "chain"
    return batch_call(op.operations), "batch"


def parse_single(op: "Get | Chain | Batch", data: Any) -> Any:
    if isinstance(op, Get):
        return Stored.of_wire(data)
    if isinstance(op, Chain):
        return [Stored.of_wire(i) for i in data["interactions"]]
    return data["results"]


def missing(op: Any) -> Any:
    """What a ``Get`` / ``Chain`` of an interaction that is not there returns."""
    return None if isinstance(op, Get) else []

# -- what comes back ------------------------------------------------------------------------


def _config(thread_id: str, ns: str, checkpoint_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                             "checkpoint_id": checkpoint_id}}  # fmt: skip


def scope(config: dict[str, Any]) -> tuple[str, str]:
    conf = config["configurable"]
    return str(conf["thread_id"]), conf.get("checkpoint_ns") or ""



@dataclass
class Stored:
    """An interaction as the checkpointer needs it (wire dicts, not models)."""

    id: str
    parent: str | None
    input: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    labels: dict[str, str]
    metadata: dict[str, Any]
    root: str | None = None

    @classmethod
    def of_wire(cls, data: dict[str, Any]) -> "Stored":
        """From an extension route's JSON."""
        info = data.get("interstate") or {}
        given = data.get("input")
        return cls(
            id=data["id"],
            parent=data.get("previous_interaction_id"),
            input=given if isinstance(given, list) else [],
            steps=data.get("steps") or [],
            labels=dict(data.get("labels") or {}),
            metadata=dict(info.get("metadata") or {}),
            root=info.get("root_interaction_id"),
        )

    @property
    def book(self) -> dict[str, Any]:
        return self.metadata.get(BOOK) or {}

    @property
    def is_checkpoint(self) -> bool:
        return BOOK in self.metadata

    @property
    def hidden(self) -> bool:
        return bool(self.book.get("h"))


@dataclass
class Namespace:
    """One namespace of one thread: how its checkpoints are named, and its head ref."""

    thread_id: str
    ns: str
    #: Appended to the interaction ids of this namespace (set by copy_thread).
    suffix: str = ""

    @property
    def ref(self) -> str:
        return ref_name(self.thread_id, self.ns)

    def iid(self, checkpoint_id: str) -> str:
        return encode_checkpoint_id(checkpoint_id, self.thread_id, self.ns) + self.suffix

    def checkpoint_id(self, stored: Stored) -> str:
        book = stored.book
        if "i" in book:
            return book["i"]
        found = self._decode(stored.id)
        if found is None:
            raise ValueError(f"{stored.id!r} is not a checkpoint of {self.thread_id!r}/{self.ns!r}")
        return found

    def parent_id(self, stored: Stored) -> str | None:
        """The parent checkpoint's id (kept in the record when ``previous_interaction_id`` does
        not say it)."""
        book = stored.book
        if "p" in book:
            return book["p"]
        return self._decode(stored.parent) if stored.parent else None

    def parent_iid(self, stored: Stored) -> str | None:
        if "p" not in stored.book:  # the parent is the previous interaction (a packed uuid)
            parent = stored.parent
            if not parent or parent.startswith("=") or not self._decodes(parent):
                return None
            return parent
        parent = self.parent_id(stored)
        return self.iid(parent) if parent else None

    def _own(self, iid: str) -> str | None:
        """``iid`` without this namespace's suffix, or None if it lacks it."""
        if not self.suffix:
            return iid
        return iid[: -len(self.suffix)] if iid.endswith(self.suffix) else None

    def _decodes(self, iid: str) -> bool:
        """Whether ``_decode(iid)`` is not None (without decoding)."""
        own = self._own(iid)
        return own is not None and len(own) == 22 and unpacks(own)

    def _decode(self, iid: str) -> str | None:
        own = self._own(iid)
        return unpack_uuid(own) if own is not None and len(own) == 22 else None

    @classmethod
    def of_ref(cls, ref: "RefInfo") -> "Namespace":
        return cls(ref.metadata["thread"], ref.metadata.get("ns", ""), ref.metadata.get("x", ""))


@dataclass
class RefInfo:
    name: str
    interaction_id: str
    order_key: str | None
    metadata: dict[str, Any]
    interaction: Stored | None
    #: The live target and its live ancestors, root first (read with ``resolve="chain"``).
    chain: list[Stored] = field(default_factory=list)

    @classmethod
    def of_wire(cls, data: dict[str, Any]) -> "RefInfo":
        target = data.get("interaction")
        chain = [Stored.of_wire(a) for a in data.get("chain") or []]
        head = Stored.of_wire(target) if target else None
        if chain and chain[-1].id == data["interaction_id"]:
            head = chain[-1]
        return cls(data["name"], data["interaction_id"], data.get("order_key"),
                   dict(data.get("metadata") or {}), head, chain)  # fmt: skip


@dataclass(frozen=True)
class Blob:
    """A non-message channel value as stored, with what resolves its message references."""

    encoded: Any
    lookup: Any = None


@dataclass
class State:
    """A checkpoint as rebuilt from its interaction and its ancestors (immutable, cached).

    ``stored`` are the messages this checkpoint stores as steps (its own input, or steps of the
    model turns it continues); values refer to them by index. ``values`` maps a channel to a
    tuple of messages (message channels) or a ``Blob`` (other channels, decoded afresh on
    every read). ``keep[ch]`` is how many messages of ``ch`` came from the parent.
    ``metadata`` is the JSON part of LangGraph's metadata, ``md`` the encoded rest.
    """

    interaction_id: str
    checkpoint_id: str
    parent_id: str | None
    skeleton: dict[str, Any]
    metadata: dict[str, Any]
    md: dict[str, Any]
    stored: tuple[BaseMessage, ...]
    values: dict[str, Any]
    keep: dict[str, int]
    hashes: dict[str, bytes]

    @property
    def versions(self) -> dict[str, Any]:
        return self.skeleton["channel_versions"]

    def messages(self, channel: str) -> tuple[BaseMessage, ...] | None:
        value = self.values.get(channel)
        return value if type(value) is tuple else None


K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)


_gc_pauses = 0
_gc_lock = threading.Lock()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection within the block (nested and across threads: the
    collector is enabled again when the last block ends, if it was enabled before the first).

    Rebuilding a long thread allocates thousands of messages (none in reference cycles), and
    each few hundred allocations the collector walks the young objects, and now and then the
    whole heap: a quarter of a cold read's time, for nothing to collect. The blocks hold no I/O.
    """
    global _gc_pauses
    with _gc_lock:
        _gc_pauses += 1
        if _gc_pauses == 1:
            paused_gc.was_enabled = gc.isenabled()  # type: ignore[attr-defined]
            gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and paused_gc.was_enabled:  # type: ignore[attr-defined]
                gc.enable()


def is_message_list(value: Any) -> bool:
    """A non-empty list of messages (checked per class: a put checks whole conversations)."""
    return type(value) is list and bool(value) and all(
        issubclass(cls, BaseMessage) for cls in set(map(type, value))
    )


def stored_messages(stored: Stored, turns: dict[str, Stored], serde: Any) -> list[BaseMessage]:
    """The messages a checkpoint interaction stores, from its side records: each takes the next
    steps of the interaction's own input, or (``"g"``) steps of a model turn it continues —
    ``[turn]`` its whole output (an AI message), ``[turn, start, count]`` part of its input."""
    out: list[BaseMessage] = []
    pos = 0
    for side in stored.book.get("s") or []:
        source = side.get("g")
        if source is None:
            count = step_count(side)
            out.append(steps_to_message(stored.input[pos : pos + count], side, serde))
            pos += count
            continue
        turn = turns.get(source[0])
        if turn is None:
            raise LookupError(f"model turn {source[0]!r} that checkpoint {stored.id!r} continues is gone")
        if len(source) == 1:
            out.append(ai_message_from_steps(turn.steps, side))
        else:
            out.append(steps_to_message(turn.input[source[1] : source[1] + source[2]], side, serde))
    return out


def resolver(state_stored: tuple[BaseMessage, ...], parent_stored: tuple[BaseMessage, ...],
             holders: Any = None, values: dict[str, Any] | None = None) -> Lookup:  # fmt: skip
    """Resolve message references of values stored with a checkpoint (see ``_codec``):
    ``values`` are the checkpoint's channel values (for channel ranges)."""

    def lookup(ref: Any) -> BaseMessage:
        if type(ref) is int:
            return state_stored[ref] if ref >= 0 else parent_stored[-ref - 1]
        if holders is None:
            raise LookupError(f"message reference {ref!r} needs the checkpoint holding it")
        return holders(ref)

    def channel(name: str) -> tuple[BaseMessage, ...]:
        value = (values or {}).get(name)
        if type(value) is not tuple:
            raise LookupError(f"channel range of {name!r} needs that message channel")
        return value

    lookup.channel = channel  # type: ignore[attr-defined]
    return lookup


def message_channels(values: dict[str, Any]) -> dict[str, tuple[BaseMessage, ...]]:
    return {k: v for k, v in values.items() if type(v) is tuple}


def unpack_spec(spec: Any) -> dict[str, Any]:
    """A message channel spec: ``{"n": refs, "k": keep?}``, stored as an int (one reference) or
    a list (references) when ``keep`` is the default (all of the parent's messages)."""
    if type(spec) is int:
        return {"n": [spec]}
    if type(spec) is list:
        return {"n": spec}
    return spec


def pack_spec(refs: list[Any], keep: int | None) -> Any:
    if keep is not None:
        return {"n": refs, "k": keep}
    return refs[0] if len(refs) == 1 else refs


class Rebuild:
    """Checkpoint states rebuilt from their interactions, oldest first, each from the one
    before: ``step`` applies the next checkpoint of a chain.

    Message channels are kept as running lists, extended and cut in place, so rebuilding a
    chain is linear in its length; a ``State`` (tuples: a copy of every message channel) is
    made only for the steps that ask for one — a read of the head asks for the head alone.
    """

    def __init__(self, parent: State | None, turns: dict[str, Stored], serde: Any) -> None:
        self.turns = turns
        self.serde = serde
        self.skeleton: dict[str, Any] | None = parent.skeleton if parent is not None else None
        #: The messages the last checkpoint stores (its children's negative references).
        self.stored: tuple[BaseMessage, ...] = parent.stored if parent is not None else ()
        self.values: dict[str, Any] = (
            {k: list(v) if type(v) is tuple else v for k, v in parent.values.items()}
            if parent is not None else {}
        )  # fmt: skip
        self.hashes: dict[str, bytes] = dict(parent.hashes) if parent is not None else {}

    def step(self, stored: Stored, ns: Namespace, snapshot: bool) -> State | None:
        """Apply checkpoint ``stored``; its ``State`` if ``snapshot``."""
        book = stored.book
        parent = self.skeleton
        skeleton = expand_skeleton(book, parent, with_ts=snapshot)
        versions = skeleton["channel_versions"]
        before = parent["channel_versions"] if parent is not None else {}
        own_messages = tuple(stored_messages(stored, self.turns, self.serde))
        #: The checkpoint's channel values as tuples, for channel ranges in its blobs (filled
        #: below when a snapshot or such a blob needs them).
        frame: dict[str, Any] = {}
        lookup = resolver(own_messages, self.stored, values=frame)
        values: dict[str, Any] = {}
        keep: dict[str, int] = {}
        hashes: dict[str, bytes] = {}
        own: set[str] = set(skeleton["changed"])
        for channel, packed in unpack_names(book.get("m") or {}).items():
            spec = unpack_spec(packed)
            base = self.values.get(channel)
            base = base if type(base) is list else None
            kept = int(spec.get("k", len(base) if base is not None else 0))
            new = [lookup(ref) for ref in spec.get("n") or []]
            # Extended only from a parent's hash: a chain rebuilt cold computes none, and the
            # next put hashes the head's messages once (a read never pays for it).
            start = self.hashes.get(channel) if base is not None and kept == len(base) else None
            if start is not None:
                hashes[channel] = chain_hash(new, start)
            if base is None:
                base = []
            del base[kept:]
            keep[channel] = len(base)
            base += new
            values[channel] = base
            own.add(channel)
        ranges = False
        for channel, encoded in unpack_names(book.get("b") or {}).items():
            own.add(channel)
            if encoded != ["e"]:
                values[channel] = Blob(encoded, lookup)
                ranges = ranges or _has_range(encoded)
        for channel, value in self.values.items():
            if channel in own or channel not in versions or before.get(channel) != versions[channel]:
                continue
            values[channel] = value
            if channel in self.hashes:
                hashes[channel] = self.hashes[channel]
        self.values = _only(values, versions)
        self.hashes = hashes
        self.skeleton = skeleton
        self.stored = own_messages
        if snapshot or ranges:
            frame.update({k: tuple(v) if type(v) is list else v for k, v in self.values.items()})
        if not snapshot:
            return None
        return State(
            interaction_id=stored.id,
            checkpoint_id=ns.checkpoint_id(stored),
            parent_id=ns.parent_id(stored),
            skeleton=skeleton,
            metadata={k: v for k, v in stored.metadata.items() if k != BOOK},
            md=book.get("md") or {},
            stored=own_messages,
            values=frame,
            keep=keep,
            hashes=hashes,
        )


def _has_range(encoded: Any) -> bool:
    """Whether a stored value holds a channel range (``$X``: see ``_codec``)."""
    return type(encoded) is list and encoded[:1] == ["m"] and '"$X"' in json.dumps(encoded[1])


def decode_channel(value: Any, serde: Any) -> Any:
    """A channel value for LangGraph that the caller may mutate: a fresh list of fresh
    messages, a fresh decode otherwise (reads never hand out what the cache holds)."""
    if type(value) is tuple:
        return [fresh_message(m) for m in value]
    return decode_value(value.encoded, serde, value.lookup)


def _only(values: dict[str, Any], versions: dict[str, Any]) -> dict[str, Any]:
    """``values`` without channels the checkpoint does not have (in place: blobs resolve
    channel ranges through this very dict)."""
    for channel in [k for k in values if k not in versions]:
        del values[channel]
    return values
