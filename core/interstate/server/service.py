"""The domain of the Interactions API, independent of HTTP: create, get, stream, cancel, delete.

Semantics (documented in docs/server.md):
* ``previous_interaction_id`` names any earlier stored interaction of the same tenant; the model
  sees the chain from the root to it, then this turn's input. Chains fork freely.
* ``store=false`` turns run but are never written; they cannot be fetched or used as a parent.
* Stored turns always run as tasks holding a lease (see ``runner``/``worker``), so neither a
  dropped request nor a crash leaves them in progress; ``background=true`` just returns at once.
* ``agent="NAME"`` runs an agent registered on this server (``agents``, docs/agents.md) in the
  same way as a model turn; an unknown name is a 404 before anything is written.
* ``cancel`` applies to queued and in-progress turns; anything else is a 400.
* ``delete`` removes one interaction; children keep working (their history skips it).
* Extension: with ``inherit_config`` (header ``x-interstate-inherit-config: true``) a turn takes
  the per-turn configuration it does not send (``INHERITED_CONFIG``) from its parent's echoed one.
* Extension: ``interstate_quote`` input blocks are resolved to text before anything is written
  (``quotes``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any, AsyncIterator

from pydantic import ValidationError

from interstate.server.agents import AgentSpecs, build_agents, check_agent_input
from interstate.server.errors import (
    failed_precondition,
    invalid_argument,
    not_found,
)
from interstate.server.history import DEFAULT_MAX_BYTES
from interstate.server.inputs import check_idempotency_key, integral_floats
from interstate.server.providers.base import ProviderRegistry
from interstate.server.quotes import has_quotes, resolve_quotes
from interstate.server.render import (
    ECHOED_CONFIG,
    TERMINAL_EVENTS,
    closing_events,
    event_id,
    interaction_body,
    parse_event_id,
    synthesized_events,
)
from interstate.server.runner import UNFINISHED, TurnRunner, closing_after_stored
from interstate.server.store.base import KIND_MODEL, InteractionRecord, Store
from interstate.server.strict import check_create_body
from interstate.server.worker import BackgroundWorker, new_owner_id
from interstate.types import CreateInteractionRequest

#: Per-turn fields a create with ``x-interstate-inherit-config: true`` takes from its parent
#: when the body does not send them (an interstate extension; Google re-sends them every turn).
INHERITED_CONFIG = ("system_instruction", "tools", "generation_config", "response_format")

#: How often a stream follower re-reads the store when nothing woke it (other processes).
FOLLOW_POLL_SECONDS = 0.25


def new_interaction_id() -> str:
    """``v1_`` + a time-ordered hex id, so ids sort by creation."""
    return f"v1_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def validation_message(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error["loc"]) or "body"
            parts.append(f"{where}: {error['msg']}")
        return "Invalid request: " + "; ".join(parts)
    return f"Invalid request: {exc}"


class InteractionService:
    def __init__(
        self,
        store: Store,
        providers: ProviderRegistry,
        *,
        lease_seconds: float = 15.0,
        max_concurrency: int = 16,
        max_attempts: int = 3,
        history_cache_bytes: int = DEFAULT_MAX_BYTES,
        lenient_requests: bool = False,
        agents: AgentSpecs = None,
    ) -> None:
        self.store = store
        #: The user's own agents (``agent="NAME"``), run beside the providers (``agents``).
        self.agents = build_agents(agents)
        self.agents.attach(self)
        #: Drop and log unknown request fields instead of refusing them (``strict``).
        self.lenient_requests = lenient_requests
        self.providers = providers
        self.runner = TurnRunner(
            store, providers, history_cache_bytes=history_cache_bytes, agents=self.agents
        )
        self.owner = new_owner_id()
        self.worker = BackgroundWorker(
            self.runner,
            owner=self.owner,
            lease_seconds=lease_seconds,
            max_concurrency=max_concurrency,
            max_attempts=max_attempts,
        )

    @classmethod
    async def open(
        cls, url: str, providers: ProviderRegistry, **options: Any
    ) -> "InteractionService":
        """Open the store at ``url`` and start a service on it (call inside its event loop)."""
        from interstate.server.store import open_store

        options["agents"] = build_agents(options.get("agents"))  # a bad entry opens nothing
        service = cls(await open_store(url), providers, **options)
        await service.start()
        return service

    async def start(self) -> None:
        await self.store.listen(self.runner.hub.publish)  # other processes' events wake followers
        self.worker.start()

    async def close(self) -> None:
        await self.worker.stop()
        await self.providers.aclose()
        await self.store.close()

    # -- create -------------------------------------------------------------------------
    def parse_create(self, body: Any) -> CreateInteractionRequest:
        if not isinstance(body, dict):
            raise invalid_argument("The request body must be a JSON object")
        try:
            request = CreateInteractionRequest.model_validate(integral_floats(body), strict=True)
        except (ValidationError, ValueError) as exc:
            raise invalid_argument(validation_message(exc)) from None
        if request.agent is not None:
            self.agents.resolve(request.agent)  # 404 naming it, before anything is written
            if request.agent_config is not None:
                raise invalid_argument(
                    "agent_config configures Google's own agents; the agents of this server "
                    "take none (their code is their configuration): drop agent_config"
                )
        if request.continuation_token:
            raise invalid_argument(
                "continuation_token is not supported: interstate servers never return "
                "requires_continuation, so there is nothing to continue"
            )
        if request.store is False and request.agent is not None:
            raise invalid_argument(
                "store=false is not available for agent turns: an agent's framework state "
                "lives in the store with its turns; drop store=false"
            )
        if request.store is False and request.background:
            raise invalid_argument("background=true needs a stored interaction; drop store=false")
        return request

    async def create(
        self,
        tenant: str,
        body: Any,
        *,
        idempotency_key: str | None = None,
        inherit_config: bool = False,
    ) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """A finished (or, for background, accepted) Interaction, or its event stream.

        ``inherit_config`` (the interstate extension header ``x-interstate-inherit-config``):
        fields of ``INHERITED_CONFIG`` the body does not send are taken from the parent's."""
        check_idempotency_key(idempotency_key)
        body = check_create_body(body, lenient=self.lenient_requests)
        request = self.parse_create(body)
        if idempotency_key:
            existing = await self.store.get_by_idempotency_key(tenant, idempotency_key)
            if existing is not None:
                return await self._respond(existing, stream=bool(request.stream), background=True)
        if request.agent is None:
            self.providers.resolve(request.model or "")  # 400 before anything is written
        record = await self._new_record(tenant, body, request, idempotency_key, inherit_config)
        if request.agent is not None:
            parent = await self.store.get(tenant, record.parent_id) if record.parent_id else None
            state = parent.provider_state if parent is not None else None
            check_agent_input(self.agents.resolve(request.agent), record.input, state)
        if request.store is False:
            return await self._run_unstored(record, stream=bool(request.stream))
        try:
            await self.store.insert(record)
        except KeyError:
            if idempotency_key:  # a concurrent retry of the same create won the race
                existing = await self.store.get_by_idempotency_key(tenant, idempotency_key)
                if existing is not None:
                    return await self._respond(existing, stream=bool(request.stream), background=True)
            raise
        if record.background:
            self.worker.wake()
        else:
            self.runner.start(record)
        return await self._respond(record, stream=bool(request.stream), background=record.background)

    async def _new_record(
        self,
        tenant: str,
        body: dict[str, Any],
        request: CreateInteractionRequest,
        idempotency_key: str | None,
        inherit_config: bool = False,
    ) -> InteractionRecord:
        parent = await self._parent(tenant, request.previous_interaction_id)
        config = {k: body[k] for k in ECHOED_CONFIG if body.get(k) is not None}
        if inherit_config and parent is not None:
            for key in INHERITED_CONFIG:
                if key not in config and parent.config.get(key) is not None:
                    config[key] = parent.config[key]
        try:
            steps = [step.to_wire() for step in request.input_steps()]
        except ValueError as exc:
            raise invalid_argument(validation_message(exc)) from None
        if has_quotes(steps):
            steps = await resolve_quotes(self.store, tenant, steps)
        now = time.time()
        interaction_id = new_interaction_id()
        return InteractionRecord(
            id=interaction_id,
            tenant=tenant,
            kind=KIND_MODEL,
            status="queued" if request.background else "in_progress",
            created=now,
            updated=now,
            parent_id=parent.id if parent else None,
            root_id=parent.root_id if parent else interaction_id,
            depth=parent.depth + 1 if parent else 0,
            model=request.model,
            agent=request.agent,
            config=config,
            input=steps,
            labels=dict(request.labels or {}),
            background=bool(request.background),
            idempotency_key=idempotency_key,
            # A foreground turn starts here at once: lease it so no worker claims it too.
            lease_owner=None if request.background else self.owner,
            lease_until=None if request.background else now + self.worker.lease_seconds,
        )

    async def _parent(self, tenant: str, parent_id: str | None) -> InteractionRecord | None:
        if parent_id is None:
            return None
        parent = await self.store.get(tenant, parent_id)
        if parent is None:
            raise not_found(
                f"previous_interaction_id {parent_id!r} was not found: it does not exist, was "
                "deleted, belongs to another API key, or was created with store=false"
            )
        if parent.status in UNFINISHED:
            raise failed_precondition(
                f"previous_interaction_id {parent_id!r} is still {parent.status}; wait until "
                "it finishes (GET it, or stream it) before continuing the conversation"
            )
        return parent

    async def _respond(
        self, record: InteractionRecord, *, stream: bool, background: bool
    ) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        if stream:
            return self._follow(record, 0)
        if background:
            return interaction_body(record)
        task = self.runner.tasks.get(record.id)
        if task is not None:
            try:
                outcome = await asyncio.shield(task)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not task.cancelled() or (current is not None and current.cancelling()):
                    raise  # this request was cancelled
                # The turn's task was, not this request: the server is stopping and handed the
                # turn back (it resumes elsewhere). Answer what is stored, not a 500.
                return await self.get(record.tenant, record.id)
            if outcome.error is not None:
                raise outcome.error
        return await self.get(record.tenant, record.id)

    async def _run_unstored(
        self, record: InteractionRecord, *, stream: bool
    ) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        if not stream:
            outcome = await self.runner.run(record, stored=False)
            if outcome.error is not None:
                raise outcome.error
            return interaction_body(outcome.record)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(
            self.runner.run(record, stored=False, queue=queue)
        )

        async def events() -> AsyncIterator[dict[str, Any]]:
            try:
                while True:
                    event = await queue.get()
                    yield event
                    if event["event_type"] in TERMINAL_EVENTS:
                        return
            finally:
                if not task.done():
                    task.cancel()

        return events()

    # -- read ---------------------------------------------------------------------------
    async def load(self, tenant: str, interaction_id: str) -> InteractionRecord:
        record = await self.store.get(tenant, interaction_id)
        if record is None:
            raise not_found(f"Interaction {interaction_id!r} was not found")
        return record

    async def get(
        self, tenant: str, interaction_id: str, *, include_input: bool = False,
        timeline: bool = False,
    ) -> dict[str, Any]:
        """The Interaction resource; ``timeline`` (the GET route): input steps, then output."""
        record = await self.load(tenant, interaction_id)
        return interaction_body(record, include_input=include_input, timeline=timeline)

    async def follow(
        self, tenant: str, interaction_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The interaction's events after ``last_event_id``, live until it settles."""
        record = await self.load(tenant, interaction_id)
        seq = parse_event_id(interaction_id, last_event_id)
        return self._follow(record, seq)

    async def _follow(self, record: InteractionRecord, seq: int) -> AsyncIterator[dict[str, Any]]:
        while True:
            waiter = self.runner.hub.waiter(record.id)
            live = self.runner.live.get(record.id)
            if live is not None:  # running here: read what the store may not have yet
                events = [event for event in live if event.seq > seq]
            else:
                events = await self.store.events_after(record.id, seq)
            for event in events:
                seq = event.seq
                yield event.data
                if event.data.get("event_type") in TERMINAL_EVENTS:
                    return
            if not events:
                current = await self.store.get(record.tenant, record.id)
                if current is None:
                    yield {"event_type": "error", "error": not_found(
                        f"Interaction {record.id!r} was deleted").body()["error"]}  # fmt: skip
                    return
                if current.status not in UNFINISHED:
                    # Settled. Once its stored stream is sent up to its end, the caller has
                    # everything. Otherwise it settled without (closing)
                    # events: a recorded turn, or one failed/cancelled before it ran. Synthesise
                    # what is missing with deterministic ids, and skip what was already seen.
                    stored = await self.store.events_after(record.id, 0)
                    for event in stored:  # what it wrote while we watched its live events
                        if event.seq > seq:
                            seq = event.seq
                            yield event.data
                    if stored and stored[-1].data.get("event_type") in TERMINAL_EVENTS:
                        return
                    base = stored[-1].seq if stored else 0
                    tail = closing_events(current) if stored else synthesized_events(current)
                    for offset, data in enumerate(tail, start=1):
                        if base + offset > seq:
                            yield {**data, "event_id": event_id(record.id, base + offset)}
                    return
                try:
                    await asyncio.wait_for(waiter.wait(), FOLLOW_POLL_SECONDS)
                except asyncio.TimeoutError:
                    pass

    # -- cancel / delete ----------------------------------------------------------------
    async def cancel(self, tenant: str, interaction_id: str) -> dict[str, Any]:
        record = await self.load(tenant, interaction_id)
        if record.status not in UNFINISHED:
            raise failed_precondition(
                f"Interaction {interaction_id!r} is {record.status}; only queued or in-progress "
                "interactions can be cancelled"
            )
        if not await self.runner.cancel(interaction_id):
            record.status = "cancelled"
            await self.store.update_status(
                interaction_id, "cancelled", only_if=UNFINISHED, release_lease=True,
                events=await closing_after_stored(self.store, record),
            )  # fmt: skip
            self.runner.hub.publish(interaction_id)
        return await self.get(tenant, interaction_id)

    async def delete(self, tenant: str, interaction_id: str) -> None:
        await self.load(tenant, interaction_id)
        await self.runner.cancel(interaction_id)
        if not await self.store.delete(tenant, interaction_id):
            raise not_found(f"Interaction {interaction_id!r} was not found")
        self.runner.hub.publish(interaction_id)


