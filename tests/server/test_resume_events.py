"""A turn taken over after its server died continues its event ids and says it restarted (issue 13).

Server A runs a streamed turn, stores its events (on SQLite one flush of ``MAX_PENDING_EVENTS``,
showing more live; PostgreSQL stores each one), then dies: its lease stays, nothing is handed
back. Server B, on the same database, claims the turn once the lease has expired and runs it
again. A reader that saw A's
events and resumes on B with ``last_event_id`` must get the restart and B's whole run, not B's
events after that id (which, with ids restarting at 1, spliced B's text onto A's).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from google.genai import interactions as gi
from google.genai._gaos.utils.serializers import unmarshal

from interstate.server.providers import ProviderRegistry, ScriptedProvider
from interstate.server.runner import MAX_PENDING_EVENTS
from interstate.server.service import InteractionService
from interstate.types.accumulate import TURN_RESTARTED, StepAccumulator

TEXT = "".join(f"{i:03d}," for i in range(60))  # 240 characters, one delta each


def providers(chunk_delay: float) -> ProviderRegistry:
    rule = {"reply": {"text": TEXT, "chunk_size": 1, "chunk_delay": chunk_delay}}
    scripted = ScriptedProvider([rule])
    return ProviderRegistry([("scripted*", scripted)], default=scripted)


def seq(event: dict[str, Any]) -> int:
    return int(event["event_id"].rpartition(":")[2])


def text_of(events: list[dict[str, Any]]) -> str:
    steps = StepAccumulator()
    for event in events:
        steps.apply_event(event)
    return "".join(c.get("text", "") for s in steps.steps for c in s.get("content", []))


async def until(predicate: Any) -> None:
    deadline = time.monotonic() + 60  # a bound for polling, not a timing assertion
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.01)


async def test_a_taken_over_turn_continues_its_ids_and_says_it_restarted(db_url: str) -> None:
    a = await InteractionService.open(db_url, providers(chunk_delay=0.02), lease_seconds=600)
    b = await InteractionService.open(db_url, providers(chunk_delay=0), lease_seconds=600)
    try:
        # A foreground turn: A runs it at once, under its own lease, so B cannot claim it.
        stream = await a.create("t", {"model": "scripted", "input": "go", "stream": True})
        first = await anext(stream)  # type: ignore[arg-type]
        interaction_id = first["interaction"]["id"]
        await until(lambda: len(a.runner.live.get(interaction_id, ())) > MAX_PENDING_EVENTS + 5)
        seen = [e.data for e in a.runner.live[interaction_id]]
        stored = await a.store.events_after(interaction_id, 0)
        assert stored
        if not a.store.writes_each_event:  # SQLite: some were shown but never stored
            assert MAX_PENDING_EVENTS <= len(stored) < len(seen)

        async def nothing(interaction_id: str) -> None:  # A dies: its lease is not handed back
            return None

        a.runner._release = nothing  # type: ignore[method-assign]
        await a.worker.stop()
        await stream.aclose()  # type: ignore[union-attr]
        assert (await b.store.get("t", interaction_id)).status == "in_progress"  # type: ignore[union-attr]
        assert await b.worker.claim_once(now=time.time() + 3600) == 1  # A's lease has expired

        resumed = [e async for e in await b.follow("t", interaction_id, seen[-1]["event_id"])]
        restart = resumed[0]
        assert restart["event_type"] == TURN_RESTARTED and restart["interaction_id"] == interaction_id
        assert seq(restart) > seq(seen[-1])
        ids = [seq(e) for e in seen + resumed]
        assert ids == sorted(set(ids)), "event ids only grow, across both runs"
        final = await b.get("t", interaction_id)
        assert final["status"] == "completed"
        assert text_of(resumed) == TEXT
        assert text_of(seen + resumed) == TEXT  # a reader that kept A's text drops it at the restart

        # Read from the start once it has ended: A's run is gone, the stream opens with the restart.
        replay = [e async for e in await b.follow("t", interaction_id)]
        assert replay == resumed
        # The SDK parses it (the first event of each type: parsing is slow): the restart as an
        # unknown event, the rest as before.
        kinds = {e["event_type"]: e for e in reversed(replay)}
        parsed = {k: unmarshal(e, gi.InteractionSSEEvent) for k, e in kinds.items()}
        assert isinstance(parsed.pop(TURN_RESTARTED), gi.UnknownInteractionSSEEvent)
        assert set(parsed) == {"interaction.created", "interaction.status_update", "step.start",
                               "step.delta", "step.stop", "interaction.completed"}  # fmt: skip
        assert not any(isinstance(p, gi.UnknownInteractionSSEEvent) for p in parsed.values())
    finally:
        await a.close()
        await b.close()


async def test_a_first_claim_of_a_queued_turn_is_not_a_restart(db_url: str) -> None:
    service = await InteractionService.open(db_url, providers(chunk_delay=0), lease_seconds=600)
    try:
        body = await service.create("t", {"model": "scripted", "input": "go", "background": True})
        assert isinstance(body, dict)
        events = [e async for e in await service.follow("t", body["id"])]
        assert events[0]["event_type"] == "interaction.created" and seq(events[0]) == 1
        assert TURN_RESTARTED not in {e["event_type"] for e in events}
    finally:
        await service.close()
