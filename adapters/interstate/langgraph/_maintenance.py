"""Plans that change whole threads: delete, delete runs, copy, prune (mixed into SaverCore).

Each ends in one atomic batch (two for ``delete_for_runs``). Whatever is deleted never leaves a
surviving checkpoint unable to rebuild its state or its writes: writes a deleted checkpoint had
consumed go back to its parent (inlined), checkpoints that survivors still build on are hidden
instead of deleted, and ``prune(keep_latest)`` stores each kept checkpoint whole (a new root).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Sequence

from ._codec import (
    BOOK,
    LANGGRAPH_MODEL,
    REF_PREFIX,
    decode_value,
    encode_value,
    holder_refs,
    pack_names,
    thread_key,
    thread_ref_prefix,
    unpack_writes,
)
from ._messages import message_to_steps
from ._skeleton import compress_skeleton
from ._state import (
    Batch,
    Get,
    List,
    Namespace,
    Plan,
    RefInfo,
    Refs,
    State,
    Stored,
    decode_channel,
    pack_spec,
    resolver,
)

if TYPE_CHECKING:
    from ._plans import SaverCore


def _delete_ops(ids: list[str]) -> list[dict[str, Any]]:
    return [{"delete": {"ids": ids}}] if ids else []


def _remap(node: Any, mapping: dict[str, str]) -> Any:
    """A stored value with ``[c, i]`` message references renamed by ``mapping``."""
    if type(node) is list:
        return [_remap(v, mapping) for v in node]
    if type(node) is dict:
        if len(node) == 1 and "$R" in node and type(node["$R"]) is list:
            c, i = node["$R"]
            return {"$R": [mapping.get(c, c), i]}
        return {k: _remap(v, mapping) for k, v in node.items()}
    return node


class MaintenancePlans:
    def thread_items(self: "SaverCore", thread_id: str, refs: list[RefInfo],
                     include_input: bool) -> Plan:  # fmt: skip
        """Every interaction of a thread: its namespaces' trees and its model turns."""
        items: dict[str, Stored] = {}
        for ref in refs:
            for stored in (yield from self.namespace_items(ref, include_input)):
                items[stored.id] = stored
        for stored in (yield List(labels={"lgt": thread_key(thread_id)}, include_input=include_input)):
            items[stored.id] = stored
        return list(items.values())

    def delete_thread(self: "SaverCore", thread_id: str) -> Plan:
        thread_id = str(thread_id)
        refs = yield Refs(prefix=thread_ref_prefix(thread_id))
        items = yield from self.thread_items(thread_id, refs, False)
        ids = [s.id for s in items]
        yield Batch(_delete_ops(ids) + [{"delete_refs": {"prefix": thread_ref_prefix(thread_id)}}])
        self._forget(ids)

    def _forget(self: "SaverCore", ids: Sequence[str]) -> None:
        for iid in ids:
            self.states.pop(iid)
            self.pending.pop(iid)
            self.children.pop(iid)

    def _inline(self: "SaverCore", entries: dict[str, Any], state: State | None,
                parent_stored: Sequence[Any], ns: Namespace, known: dict[str, Stored]) -> Plan:  # fmt: skip
        """Write entries with every message reference replaced by the message itself."""
        refs = {r for e in entries.values() for r in holder_refs(e[1])}
        holder = (yield from self._holders(ns, refs, known, {})) if refs else None
        lookup = resolver(state.stored if state is not None else (), parent_stored, holder,
                          values=state.values if state is not None else None)
        return {k: [e[0], encode_value(decode_value(e[1], self.serde, lookup), self.serde), *e[2:]]
                for k, e in entries.items()}  # fmt: skip

    def delete_for_runs(self: "SaverCore", run_ids: Sequence[str]) -> Plan:
        targets: dict[str, Stored] = {}
        for run_id in dict.fromkeys(run_ids):
            for stored in (yield List(metadata={"run_id": run_id}, include_input=True)):
                if stored.is_checkpoint and stored.metadata.get("run_id") == run_id:
                    targets[stored.id] = stored
        if not targets:
            return
        roots = {s.root for s in targets.values()}
        refs = [r for r in (yield Refs(prefix=REF_PREFIX))
                if "thread" in r.metadata and roots & set(r.metadata.get("r") or {})]  # fmt: skip
        known = dict(targets)
        operations: list[dict[str, Any]] = []
        gone: dict[str, set[str]] = {}
        for ref in refs:
            ns = self._known_ns(ref)
            for stored in [s for s in targets.values() if s.root in (ref.metadata.get("r") or {})]:
                gone.setdefault(ref.name, set()).add(ns.checkpoint_id(stored))
                # Writes of a surviving parent that this checkpoint consumed go back to it.
                parent_id = ns.parent_iid(stored)
                if not parent_id or parent_id in targets or not stored.book.get("pw"):
                    continue
                parent = yield from self.materialize(parent_id, ns, known, {})
                state = yield from self.materialize(stored.id, ns, known, {})
                if parent is None:
                    continue
                writes = yield from self._inline(unpack_writes(stored.book["pw"]), state,
                                                 parent.stored, ns, known)  # fmt: skip
                operations.append({"patch_metadata": {"id": parent_id, "keep_existing": True,
                                                      "patch": {BOOK: {"w": writes}},
                                                      "missing_ok": True}})  # fmt: skip
        operations.append({"delete": {"ids": list(targets), "keep_referenced": True}})
        kept = set((yield Batch(operations))[-1]["kept"])
        after: list[dict[str, Any]] = [
            {"patch_metadata": {"id": iid, "patch": {BOOK: {"h": 1, "w": None}}}} for iid in kept
        ]
        for ref in refs:
            ns = self._known_ns(ref)
            items = yield from self.namespace_items(ref, include_input=False)
            live = [s for s in items if s.is_checkpoint and not s.hidden and s.id not in kept]
            present = {s.root for s in items}
            patch = {"w": {cid: None for cid in gone.get(ref.name, ())},
                     "r": {root: None for root in (ref.metadata.get("r") or {}) if root not in present}}
            if live:
                head = max(live, key=ns.checkpoint_id)
                after.append({"set_ref": {"name": ref.name, "interaction_id": head.id,
                                          "order_key": ns.checkpoint_id(head), "force": True,
                                          "metadata": patch}})  # fmt: skip
            else:
                after.append({"delete_refs": {"names": [ref.name]}})
        yield Batch(after)
        self._forget(list(targets))

    def copy_thread(self: "SaverCore", source_thread_id: str, target_thread_id: str) -> Plan:
        source, target = str(source_thread_id), str(target_thread_id)
        refs = [r for r in (yield Refs(prefix=thread_ref_prefix(source))) if "thread" in r.metadata]
        if not refs:
            return
        items = yield from self.thread_items(source, refs, True)
        turns = {s.id: s for s in items if not s.is_checkpoint}
        operations: list[dict[str, Any]] = []
        for ref in refs:
            old = self._known_ns(ref)
            tag = hashlib.blake2b(f"{target}\x00{old.ns}".encode(), digest_size=4).hexdigest()[:5]
            new = Namespace(target, old.ns, "." + tag)
            checkpoints = [s for s in items if s.is_checkpoint and s.root in (ref.metadata.get("r") or {})]
            by_id = {s.id: s for s in checkpoints}
            mapping = {s.id: new.iid(old.checkpoint_id(s)) for s in checkpoints}
            roots: dict[str, int] = {}
            for stored in self._parents_first(checkpoints, by_id, old):
                record = yield from self._copied(stored, turns, old, by_id, mapping)
                if "previous_interaction_id" not in record:
                    roots[record["id"]] = 1
                operations.append({"record": record})
            pending = {cid: {k: [e[0], _remap(e[1], mapping), *e[2:]] for k, e in entries.items()}
                       for cid, entries in (ref.metadata.get("w") or {}).items()}  # fmt: skip
            operations.append({"set_ref": {
                "name": new.ref, "interaction_id": mapping.get(ref.interaction_id, ref.interaction_id),
                "order_key": ref.order_key, "force": True,
                "metadata": {**ref.metadata, "thread": target, "x": new.suffix, "r": roots,
                             "w": pending}}})  # fmt: skip
        yield Batch(operations)

    @staticmethod
    def _parents_first(checkpoints: list[Stored], by_id: dict[str, Stored],
                       ns: Namespace) -> list[Stored]:  # fmt: skip
        depth: dict[str, int] = {}
        for stored in checkpoints:
            path, cursor = [], stored
            while cursor.id not in depth:
                parent = by_id.get(ns.parent_iid(cursor) or "")
                if parent is None:
                    depth[cursor.id] = 0
                    break
                path.append(cursor)
                cursor = parent
            level = depth[cursor.id]
            for item in reversed(path):
                level += 1
                depth[item.id] = level
        return sorted(checkpoints, key=lambda s: depth[s.id])

    def _copied(self: "SaverCore", stored: Stored, turns: dict[str, Stored], ns: Namespace,
                by_id: dict[str, Stored], mapping: dict[str, str]) -> Plan:  # fmt: skip
        """``stored`` under the target thread's ids; the model turns it continues become its own
        steps (the copy must not depend on the source thread)."""
        book = dict(stored.book)
        steps: list[dict[str, Any]] = []
        sides: list[dict[str, Any]] = []
        pos = 0
        for side in book.get("s") or []:
            source = side.get("g")
            if source is None:
                count = int(side.get("c", 1))
                steps += stored.input[pos : pos + count]
                pos += count
                sides.append(side)
                continue
            turn = turns.get(source[0]) or (yield Get(source[0]))
            if turn is None:
                raise LookupError(f"model turn {source[0]!r} of checkpoint {stored.id!r} is gone")
            part = turn.steps if len(source) == 1 else turn.input[source[1] : source[1] + source[2]]
            steps += part
            side = {k: v for k, v in side.items() if k != "g"}
            if len(part) != 1:
                side["c"] = len(part)
            sides.append(side)
        if sides:
            book["s"] = sides
        parent = ns.parent_iid(stored)
        if "p" not in book and ns.parent_id(stored):
            book["p"] = ns.parent_id(stored)
        if "w" in book:
            book["w"] = {k: [e[0], _remap(e[1], mapping), *e[2:]] for k, e in book["w"].items()}
        record: dict[str, Any] = {"id": mapping[stored.id], "model": LANGGRAPH_MODEL,
                                  "metadata": {**stored.metadata, BOOK: book}}  # fmt: skip
        if steps:
            record["input"] = steps
        if parent in by_id:
            record["previous_interaction_id"] = mapping[parent]  # type: ignore[index]
        return record

    def prune(self: "SaverCore", thread_ids: Sequence[str], strategy: str = "keep_latest") -> Plan:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"Unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'")
        for thread_id in dict.fromkeys(str(t) for t in thread_ids):
            if strategy == "delete":
                yield from self.delete_thread(thread_id)
                continue
            refs = [r for r in (yield Refs(prefix=thread_ref_prefix(thread_id), resolve=True))
                    if "thread" in r.metadata]  # fmt: skip
            items = yield from self.thread_items(thread_id, refs, True)
            known = {s.id: s for s in items}
            operations: list[dict[str, Any]] = _delete_ops(list(known))
            for ref in refs:
                ns, head = self._known_ns(ref), ref.interaction
                if head is None or not head.is_checkpoint:
                    continue
                known.setdefault(head.id, head)
                state = yield from self.materialize(head.id, ns, known, {})
                if state is None:
                    continue
                record = yield from self._snapshot(head, state, ns, known)
                cid = state.checkpoint_id
                patch = {"w": {c: None for c in (ref.metadata.get("w") or {}) if c != cid},
                         "r": {**{r: None for r in (ref.metadata.get("r") or {})}, head.id: 1}}
                operations += [{"record": record}, {"set_ref": {
                    "name": ref.name, "interaction_id": head.id, "order_key": ref.order_key,
                    "force": True, "metadata": patch}}]  # fmt: skip
            if operations:
                yield Batch(operations)
            self._forget(list(known))

    def _snapshot(self: "SaverCore", head: Stored, state: State, ns: Namespace,
                  known: dict[str, Stored]) -> Plan:  # fmt: skip
        """``head`` stored whole: every value and message its own, no parent interaction."""
        from ._put import Placement

        place = Placement(())
        specs: dict[str, Any] = {}
        blobs: dict[str, Any] = {}
        for channel, value in state.values.items():
            if type(value) is tuple:
                specs[channel] = pack_spec([place(m) for m in value], None)
            else:
                blobs[channel] = encode_value(decode_channel(value, self.serde), self.serde, place)
        steps: list[dict[str, Any]] = []
        sides: list[dict[str, Any]] = []
        for message in place.own:
            message_steps, side = message_to_steps(message, self.serde)
            steps += message_steps
            sides.append(side)
        skeleton = {k: state.skeleton[k] for k in ("v", "ts", "channel_versions", "versions_seen",
                                                     "updated_channels")}  # fmt: skip
        book: dict[str, Any] = compress_skeleton(skeleton, None, self.serde)
        if state.skeleton["x"]:
            book["x"] = state.skeleton["x"]
        for key in ("i", "md", "h"):
            if key in head.book:
                book[key] = head.book[key]
        if state.parent_id:
            book["p"] = state.parent_id
        for name, part in (("s", sides), ("m", pack_names(specs)), ("b", pack_names(blobs))):
            if part:
                book[name] = part
        if head.book.get("w"):
            book["w"] = yield from self._inline(head.book["w"], state, (), ns, known)
        record = {"id": head.id, "model": LANGGRAPH_MODEL, "metadata": {**head.metadata, BOOK: book}}
        if steps:
            record["input"] = steps
        return record
