"""The checkpointer's logic, shared by the sync and async savers: one plan per operation.

Plans are generators over the operations of ``_state`` (sans-I/O). Where things live:

* a checkpoint's interaction (never changed after it is recorded, so rows stay compact): the
  skeleton (a delta to the parent's), the messages it stores first, as steps, with their side
  records (``s``), each message channel as references (``m``), other channels it changed
  (``b``), the pending writes of its parent that it consumed (``pw``), and its namespace's
  head ref (``n``, without the ``langgraph/`` prefix);
* the namespace's head ref (``langgraph/<thread>/<ns>``): the latest checkpoint, the roots of
  the namespace's interaction trees (``r``, so listing a namespace is an index lookup per
  root), the chain hash of the head's messages (``h``, for ``ChatInteractions``), and the
  pending writes of checkpoints that have no child yet (``w``). The next checkpoint moves its
  parent's writes into its own record in the same batch, so a write costs one small ref update
  and a message in a write is stored once, as a step of the checkpoint that applies it.

Caches (by interaction id; a recorded checkpoint never changes): rebuilt ``State`` objects,
pending writes seen or written here, the messages of the latest child stored here, and each
namespace's naming (``Namespace``).
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import CheckpointTuple


from ._codec import (
    BOOK,
    REF_PREFIX,
    decode_value,
    join_metadata,
    metadata_of,
    holder_refs,
    parse_writes_key,
    ref_name,
    thread_ref_prefix,
    unpack_writes,
)
from ._maintenance import MaintenancePlans
from ._put import WritePlans
from ._skeleton import checkpoint_of
from ._state import (
    LRU,
    Batch,
    Chain,
    Emit,
    Get,
    List,
    Namespace,
    Plan,
    RefInfo,
    Refs,
    State,
    Stored,
    _config,
    Rebuild,
    scope,
    decode_channel,
    paused_gc,
    resolver,
)

#: The message channel whose conversation ChatInteractions can continue.
PRIMARY_CHANNEL = "messages"


class SaverCore(WritePlans, MaintenancePlans):
    def __init__(self, serde: Any, cache_size: int = 1024) -> None:
        self.serde = serde
        self.states: LRU[str, State] = LRU(cache_size)
        #: checkpoint interaction id -> its pending writes as last known here (head ref part)
        self.pending: LRU[str, dict[str, list[Any]]] = LRU(256)
        #: checkpoint interaction id -> (its latest child's id, {message id: (index, message)})
        self.children: LRU[str, tuple[str, dict[str, tuple[int, BaseMessage]]]] = LRU(256)
        self.turns: LRU[str, Stored] = LRU(256)
        self.namespaces: LRU[tuple[str, str], Namespace] = LRU(4096)
        #: (thread, ns) -> the head checkpoint's interaction id last read or written here
        self.heads: LRU[tuple[str, str], str] = LRU(4096)
        #: Guards ``pending``, ``claimed``, ``inflight`` and ``children`` between a put and the
        #: writes of its parent (held for no I/O: neither waits for the other's request).
        self.guard = threading.Lock()
        #: parents whose child's put is running: their late writes go to their own metadata
        self.claimed: LRU[str, bool] = LRU(256)
        #: checkpoint interaction id -> put_writes batches on their way to the head ref
        self.inflight: dict[str, int] = {}
        #: child interaction id -> its parent's checkpoint id, whose writes may reach the ref late
        self.stale: LRU[str, str] = LRU(256)
        #: checkpoint interaction id -> writes sent before its put to a thread the server did
        #: not have yet (its put records them); ``putting``: puts on their way, with the writes
        #: that arrived meanwhile (sent by that put right after itself). Under ``guard``.
        self.early: dict[str, dict[str, list[Any]]] = {}
        self.putting: dict[str, list[dict[str, list[Any]]]] = {}

    def with_serde(self, serde: Any) -> "SaverCore":
        """A core sharing these caches, encoding with another serializer."""
        clone = copy.copy(self)
        clone.serde = serde
        return clone

    # -- naming ---------------------------------------------------------------------------
    def _known_ns(self, ref: RefInfo) -> Namespace:
        ns = Namespace.of_ref(ref)
        self.namespaces.put((ns.thread_id, ns.ns), ns)
        return ns

    def namespace(self, thread_id: str, ns: str) -> Plan:
        """How ``(thread, ns)`` names its checkpoints (a ref read the first time)."""
        found = self.namespaces.get((thread_id, ns))
        if found is None:
            refs = yield Refs(names=[ref_name(thread_id, ns)])
            found = self._known_ns(refs[0]) if refs else Namespace(thread_id, ns)
            self.namespaces.put((thread_id, ns), found)
        return found

    def checkpoint_key(self, config: dict[str, Any], checkpoint_id: str | None = None) -> str:
        """The key of the checkpoint ``config`` names (or ``checkpoint_id``), process-wide."""
        thread_id, ns = scope(config)
        return f"{ref_name(thread_id, ns)}#{checkpoint_id or config['configurable'].get('checkpoint_id')}"

    # -- reading ------------------------------------------------------------------------
    def materialize(self, iid: str, ns: Namespace, known: dict[str, Stored],
                    local: dict[str, State] | None = None, ancestors: bool = True) -> Plan:  # fmt: skip
        """The state of checkpoint ``iid`` (None if it is not stored): walks up to a cached
        ancestor, fetching the chain in one call when ancestors are missing. The ancestors'
        states are kept too (``list`` reads them next), unless ``ancestors`` is False."""
        local = {} if local is None else local
        path: list[Stored] = []
        cursor: str | None = iid
        chained = False
        while cursor is not None and (local.get(cursor) or self.states.get(cursor)) is None:
            stored = known.get(cursor)
            if stored is None:
                if path and not chained:
                    chained = True
                    for item in (yield Chain(cursor)):
                        known.setdefault(item.id, item)
                    stored = known.get(cursor)
                elif not path:
                    stored = yield Get(cursor)
                    if stored is not None:
                        known[cursor] = stored
            if stored is None or not stored.is_checkpoint:
                break
            path.append(stored)
            cursor = ns.parent_iid(stored)
        if not path:
            return local.get(iid) or self.states.get(iid)
        turns: dict[str, Stored] = {}
        for stored in path:  # the model turns the checkpoints continue, first
            for side in stored.book.get("s") or []:
                source = side.get("g")
                turn_id = source[0] if source else None
                if turn_id is None or turn_id in turns:
                    continue
                turn = known.get(turn_id) or self.turns.get(turn_id)
                if turn is None:
                    turn = yield Get(turn_id)
                if turn is not None:
                    self.turns.put(turn_id, turn)
                    turns[turn_id] = turn
        # The walk stopped at a cached state (the oldest's parent), a missing one, or a root.
        parent = (local.get(cursor) or self.states.get(cursor)) if cursor is not None else None
        rebuild = Rebuild(parent, turns, self.serde)
        with paused_gc():
            for stored in reversed(path):
                state = rebuild.step(stored, ns, snapshot=ancestors or stored is path[0])
                if state is not None:
                    local[stored.id] = state
                    self.states.put(stored.id, state)
        return local.get(iid) or self.states.get(iid)

    def _holders(self, ns: Namespace, refs: set[str], known: dict[str, Stored],
                 local: dict[str, State]) -> Plan:  # fmt: skip
        """Resolve ``[c, i]`` references: message ``i`` stored by checkpoint interaction ``c``."""
        found: dict[str, State] = {}
        for iid in refs:
            state = yield from self.materialize(iid, ns, known, local)
            if state is not None:
                found[iid] = state

        def holder(ref: Any) -> BaseMessage:
            state = found.get(ref[0])
            if state is None:
                raise LookupError(f"checkpoint {ref[0]!r} holding a referenced message is gone")
            return state.stored[ref[1]]

        return holder

    def _children_of(self, stored: Stored, ns: Namespace) -> Plan:
        """Checkpoints whose parent is ``stored`` (directly, or through a model turn)."""
        found = yield from self._children_of_all([(stored, ns)])
        return found[stored.id]

    def _children_of_all(self, parents: list[tuple[Stored, Namespace]]) -> Plan:
        """``{parent id: its child checkpoints}``, in one list (and one more for the model
        turns between) per 100 parents."""
        out: dict[str, list[Stored]] = {p.id: [] for p, _ in parents}
        named = {p.id: (ns, ns.checkpoint_id(p)) for p, ns in parents}
        via: dict[str, str] = {}  # model turn id -> the checkpoint it continues

        def take(child: Stored, parent: str) -> None:
            ns, cid = named[parent]
            if child.is_checkpoint and ns.parent_id(child) == cid:
                out[parent].append(child)

        for ids in _chunks(list(out)):
            for child in (yield List(previous_interaction_id=ids)):
                if child.is_checkpoint:
                    take(child, child.parent or "")
                else:
                    self.turns.put(child.id, child)
                    via[child.id] = child.parent or ""
        for ids in _chunks(list(via)):
            for child in (yield List(previous_interaction_id=ids)):
                take(child, via[child.parent or ""])
        return out

    def pending_writes(self, stored: Stored, state: State, ns: Namespace, children: list[Stored],
                       ref_writes: dict[str, Any] | None, known: dict[str, Stored],
                       local: dict[str, State]) -> Plan:  # fmt: skip
        """A checkpoint's writes: those its children consumed, those patched on it later, and
        those still pending on the head ref; sorted by ``writes_sort_key``."""
        sources: list[tuple[dict[str, Any], Any]] = []
        for child in children:
            child_state = yield from self.materialize(child.id, ns, known, local)
            if child_state is not None and child.book.get("pw"):
                sources.append((unpack_writes(child.book["pw"]),
                                resolver(child_state.stored, state.stored, values=child_state.values)))  # fmt: skip
        for entries in (stored.book.get("w") or {}, ref_writes or {}):
            if entries:
                sources.append((entries, resolver(state.stored, (), values=state.values)))
        refs = {r for entries, _ in sources for e in entries.values() for r in holder_refs(e[1])}
        holder = (yield from self._holders(ns, refs, known, local)) if refs else None
        merged: dict[str, tuple[list[Any], Any]] = {}
        for entries, lookup in sources:
            for key, entry in entries.items():
                if key not in merged or parse_writes_key(key)[1] < 0:
                    merged[key] = (entry, lookup)
        out = []
        for key, (entry, lookup) in merged.items():
            task_id, idx = parse_writes_key(key)
            path = entry[2] if len(entry) > 2 else ""
            value = decode_value(entry[1], self.serde, _with_holders(lookup, holder))
            out.append(((path, task_id, idx), (task_id, entry[0], value)))
        out.sort(key=lambda item: item[0])
        return [w for _, w in out]

    def to_tuple(self, state: State, ns: Namespace, writes: list[Any]) -> CheckpointTuple:
        with paused_gc():
            values = {ch: decode_channel(v, self.serde) for ch, v in state.values.items()}
        metadata = metadata_of(state.metadata, state.md, self.serde)
        parent = _config(ns.thread_id, ns.ns, state.parent_id) if state.parent_id else None
        checkpoint = checkpoint_of(state.skeleton, state.checkpoint_id, values, self.serde)
        return CheckpointTuple(_config(ns.thread_id, ns.ns, state.checkpoint_id), checkpoint,  # type: ignore[arg-type]
                               metadata, parent, writes)  # type: ignore[arg-type]

    def _remember_pending(self, iid: str, ref_writes: dict[str, Any] | None, state: State) -> None:
        """Keep a checkpoint's pending writes (decoded) so that its child can consume them."""
        decoded: dict[str, list[Any]] = {}
        lookup = resolver(state.stored, (), values=state.values)
        try:
            for key, entry in (ref_writes or {}).items():
                decoded[key] = [entry[0], decode_value(entry[1], self.serde, lookup), *entry[2:]]
        except LookupError:  # references a child: this checkpoint's writes were consumed
            return
        self.pending.put(iid, decoded)

    def get_tuple(self, config: dict[str, Any]) -> Plan:
        thread_id, ns_name = scope(config)
        checkpoint_id = config["configurable"].get("checkpoint_id")
        # The head's ancestors come along unless its parent's state is likely cached here
        # (this process wrote or read the thread's head last): a cold read is one request.
        last = self.heads.get((thread_id, ns_name))
        warm = last is not None and self.states.get(last) is not None
        refs = yield Refs(names=[ref_name(thread_id, ns_name)],
                          resolve=True if warm or checkpoint_id else "chain")  # fmt: skip
        if not refs:
            if self.namespaces.get((thread_id, ns_name)) is None:
                self.namespaces.put((thread_id, ns_name), Namespace(thread_id, ns_name))
            return None
        ref = refs[0]
        ns = self._known_ns(ref)
        head = ref.interaction
        children: list[Stored] = []
        if checkpoint_id:
            iid = ns.iid(checkpoint_id)
            stored = head if head is not None and head.id == iid else (yield Get(iid))
            if stored is not None and stored is not head:
                children = yield from self._children_of(stored, ns)
        else:
            stored = head
            if stored is None or stored.hidden:
                stored = yield from self._repair_head(ns)
        if stored is None or not stored.is_checkpoint or stored.hidden:
            return None
        cid = ns.checkpoint_id(stored)
        ref_writes = (ref.metadata.get("w") or {}).get(cid)
        known: dict[str, Stored] = {a.id: a for a in ref.chain}
        known.update({stored.id: stored, **{c.id: c for c in children}})
        local: dict[str, State] = {}
        state = yield from self.materialize(stored.id, ns, known, local, ancestors=False)
        if state is None:
            return None
        if stored is head:
            self.heads.put((thread_id, ns_name), stored.id)
        writes = yield from self.pending_writes(stored, state, ns, children, ref_writes, known, local)
        self._remember_pending(stored.id, ref_writes, state)
        return self.to_tuple(state, ns, writes)

    def namespace_items(self, ref: RefInfo, include_input: bool = True) -> Plan:
        """Every interaction of a namespace's trees (checkpoints and the model turns between)."""
        items: dict[str, Stored] = {}
        for root in (ref.metadata.get("r") or {}):
            for stored in (yield List(root_interaction_id=root, include_input=include_input)):
                items[stored.id] = stored
        return list(items.values())

    def _repair_head(self, ns: Namespace) -> Plan:
        """The newest live checkpoint of a namespace; moves the head ref to it."""
        refs = yield Refs(names=[ns.ref])
        items = (yield from self.namespace_items(refs[0])) if refs else []
        live = [s for s in items if s.is_checkpoint and not s.hidden]
        if not live:
            yield Batch([{"delete_refs": {"names": [ns.ref]}}])
            return None
        head = max(live, key=ns.checkpoint_id)
        yield Batch([{"set_ref": {"name": ns.ref, "interaction_id": head.id,
                                  "order_key": ns.checkpoint_id(head), "force": True}}])  # fmt: skip
        return head

    def list(self, config: dict[str, Any] | None, *, filter: dict[str, Any] | None = None,
             before: dict[str, Any] | None = None, limit: int | None = None) -> Plan:  # fmt: skip
        before_id = (before or {}).get("configurable", {}).get("checkpoint_id")
        if config is not None and config["configurable"].get("checkpoint_id"):
            found = yield from self.get_tuple(config)
            if found is not None and _metadata_ok(found.metadata, filter) and not (
                before_id and found.config["configurable"]["checkpoint_id"] >= before_id
            ):
                yield Emit(found)
            return
        server_filter = _server_filter(filter)
        if server_filter is not None:
            yield from self._list_filtered(config, server_filter, filter, before_id, limit)
            return
        refs = yield from self._list_refs(config)
        candidates = []
        known: dict[str, Stored] = {}
        children: dict[str, list[Stored]] = {}
        for ref in refs:
            if "thread" not in ref.metadata:
                continue
            ns = self._known_ns(ref)
            pending = ref.metadata.get("w") or {}
            for stored in (yield from self.namespace_items(ref)):
                known[stored.id] = stored
                if not stored.is_checkpoint:
                    continue
                parent = ns.parent_iid(stored)
                if parent:
                    children.setdefault(parent, []).append(stored)
                cid = ns.checkpoint_id(stored)
                if stored.hidden or (before_id and cid >= before_id):
                    continue
                if filter and not _metadata_ok(join_metadata(stored.metadata, self.serde), filter):
                    continue
                candidates.append((cid, ns, stored, pending.get(cid)))
        candidates.sort(key=lambda item: item[0], reverse=True)
        if limit is not None:
            candidates = candidates[: max(limit, 0)]
        local: dict[str, State] = {}
        for _, ns, stored, ref_writes in candidates:
            state = yield from self.materialize(stored.id, ns, known, local)
            if state is None:
                continue
            writes = yield from self.pending_writes(
                stored, state, ns, children.get(stored.id, []), ref_writes, known, local
            )
            yield Emit(self.to_tuple(state, ns, writes))

    def _trees(self, refs: list[RefInfo]) -> dict[str, tuple[Namespace, RefInfo]]:
        """``{tree root: (namespace, head ref)}`` of the namespaces' refs."""
        trees: dict[str, tuple[Namespace, RefInfo]] = {}
        for ref in refs:
            if "thread" in ref.metadata:
                ns = self._known_ns(ref)
                trees.update({root: (ns, ref) for root in ref.metadata.get("r") or {}})
        return trees

    def _list_refs(self, config: dict[str, Any] | None, resolve: bool | str = False) -> Plan:
        """The head refs ``list`` covers: one namespace, one thread's, or every thread's."""
        if config is not None and "checkpoint_ns" in config["configurable"]:
            return (yield Refs(names=[ref_name(*scope(config))], resolve=resolve))
        prefix = thread_ref_prefix(str(config["configurable"]["thread_id"])) if config else REF_PREFIX
        return (yield Refs(prefix=prefix, resolve=resolve))

    def _list_filtered(self, config: dict[str, Any] | None, server_filter: dict[str, Any],
                       filter: dict[str, Any], before_id: str | None, limit: int | None) -> Plan:  # fmt: skip
        """``list`` with a metadata filter the server can apply: the server finds the matching
        checkpoints (metadata only, no input), and only the ``limit`` newest are rebuilt.

        Across threads, the matches name their head refs (``n``), which are all that is read
        of the refs; a match that does not (stored before), or whose ref does not list its tree
        (a copied thread's), makes it read every ref, as before. A thread's refs come with their
        chains unless its head is likely cached here (as in ``get_tuple``)."""
        if config is None:
            matches = yield List(metadata=server_filter, include_input=False)
            names = sorted({str(s.book.get("n")) for s in matches if s.is_checkpoint})
            refs = []
            if all(s.book.get("n") for s in matches if s.is_checkpoint):
                for chunk in _chunks(names):
                    refs += yield Refs(names=[REF_PREFIX + name for name in chunk])
            trees = self._trees(refs)
            if any(s.is_checkpoint and (s.root or s.id) not in trees for s in matches):
                trees = self._trees((yield from self._list_refs(None)))
        else:
            last = self.heads.get(scope(config))
            warm = last is not None and self.states.get(last) is not None
            trees = self._trees((yield from self._list_refs(config, False if warm else "chain")))
            matches = []
            for root in trees:
                matches += yield List(root_interaction_id=root, metadata=server_filter,
                                      include_input=False)  # fmt: skip
        candidates = []
        for stored in matches:
            tree = trees.get(stored.root or stored.id)
            if tree is None or not stored.is_checkpoint or stored.hidden:
                continue
            cid = tree[0].checkpoint_id(stored)
            if (before_id and cid >= before_id) or not _metadata_ok(
                join_metadata(stored.metadata, self.serde), filter
            ):
                continue
            candidates.append((cid, stored, *tree))
        candidates.sort(key=lambda item: item[0], reverse=True)
        chosen = candidates[: max(limit, 0)] if limit is not None else candidates
        known: dict[str, Stored] = {a.id: a for _, ref in trees.values() for a in ref.chain}
        cold = sorted({ref.name for _, stored, _, ref in chosen
                       if self.states.get(stored.id) is None and not ref.chain})  # fmt: skip
        if cold:  # their namespaces' chains, in one request: a checkpoint is mostly in its head's
            for ref in (yield Refs(names=cold, resolve="chain")):
                known.update({a.id: a for a in ref.chain})
        children = yield from self._children_of_all([(stored, ns) for _, stored, ns, _ in chosen])
        local: dict[str, State] = {}
        for cid, stored, ns, ref in chosen:
            state = yield from self.materialize(stored.id, ns, known, local)
            if state is None:
                continue
            ref_writes = (ref.metadata.get("w") or {}).get(cid)
            writes = yield from self.pending_writes(stored, state, ns, children[stored.id],
                                                    ref_writes, known, local)  # fmt: skip
            yield Emit(self.to_tuple(state, ns, writes))


def _chunks(ids: list[str]) -> list[list[str]]:
    """``ids`` in lists a list request takes (``previous_interaction_id`` at most 100 times)."""
    return [ids[i : i + 100] for i in range(0, len(ids), 100)]


def _server_filter(filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a ``list`` metadata filter the server applies (exact: JSON scalars on plain
    keys; results are checked here again), or None to filter every checkpoint here."""
    if not filter:
        return None
    if all(type(key) is str and key and ":" not in key and key != BOOK
           and type(value) in (str, int, float, bool) and value == value and _sent_as_is(value)
           for key, value in filter.items()):  # fmt: skip
        return dict(filter)
    return None


def _sent_as_is(value: Any) -> bool:
    """Whether the server reads the filter value back as given (a string that parses as JSON,
    "1" or "true", would be taken for that JSON value)."""
    if type(value) is not str:
        return True
    try:
        json.loads(value)
    except ValueError:
        return True
    return False


def _metadata_ok(metadata: dict[str, Any], filter: dict[str, Any] | None) -> bool:
    return not filter or all(k in metadata and metadata[k] == v for k, v in filter.items())


def _with_holders(lookup: Any, holder: Any) -> Any:
    if holder is None:
        return lookup

    def resolve(ref: Any) -> BaseMessage:
        return holder(ref) if type(ref) is list else lookup(ref)

    resolve.channel = lookup.channel  # type: ignore[attr-defined]
    return resolve
