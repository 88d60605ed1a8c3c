"""Storing checkpoints and writes (mixed into ``SaverCore``): where each message is stored,
and what one ``put`` or ``put_writes`` sends (one atomic batch)."""

from __future__ import annotations

import json
import operator
from typing import TYPE_CHECKING, Any, Sequence

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.base import WRITES_IDX_MAP, get_checkpoint_metadata

from interstate.errors import NotFoundError

from ._codec import (
    BOOK,
    LANGGRAPH_MODEL,
    REF_PREFIX,
    encode_value,
    pack_names,
    pack_uuid,
    pack_writes,
    parse_writes_key,
    split_metadata,
    writes_key,
)
from ._messages import chain_hash, fresh_message, message_to_steps
from ._registry import REGISTRY
from ._segments import find_segment
from ._skeleton import compress_skeleton, expand_skeleton
from ._state import (
    Batch,
    Blob,
    Namespace,
    Plan,
    State,
    _config,
    is_message_list,
    message_channels,
    pack_spec,
    resolver,
    scope,
)

if TYPE_CHECKING:
    from ._plans import SaverCore

#: The message channel whose conversation ChatInteractions can continue.
PRIMARY_CHANNEL = "messages"
_TYPE = operator.attrgetter("type")


def _common_prefix(base: Sequence[BaseMessage], value: Sequence[BaseMessage]) -> int:
    n = 0
    for a, b in zip(base, value):
        if a is not b and a != b:
            break
        n += 1
    return n


class Placement:
    """Where each message of a new checkpoint is stored: a message its parent stores is
    referenced there (``-i-1``); any other is stored by the new checkpoint once (``i``)."""

    def __init__(self, parent_stored: Sequence[BaseMessage]) -> None:
        self.parent: dict[str, tuple[int, BaseMessage]] = {}
        for index, message in enumerate(parent_stored):
            if message.id:
                self.parent.setdefault(message.id, (index, message))
        self.own: list[BaseMessage] = []
        self._own: dict[Any, int] = {}

    def __call__(self, message: BaseMessage) -> int:
        key = message.id or id(message)
        hit = self.parent.get(message.id or "")
        if hit is not None and (hit[1] is message or hit[1] == message):
            return -hit[0] - 1
        index = self._own.get(key)
        if index is not None and (self.own[index] is message or self.own[index] == message):
            return index
        self.own.append(message)
        self._own.setdefault(key, len(self.own) - 1)
        return len(self.own) - 1


class WritePlans:
    def put(self: "SaverCore", config: dict[str, Any], checkpoint: dict[str, Any], metadata: dict[str, Any],
            new_versions: dict[str, Any]) -> Plan:  # fmt: skip
        thread_id, ns_name = scope(config)
        ns = yield from self.namespace(thread_id, ns_name)
        cid, parent_cid = checkpoint["id"], config["configurable"].get("checkpoint_id")
        iid = ns.iid(cid)
        piid = ns.iid(parent_cid) if parent_cid else None
        parent = (yield from self.materialize(piid, ns, {}, ancestors=False)) if piid else None
        consumed, raced = self._claim(piid) if piid else (None, False)
        with self.guard:  # writes sent before this put, for a thread the server did not have
            early = self.early.pop(iid, None)
            self.putting[iid] = []
        record: _Record | None = None
        try:
            record = self._record(config, checkpoint, metadata, new_versions, ns, iid, piid,
                                  parent, consumed)  # fmt: skip
            if early:
                record.operations[0]["record"]["metadata"][BOOK]["w"] = early
            if record.hash is not None:
                REGISTRY.begin(record.hash)
            yield Batch(record.operations)
        except BaseException:
            if record is not None and record.hash is not None:
                REGISTRY.failed(record.hash)
            with self.guard:
                if piid:
                    self.claimed.pop(piid)
                for part in self.putting.pop(iid, []):  # nothing stored: keep them for the next try
                    early = _merge_writes(early or {}, part)
                if early:
                    self.early[iid] = early
            raise
        self.states.put(iid, record.state)
        self.heads.put((ns.thread_id, ns.ns), iid)
        with self.guard:
            if piid:
                if consumed:
                    self.pending.pop(piid)
                own = record.state.stored
                self.children.put(piid, (iid, {m.id: (i, m) for i, m in enumerate(own) if m.id}))
                self.claimed.pop(piid)
                if raced:
                    self.stale.put(iid, parent_cid)
            if self.pending.get(iid) is None:  # its writes may have come first (they race)
                self.pending.put(iid, {})
        if record.hash is not None:
            REGISTRY.stored(record.hash, thread_id, ns_name, iid)
        with self.guard:
            arrived = self.putting.pop(iid, [])
        if arrived:  # writes that found no thread while this put was on its way
            merged: dict[str, Any] = {}
            for part in arrived:
                merged = _merge_writes(merged, part)
            yield Batch(_writes_patches(iid, merged))
        return _config(thread_id, ns_name, cid)

    def _claim(self: "SaverCore", piid: str) -> tuple[dict[str, list[Any]] | None, bool]:
        """The parent's pending writes for its new child to take over, and whether some of them
        are still on their way to the head ref (see ``put_writes``). From now until the child is
        stored, writes to the parent go to the parent itself, so none is left behind."""
        with self.guard:
            self.claimed.put(piid, True)
            return self.pending.get(piid), self.inflight.get(piid, 0) > 0

    def _record(self: "SaverCore", config: dict[str, Any], checkpoint: dict[str, Any],
                metadata: dict[str, Any], new_versions: dict[str, Any], ns: Namespace, iid: str,
                piid: str | None, parent: State | None,
                consumed: dict[str, list[Any]] | None) -> "_Record":  # fmt: skip
        """The batch that stores a checkpoint (taking over ``consumed``, its parent's pending
        writes), and the state it will have."""
        place = Placement(parent.stored if parent is not None else ())
        skeleton = compress_skeleton(checkpoint, parent.skeleton if parent is not None else None,
                                     self.serde)  # fmt: skip
        expanded = expand_skeleton(skeleton, parent.skeleton if parent is not None else None)
        changed = set(expanded["changed"])
        values, versions = checkpoint["channel_values"], checkpoint["channel_versions"]
        specs: dict[str, Any] = {}
        blobs: dict[str, Any] = {}
        state_values: dict[str, Any] = {}
        keep: dict[str, int] = {}
        hashes: dict[str, bytes] = {}
        new: dict[str, list[BaseMessage]] = {}
        placed: dict[str, list[int]] = {}
        for channel, version in versions.items():
            if channel not in changed and channel not in new_versions and parent is not None \
                    and parent.versions.get(channel) == version:  # fmt: skip
                if channel in parent.values:  # unchanged: the parent's value
                    state_values[channel] = parent.values[channel]
                    if channel in parent.hashes:
                        hashes[channel] = parent.hashes[channel]
                continue
            if channel not in values:
                if channel not in changed:
                    blobs[channel] = ["e"]
                continue
            value = values[channel]
            if is_message_list(value):
                base = parent.messages(channel) if parent is not None else None
                kept = _common_prefix(base, value) if base else 0
                new[channel] = list(value[kept:])
                keep[channel] = kept
                placed[channel] = [place(m) for m in new[channel]]
                specs[channel] = pack_spec(placed[channel], None if kept == len(base or ()) else kept)
                state_values[channel] = tuple(value)  # for encoding; snapshots replace it below
                start = parent.hashes.get(channel) if base and kept == len(base) else None
                hashes[channel] = chain_hash(new[channel], start if start is not None
                                             else chain_hash(value[:kept]))  # fmt: skip
        channels = message_channels(state_values)
        for channel in versions:
            if channel in values and channel not in specs and channel not in state_values:
                blobs[channel] = encode_value(values[channel], self.serde, place, channels)
        pw = {key: [e[0], encode_value(e[1], self.serde, place, channels), *e[2:]]
              for key, e in (consumed or {}).items()}  # fmt: skip
        segment = None
        if PRIMARY_CHANNEL in new and parent is not None and keep[PRIMARY_CHANNEL] == len(
            parent.messages(PRIMARY_CHANNEL) or ()
        ):
            segment = find_segment(new[PRIMARY_CHANNEL], piid,
                                   parent.hashes.get(PRIMARY_CHANNEL), self.serde)  # fmt: skip
        sources = segment.sources if segment is not None else {}
        steps: list[dict[str, Any]] = []
        sides: list[dict[str, Any]] = []
        for message in place.own:
            message_steps, side = message_to_steps(message, self.serde)
            source = sources.get(id(message))
            if source is not None:
                side = {k: v for k, v in side.items() if k != "c"} | {"g": source}
            else:
                steps += message_steps
            sides.append(side)
        book: dict[str, Any] = dict(skeleton)
        book["n"] = ns.ref[len(REF_PREFIX):]  # its namespace's head ref: a global list needs no other
        previous = segment.turns[-1] if segment is not None else (piid if parent is not None else None)
        parent_cid = config["configurable"].get("checkpoint_id")
        if parent_cid and (previous != piid or pack_uuid(parent_cid).startswith("=")):
            book["p"] = parent_cid
        if pack_uuid(checkpoint["id"]).startswith("="):
            book["i"] = checkpoint["id"]
        for name, part in (("s", sides), ("m", pack_names(specs)), ("b", pack_names(blobs)),
                           ("pw", pack_writes(pw) if pw else {})):  # fmt: skip
            if part:
                book[name] = part
        plain, other = split_metadata(get_checkpoint_metadata(config, metadata), self.serde)  # type: ignore[arg-type]
        if other:
            book["md"] = other
        record: dict[str, Any] = {"id": iid, "model": LANGGRAPH_MODEL,
                                  "metadata": {**plain, BOOK: book}}  # fmt: skip
        if steps:
            record["input"] = steps
        if previous:
            record["previous_interaction_id"] = previous
        primary = state_values.get(PRIMARY_CHANNEL)  # a tuple only when it holds messages
        head_hash = None
        if type(primary) is tuple and primary and not isinstance(primary[-1], AIMessage) \
                and "system" not in map(_TYPE, primary):  # fmt: skip
            head_hash = hashes[PRIMARY_CHANNEL]
        ref_meta: dict[str, Any] = {"thread": ns.thread_id, "ns": ns.ns, "h": head_hash.hex() if head_hash else None}
        if ns.suffix:
            ref_meta["x"] = ns.suffix
        if not previous:
            ref_meta["r"] = {iid: 1}
        stale = self.stale.get(piid) if piid else None
        if consumed or stale:
            # The parent's writes move into this record; writes to the grandparent that were
            # on their way when the parent was stored may have landed on the ref after it.
            ref_meta["w"] = {cid: None for cid in (parent_cid if consumed else None, stale) if cid}
        operations = [{"record": record}, {"set_ref": {
            "name": ns.ref, "interaction_id": iid, "order_key": checkpoint["id"],
            "metadata": ref_meta}}]  # fmt: skip
        # Snapshots: the caller may change its objects later (add_messages gives an input
        # message its id in place; a user edits a message), and neither this checkpoint's cached
        # state nor a child may take that for what this one stored.
        own = tuple(fresh_message(message) for message in place.own)
        parent_stored = parent.stored if parent is not None else ()
        for channel, refs in placed.items():
            kept = (parent.messages(channel) or ())[: keep[channel]] if parent is not None else ()
            state_values[channel] = kept + tuple(own[r] if r >= 0 else parent_stored[-r - 1] for r in refs)
        lookup = resolver(own, parent_stored, values=state_values)
        for channel, encoded in blobs.items():
            if encoded != ["e"]:
                state_values[channel] = Blob(_snapshot(encoded), lookup)
        state = State(
            interaction_id=iid, checkpoint_id=checkpoint["id"], parent_id=parent_cid,
            skeleton=expanded,
            metadata=plain, md=other, stored=own, values=state_values, keep=keep, hashes=hashes,
        )  # fmt: skip
        return _Record(operations, state, head_hash)

    def put_writes(self: "SaverCore", config: dict[str, Any], writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> Plan:  # fmt: skip
        """Writes of a checkpoint without a child go to the head ref (``w``), where its child's
        ``put`` takes them over; they are registered in ``pending`` before they are sent, so a
        child stored meanwhile takes them too and ``put`` never waits for ``put_writes``. Writes
        to a checkpoint whose child is stored (or being stored) go to its own metadata."""
        thread_id, ns_name = scope(config)
        cid = config["configurable"]["checkpoint_id"]
        ns = self.namespaces.get((thread_id, ns_name)) or Namespace(thread_id, ns_name)
        iid = ns.iid(cid)
        child = self.children.get(iid)
        state = self.states.get(iid)

        def place(message: BaseMessage) -> Any:
            if child is not None:
                hit = child[1].get(message.id or "")
                if hit is not None and (hit[1] is message or hit[1] == message):
                    return [child[0], hit[0]]
            for index, stored in enumerate(state.stored if state is not None else ()):
                if stored is message or (stored.id and stored.id == message.id and stored == message):
                    return index
            return None

        regular: dict[str, Any] = {}
        special: dict[str, Any] = {}
        decoded: dict[str, list[Any]] = {}
        for idx, (channel, value) in enumerate(writes):
            slot = WRITES_IDX_MAP.get(channel, idx)
            key = writes_key(task_id, slot)
            tail = [task_path] if task_path else []
            entry = [channel, encode_value(value, self.serde, place if child or state else None,
                                           message_channels(state.values) if state else None), *tail]
            (special if slot < 0 else regular)[key] = entry
            decoded[key] = [channel, value, *tail]
        if not decoded:
            return None
        with self.guard:
            late = self.children.get(iid) is not None or self.claimed.get(iid) is not None
            registered = None if late else self._register(iid, decoded)
        operations: list[dict[str, Any]] = []
        for part, keep_existing in ((regular, True), (special, False)):
            if not part:
                continue
            if late:
                operations.append({"patch_metadata": {
                    "id": iid, "patch": {BOOK: {"w": part}}, "keep_existing": keep_existing}})  # fmt: skip
            else:
                operations.append({"patch_ref": {
                    "name": ns.ref, "patch": {"w": {cid: part}}, "keep_existing": keep_existing}})  # fmt: skip
        try:
            yield Batch(operations)
        except NotFoundError:
            # The server has no checkpoint of this thread yet: writes may come before their
            # checkpoint (LangGraph runs put and put_writes side by side; a migration restores
            # writes first). Its put records them with it, or sends them right after itself.
            if registered is not None:
                self._unregister(iid, *registered)
            part = {**regular, **special}
            with self.guard:
                if iid in self.putting:
                    self.putting[iid].append(part)
                    return None
                if self.states.get(iid) is None:
                    self.early[iid] = _merge_writes(self.early.get(iid) or {}, part)
                    return None
            yield Batch(operations)  # its put finished meanwhile: the thread is there now
            return None
        except BaseException:
            if registered is not None:
                self._unregister(iid, *registered)
            raise
        if registered is not None:
            with self.guard:
                self._landed(iid)
        return None

    def _register(self: "SaverCore", iid: str, decoded: dict[str, list[Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Add writes on their way to the head ref to ``pending`` (under ``guard``): insert if
        absent per ``(task_id, idx)``, special channels replace. Returns what undoes it."""
        before = self.pending.get(iid) or {}
        known = _merge_writes(before, decoded)
        self.pending.put(iid, known)
        self.inflight[iid] = self.inflight.get(iid, 0) + 1
        return before, {key: known[key] for key in decoded}

    def _landed(self: "SaverCore", iid: str) -> None:
        left = self.inflight.pop(iid, 1) - 1
        if left:
            self.inflight[iid] = left

    def _unregister(self: "SaverCore", iid: str, before: dict[str, Any], mine: dict[str, Any]) -> None:
        """The writes did not reach the ref: take back those still as ``_register`` left them."""
        with self.guard:
            self._landed(iid)
            current = self.pending.get(iid)
            if current is None or self.claimed.get(iid) is not None:
                return
            restored = dict(current)
            for key, entry in mine.items():
                if restored.get(key) is entry:
                    if key in before:
                        restored[key] = before[key]
                    else:
                        del restored[key]
            self.pending.put(iid, restored)


def _merge_writes(into: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Writes as the server merges them: insert if absent per ``(task_id, idx)``, special
    channels (negative idx) replace."""
    out = dict(into)
    for key, entry in part.items():
        if parse_writes_key(key)[1] < 0 or key not in out:
            out[key] = entry
    return out


def _writes_patches(iid: str, writes: dict[str, Any]) -> list[dict[str, Any]]:
    """Operations adding ``writes`` to checkpoint ``iid``'s own record."""
    regular = {k: e for k, e in writes.items() if parse_writes_key(k)[1] >= 0}
    special = {k: e for k, e in writes.items() if parse_writes_key(k)[1] < 0}
    return [{"patch_metadata": {"id": iid, "patch": {BOOK: {"w": part}}, "keep_existing": keep}}
            for part, keep in ((regular, True), (special, False)) if part]  # fmt: skip


def _snapshot(encoded: Any) -> Any:
    """A stored value detached from the caller's objects (JSON values are stored as given)."""
    return json.loads(json.dumps(encoded)) if isinstance(encoded, (dict, list)) else encoded


class _Record:
    def __init__(self, operations: list[dict[str, Any]], state: State,
                 head_hash: bytes | None) -> None:  # fmt: skip
        self.operations, self.state, self.hash = operations, state, head_hash

