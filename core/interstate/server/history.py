"""What a model turn is shown of its chain, without reading the chain on every turn.

A model turn needs every input and output step of the live interactions above it, and its
parent's ``provider_state``. Reading them is a recursive walk of the whole chain, so a turn at
depth 1000 would cost a thousand records. ``HistoryCache`` keeps, per interaction this process
has read or seen finish, the ``ChainView`` its children are shown; a turn that finishes adds
its own (the parent's view plus its input and steps), so a conversation served by one process
never reads its chain again.

Validity: finished interactions never change their input, steps or parent; only deletes (a
record removed or tombstoned, an id recorded again after a delete) change what a chain shows.
Every delete bumps the generation of its tree (``store.generations``) in its own transaction,
in whichever process runs it, so a view is valid while its tree's generation is the one read
*before* the view's content was read; checking costs one point read per turn. Generations only
grow, so a view that cannot prove its generation is never wrongly valid, only wasted.

On a miss the cache walks up a few parents by id (interactions recorded without a model, e.g. a
tool result or another agent's message, sit between model turns) to a cached view or the root,
and only then reads the whole chain.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from interstate.server.store.base import InteractionRecord, Store

Step = dict[str, Any]

#: Bytes of history (as compact ASCII JSON, ``json_chars``) the cache holds at most; a view is charged its whole
#: history, so a prefix shared by several views counts once per view. The Python objects take a
#: few times as many bytes.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Parents read one by one, on a miss, before the whole chain is read instead.
MAX_WALK = 8


@dataclass(frozen=True)
class ChainView:
    """What a child of an interaction is shown of the chain down to it."""

    #: Every input and output step of the live chain, oldest first. Shared with the cache:
    #: read it, never modify it or its steps.
    history: tuple[Step, ...]
    #: The last live interaction's provider state (the parent's, unless it was deleted).
    provider_state: dict[str, Any] | None
    #: The tree and generation this view is valid at; None for one that must not be cached.
    root_id: str | None
    generation: int | None
    #: ``json_chars(history)``: what the view is charged, and a prompt-size hint for providers.
    size: int


def history_of(chain: list[InteractionRecord]) -> list[Step]:
    """Every input and output step of a chain, oldest first: what a model is shown."""
    return [step for record in chain for step in (*record.input, *record.steps)]


def json_chars(steps: list[Step] | tuple[Step, ...]) -> int:
    """``len(json.dumps(steps, separators=(",", ":")))``, 0 for no steps."""
    return len(json.dumps(steps, separators=(",", ":"))) if steps else 0


def joined_chars(first: int, second: int) -> int:
    """``json_chars(a + b)`` from ``json_chars(a)`` and ``json_chars(b)`` (one pair of brackets
    fewer, one comma more)."""
    return first + second - 1 if first and second else first or second


def _own(record: InteractionRecord) -> tuple[Step, ...]:
    return (*record.input, *record.steps)


class HistoryCache:
    """``(tenant, interaction id) -> ChainView`` of the interaction's children, least recently
    used first out once the views' ``size`` adds up to more than ``max_bytes``."""

    def __init__(self, store: Store, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.bytes = 0
        self._views: OrderedDict[tuple[str, str], ChainView] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    async def above(self, record: InteractionRecord) -> ChainView:
        """What ``record`` (a turn about to run) is shown of the chain above it."""
        if not record.parent_id:
            # A new tree: 0 is a lower bound of its generation (see the module docstring).
            return ChainView((), None, record.root_id, 0, 0)
        tenant, root_id = record.tenant, record.root_id
        generation = await self.store.chain_generation(tenant, root_id)
        if generation is None:
            return await self._read_chain(record.tenant, record.parent_id, None, None)
        view = self._valid(tenant, record.parent_id, root_id, generation)
        if view is None:
            view = await self._walk(tenant, record.parent_id, root_id, generation)
            self._put(tenant, record.parent_id, view)
        return view

    def remember(self, record: InteractionRecord, above: ChainView) -> None:
        """``record`` ran on ``above`` and is stored finished: keep what its children see."""
        if above.generation is None or above.root_id != record.root_id:
            return
        own = _own(record)
        view = ChainView(
            above.history + own, record.provider_state, above.root_id, above.generation,
            joined_chars(above.size, json_chars(own)),
        )  # fmt: skip
        self._put(record.tenant, record.id, view)

    def _valid(
        self, tenant: str, interaction_id: str, root_id: str, generation: int
    ) -> ChainView | None:
        view = self._views.get((tenant, interaction_id))
        if view is None or view.root_id != root_id or view.generation != generation:
            return None
        self._views.move_to_end((tenant, interaction_id))
        return view

    async def _walk(self, tenant: str, parent_id: str, root_id: str, generation: int) -> ChainView:
        """The view below ``parent_id`` from a few point reads up to a cached view or the root,
        else from the whole chain; valid at ``generation`` (read before anything here)."""
        walked: list[InteractionRecord] = []
        base: ChainView | None = None
        current: str | None = parent_id
        while current is not None and len(walked) < MAX_WALK:
            record = await self.store.get(tenant, current)
            if record is None or record.root_id != root_id:
                break  # deleted meanwhile (a tombstone): the whole chain says what remains
            walked.append(record)
            current = record.parent_id
            if current is None:
                base = ChainView((), None, root_id, generation, 0)
            else:
                base = self._valid(tenant, current, root_id, generation)
            if base is not None:
                break
        if base is None:
            return await self._read_chain(tenant, parent_id, root_id, generation)
        own = [step for record in reversed(walked) for step in _own(record)]
        return ChainView(
            base.history + tuple(own), walked[0].provider_state, root_id, generation,
            joined_chars(base.size, json_chars(own)),
        )  # fmt: skip

    async def _read_chain(
        self, tenant: str, parent_id: str, root_id: str | None, generation: int | None
    ) -> ChainView:
        chain = await self.store.chain(tenant, parent_id)
        live = [r for r in chain if not r.deleted]
        history = history_of(live)
        # Cached only if the parent is still the live record of the tree the generation was
        # read for (else it was deleted, or deleted and recorded again, meanwhile).
        parent_ok = bool(chain) and chain[-1].id == parent_id and not chain[-1].deleted
        cacheable = parent_ok and chain[-1].root_id == root_id
        return ChainView(
            tuple(history), live[-1].provider_state if live else None,
            root_id if cacheable else None, generation if cacheable else None,
            json_chars(history),
        )  # fmt: skip

    def _put(self, tenant: str, interaction_id: str, view: ChainView) -> None:
        if view.generation is None or view.size > self.max_bytes:
            return
        old = self._views.pop((tenant, interaction_id), None)
        if old is not None:
            self.bytes -= old.size
        self._views[(tenant, interaction_id)] = view
        self.bytes += view.size
        while self.bytes > self.max_bytes:
            _, evicted = self._views.popitem(last=False)
            self.bytes -= evicted.size
