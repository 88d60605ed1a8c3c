"""Live streams across PostgreSQL replicas (issue 13): a reader on one server gets each event of a
turn running on another as it comes, woken by ``NOTIFY`` (``store/postgres_listen``).

Two services share one PostgreSQL database. The turn runs on A with a provider that waits in
its only step until the test lets it go on; the reader follows on B with the poll interval set
to an hour, so only a notification can wake it. It must get the step's first delta while the
step is still open on A (before, events reached the store only when a step ended).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, NamedTuple

import psycopg
import pytest

from interstate.server import service as service_module
from interstate.server.providers import ProviderRegistry
from interstate.server.providers.base import (
    CloseStep,
    Delta,
    Finish,
    ModelTurn,
    OpenStep,
    Provider,
    ProviderItem,
)
from interstate.server.service import InteractionService
from interstate.server.store.postgres_listen import CHANNEL, NOTIFY_SQL, Listener

from .postgres_support import create_schema

#: A bound for the test's waits, so a reader that is never woken fails instead of hanging.
BOUND = 60


class GatedProvider(Provider):
    """One model_output step: after ``opened`` a delta ``first``, after ``gate`` ``second``."""

    name = "gated"

    def __init__(self) -> None:
        self.opened, self.gate = asyncio.Event(), asyncio.Event()

    async def generate(self, turn: ModelTurn) -> AsyncIterator[ProviderItem]:
        yield OpenStep({"type": "model_output", "content": []})
        await self.opened.wait()
        yield Delta({"type": "text", "text": "first"})
        await self.gate.wait()
        yield Delta({"type": "text", "text": " second"})
        yield CloseStep()
        yield Finish()


async def next_event(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(anext(events), BOUND)


class Replicas(NamedTuple):
    a: InteractionService  # runs the turn
    b: InteractionService  # follows it
    gated: GatedProvider
    interaction_id: str
    #: B's stream of the turn, read up to its ``step.start`` (from the store).
    events: AsyncIterator[dict[str, Any]]


@pytest.fixture
async def replicas(
    postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Replicas]:
    """A foreground turn running on A (under A's lease: B's worker does not claim it), waiting
    in its step, and B following it with a poll interval of an hour."""
    monkeypatch.setattr(service_module, "FOLLOW_POLL_SECONDS", 3600.0)
    url = create_schema(postgres_admin_url)
    gated = GatedProvider()
    a = await InteractionService.open(url, ProviderRegistry([("gated*", gated)]), lease_seconds=600)
    b = await InteractionService.open(url, ProviderRegistry([]), lease_seconds=600)
    try:
        stream = await a.create("t", {"model": "gated", "input": "go", "stream": True})
        interaction_id = (await next_event(stream))["interaction"]["id"]  # type: ignore[arg-type]
        events = (await b.follow("t", interaction_id)).__aiter__()
        kinds = [(await next_event(events))["event_type"] for _ in range(3)]
        assert kinds == ["interaction.created", "interaction.status_update", "step.start"]
        yield Replicas(a, b, gated, interaction_id, events)
        await stream.aclose()  # type: ignore[union-attr]
    finally:
        gated.opened.set()
        gated.gate.set()
        await a.close()
        await b.close()


async def test_a_reader_on_another_replica_is_woken_for_each_event(replicas: Replicas) -> None:
    a, b, gated, interaction_id, events = replicas
    gated.opened.set()  # B waits on the store; only A's NOTIFY can wake it for the delta
    delta = await next_event(events)
    assert delta["event_type"] == "step.delta" and delta["delta"]["text"] == "first"
    assert interaction_id in a.runner.tasks  # the step is still open on A
    assert b.runner.tasks == {}  # and B does not run the turn
    gated.gate.set()
    rest = [(await next_event(events))["event_type"] for _ in range(4)]
    assert rest == ["step.delta", "step.stop", "interaction.status_update", "interaction.completed"]
    assert (await b.get("t", interaction_id))["status"] == "completed"


async def test_a_status_change_on_another_replica_wakes_its_followers(replicas: Replicas) -> None:
    """A turn cancelled on the server running it ends the stream a reader follows on another."""
    assert (await replicas.a.cancel("t", replicas.interaction_id))["status"] == "cancelled"
    assert (await next_event(replicas.events))["event_type"] == "interaction.status_update"
    assert (await next_event(replicas.events))["event_type"] == "interaction.completed"


async def test_the_listener_comes_back_after_its_connection_drops(postgres_admin_url: str) -> None:
    url = create_schema(postgres_admin_url)
    woken: list[str] = []
    listener = Listener(url, woken.append)
    await listener.start()
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(NOTIFY_SQL, ("before",))
            await until(lambda: "before" in woken)
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query = %s AND pid <> pg_backend_pid()", (f"LISTEN {CHANNEL}",),
            )  # fmt: skip
            # Until the listener has reconnected, notifications are lost: send until one arrives.
            async def again() -> bool:
                await conn.execute(NOTIFY_SQL, ("after",))
                return "after" in woken

            deadline = time.monotonic() + BOUND
            while not await again():
                assert time.monotonic() < deadline, "the listener did not come back"
                await asyncio.sleep(0.1)
    finally:
        await listener.close()


async def until(predicate: Any) -> None:
    deadline = time.monotonic() + BOUND  # a bound for polling, not a timing assertion
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.01)
