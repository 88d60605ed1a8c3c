"""Runs model turns: history from the chain (``history``), provider output as SSE events, final
state stored.

Every stored turn — foreground or background — runs as a task owned by this runner and holds a
lease on its row, so a request that disconnects does not abandon it, and a process that dies
leaves a lease that expires (or an owner that is visibly dead) for another worker to pick up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator

from interstate.redact import redact
from interstate.server.agents import AgentContext, AgentRegistry, settled_status
from interstate.server.errors import ServiceError
from interstate.server.history import DEFAULT_MAX_BYTES, ChainView, HistoryCache
from interstate.server.providers.base import (
    CloseStep,
    Delta,
    Finish,
    ModelTurn,
    OpenStep,
    ProviderItem,
    ProviderRegistry,
)
from interstate.server.render import closing_events, event_id, interaction_summary
from interstate.server.store.base import InteractionRecord, Store, StoredEvent
from interstate.types.accumulate import TURN_RESTARTED, StepAccumulator

log = logging.getLogger("interstate.server")

UNFINISHED = frozenset({"queued", "in_progress"})
#: Events buffered before a write to the store even within one long step.
MAX_PENDING_EVENTS = 64


class EventHub:
    """Wakes in-process stream followers when an interaction has new events."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def waiter(self, interaction_id: str) -> asyncio.Event:
        return self._events.setdefault(interaction_id, asyncio.Event())

    def publish(self, interaction_id: str) -> None:
        event = self._events.pop(interaction_id, None)
        if event is not None:
            event.set()


class TurnEvents:
    """Numbers one turn's events and delivers them: at once to in-process followers (``live``)
    and to ``queue`` (unstored streams), and in batches to the store — at the end of each step,
    and the rest with the final status — so a streamed turn costs a few writes, not one per
    delta; except on a store that ``writes_each_event`` (PostgreSQL, whose readers on other
    servers are woken for each one). A crash loses nothing that matters: a resumed turn
    restarts its stream (``restart``)."""

    def __init__(
        self,
        store: Store,
        hub: EventHub,
        interaction_id: str,
        *,
        stored: bool,
        queue: asyncio.Queue[dict[str, Any]] | None,
    ) -> None:
        self.store, self.hub, self.interaction_id = store, hub, interaction_id
        self.stored, self.queue = stored, queue
        self.seq = 0
        self.live: list[StoredEvent] = []
        self._pending: list[StoredEvent] = []

    def _stamp(self, data: dict[str, Any]) -> StoredEvent:
        self.seq += 1
        return StoredEvent(self.seq, {**data, "event_id": event_id(self.interaction_id, self.seq)})

    def restart(self, after: int, attempt: int) -> StoredEvent:
        """Number this run's events after ``after`` and open them with a ``TURN_RESTARTED``
        event (returned: the caller stores it with the turn's new start)."""
        self.seq = after
        event = self._stamp({"event_type": TURN_RESTARTED, "interaction_id": self.interaction_id,
                             "attempt": attempt})  # fmt: skip
        self.live.append(event)
        return event

    async def emit(self, data: dict[str, Any]) -> None:
        event = self._stamp(data)
        if self.queue is not None:
            self.queue.put_nowait(event.data)
        if not self.stored:
            return
        self.live.append(event)
        self._pending.append(event)
        if (data["event_type"] == "step.stop" or self.store.writes_each_event
                or len(self._pending) >= MAX_PENDING_EVENTS):  # fmt: skip
            await self.store.append_events(self.interaction_id, self._pending)
            self._pending = []
        self.hub.publish(self.interaction_id)

    def close(self, closing: list[dict[str, Any]]) -> list[StoredEvent]:
        """Stamp and deliver the closing events; returns what the store still needs (written
        with the final status, in one transaction)."""
        stamped = [self._stamp(data) for data in closing]
        if self.queue is not None:
            for event in stamped:
                self.queue.put_nowait(event.data)
        unwritten, self._pending = self._pending + stamped, []
        return unwritten


class TurnOutcome:
    """The finished record and, if the provider failed, the error to report."""

    def __init__(self, record: InteractionRecord, error: ServiceError | None = None) -> None:
        self.record = record
        self.error = error


async def closing_after_stored(store: Store, record: InteractionRecord) -> list[StoredEvent]:
    """Closing events for a turn settled from outside its runner (cancelled while queued, given
    up after crashes), numbered after the events already stored; none if none were stored, since
    followers then synthesise the whole stream from the final record."""
    stored = await store.events_after(record.id, 0)
    if not stored:
        return []
    seq = stored[-1].seq
    return [
        StoredEvent(seq + i, {**data, "event_id": event_id(record.id, seq + i)})
        for i, data in enumerate(closing_events(record), start=1)
    ]


def started_before(record: InteractionRecord) -> bool:
    """Whether an earlier run of this turn started (and was interrupted): ``attempts`` counts
    claims, and a foreground turn ran before its first one."""
    return record.attempts > (1 if record.background else 0)


class TurnRunner:
    def __init__(
        self,
        store: Store,
        providers: ProviderRegistry,
        *,
        history_cache_bytes: int = DEFAULT_MAX_BYTES,
        agents: AgentRegistry | None = None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.agents = agents if agents is not None else AgentRegistry()
        #: What each turn is shown of its chain, kept across turns (``history``).
        self.history = HistoryCache(store, max_bytes=history_cache_bytes)
        self.hub = EventHub()
        #: Stored turns running in this process, by interaction id.
        self.tasks: dict[str, asyncio.Task[TurnOutcome]] = {}
        #: Every event so far of the stored turns running here, for in-process followers; the
        #: store receives them in batches (at each step's end, and with the final status).
        self.live: dict[str, list[StoredEvent]] = {}
        self._cancel_requested: set[str] = set()
        #: Turns past their provider, storing their final state: they are not cancelled any
        #: more (their status may already be committed, see ``cancel``).
        self._settling: set[str] = set()

    def start(self, record: InteractionRecord) -> asyncio.Task[TurnOutcome]:
        """Run a stored turn in its own task (it survives the request that started it)."""
        task = asyncio.get_running_loop().create_task(self.run(record, stored=True))
        self.tasks[record.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(record.id, None))
        return task

    async def cancel(self, interaction_id: str) -> bool:
        """Cancel a turn running here; False if it is not running in this process.

        A turn already storing its final state is waited for, not cancelled: its status may be
        committed while its task still awaits the database's answer, and the worker's
        reconciliation, seeing that status, asks to cancel it. Cancelling it then would end its
        task cancelled, and the request waiting for the turn with a ``CancelledError`` (a 500)."""
        task = self.tasks.get(interaction_id)
        if task is None:
            return False
        if interaction_id not in self._settling:
            self._cancel_requested.add(interaction_id)
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return True

    async def run(
        self,
        record: InteractionRecord,
        *,
        stored: bool,
        queue: asyncio.Queue[dict[str, Any]] | None = None,
    ) -> TurnOutcome:
        """Run one turn to its end; ``stored`` turns are persisted, ``queue`` gets every event."""
        events = TurnEvents(self.store, self.hub, record.id, stored=stored, queue=queue)
        if stored:
            if record.attempts and not await self._claimed(record, events):
                return TurnOutcome(record)  # cancelled or deleted before it started
            self.live[record.id] = events.live
        try:
            return await self._run(record, events)
        finally:
            self._settling.discard(record.id)
            if self.live.get(record.id) is events.live:
                del self.live[record.id]  # everything is in the store by now
                self.hub.publish(record.id)

    async def _claimed(self, record: InteractionRecord, events: TurnEvents) -> bool:
        """Start a turn a worker claimed (queued, or resumed after its server stopped); False
        if it was settled meanwhile.

        A resumed turn starts over, and its stream says so: its event ids continue past every
        id its earlier run may have shown (the stored ones, and up to ``MAX_PENDING_EVENTS``
        that readers saw live but the store never got), its first event is ``TURN_RESTARTED``
        (stored with the status, in one transaction), then the earlier run's events go. So a
        reader resuming with ``last_event_id`` from the earlier run gets the restart and the
        new run, never the new run's text spliced after the old one's."""
        stored = await self.store.events_after(record.id, 0)
        ran_before = stored or started_before(record)
        marker = None
        if ran_before:
            after = (stored[-1].seq if stored else 0) + MAX_PENDING_EVENTS
            marker = events.restart(after, record.attempts)
        started = await self.store.update_status(
            record.id, "in_progress", only_if=UNFINISHED, events=[marker] if marker else None
        )
        if started and marker is not None:
            await self.store.clear_events(record.id, before=marker.seq)
        return started

    async def _run(self, record: InteractionRecord, events: "TurnEvents") -> TurnOutcome:
        emit, stored = events.emit, events.stored
        record.status = "in_progress"
        accumulator, index = StepAccumulator(), -1
        finish, error = Finish(), None
        above: ChainView | None = None
        try:
            above = await self.history.above(record)
            items = self._items(record, above)
            await emit({"event_type": "interaction.created", "interaction": interaction_summary(record)})
            await emit(
                {"event_type": "interaction.status_update", "interaction_id": record.id,
                 "status": "in_progress"}
            )  # fmt: skip
            async for item in items:
                if isinstance(item, OpenStep):
                    index += 1
                    accumulator.start(index, item.step)
                    await emit({"event_type": "step.start", "index": index, "step": item.step})
                elif isinstance(item, Delta):
                    accumulator.delta(index, item.delta)
                    await emit({"event_type": "step.delta", "index": index, "delta": item.delta})
                elif isinstance(item, CloseStep):
                    accumulator.stop(index)
                    await emit({"event_type": "step.stop", "index": index})
                elif isinstance(item, Finish):
                    finish = item
            if record.agent is not None:
                record.status = finish.status or settled_status(accumulator.steps)
            else:
                calls = any(s.get("type") == "function_call" for s in accumulator.steps)
                record.status = finish.status or ("requires_action" if calls else "completed")
        except asyncio.CancelledError:
            if record.id not in self._cancel_requested:
                # Shutting down: hand the turn back (status unchanged, lease released).
                if stored:
                    await asyncio.shield(self._release(record.id))
                raise
            self._cancel_requested.discard(record.id)
            record.status = "cancelled"
        except ServiceError as exc:
            error = exc
            record.status = "failed"
            record.errors = [{"code": exc.code, "message": exc.message}]
        except Exception as exc:  # a provider bug must fail the turn, not leave it running
            log.exception("turn %s failed", record.id)
            what = f"The agent {record.agent!r}" if record.agent else "The model provider"
            record.status = "failed"
            record.errors = [{"code": "INTERNAL", "message": redact(f"{what} failed: {exc!r}")}]
        self._settling.add(record.id)  # no await since the provider ended: cancel() sees it
        record.steps, record.usage, record.updated = accumulator.steps, finish.usage, time.time()
        record.provider_state = finish.provider_state
        closing = events.close(closing_events(record))
        if stored and await asyncio.shield(self._finish(record, closing)) and above is not None:
            self.history.remember(record, above)
        return TurnOutcome(record, error)

    def _items(self, record: InteractionRecord, above: ChainView) -> AsyncIterator[ProviderItem]:
        """The turn's output items: from its agent (``agents``) or its model's provider."""
        if record.agent is not None:
            context = AgentContext(
                agent=record.agent,
                interaction_id=record.id,
                previous_interaction_id=record.parent_id,
                root_interaction_id=record.root_id,
                tenant=record.tenant,
                history=list(above.history),
                parent_state=above.provider_state,
                resumed=started_before(record),
                _clients=self.agents.client,
            )
            return self.agents.resolve(record.agent).run(record.input, context)
        turn = ModelTurn(
            interaction_id=record.id,
            model=record.model or "",
            history=list(above.history),
            input=record.input,
            system_instruction=record.config.get("system_instruction"),
            tools=record.config.get("tools"),
            generation_config=record.config.get("generation_config"),
            response_format=record.config.get("response_format"),
            depth=record.depth,
            parent_provider_state=above.provider_state,
            history_json_chars=above.size,
        )
        return self.providers.resolve(record.model or "").generate(turn)

    async def _finish(self, record: InteractionRecord, closing: list[StoredEvent]) -> bool:
        """Store the final state; False if the turn was settled (or deleted) from elsewhere
        meanwhile, so what is stored is not what this runner has."""
        changed = await self.store.update_status(
            record.id,
            record.status,
            only_if=UNFINISHED,
            steps=record.steps,
            usage=record.usage,
            errors=record.errors,
            provider_state=record.provider_state,
            release_lease=True,
            events=closing,
        )
        self.hub.publish(record.id)
        return changed

    async def _release(self, interaction_id: str) -> None:
        await self.store.update_status(
            interaction_id, "in_progress", only_if=UNFINISHED, release_lease=True
        )


