"""The service layer in-process: chaining, store=false, idempotency, cancel, delete, recovery."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import pytest

from interstate.server.errors import ServiceError
from interstate.server.providers import ProviderRegistry, ScriptedProvider
from interstate.server.providers.base import ModelTurn
from interstate.server.service import InteractionService
from interstate.server.store.base import KIND_MODEL, InteractionRecord

from .conftest import RULES


class RecordingProvider(ScriptedProvider):
    """The scripted model, remembering every turn it was asked to continue."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        super().__init__(rules)
        self.turns: list[ModelTurn] = []

    def generate(self, turn: ModelTurn) -> AsyncIterator[Any]:
        self.turns.append(turn)
        return super().generate(turn)


def texts(steps: list[dict[str, Any]]) -> list[str]:
    return [c["text"] for s in steps for c in s.get("content") or [] if c.get("type") == "text"]


async def wait_settled(service: InteractionService, tenant: str, id: str) -> dict[str, Any]:
    for _ in range(400):
        body = await service.get(tenant, id)
        if body["status"] not in ("queued", "in_progress"):
            return body
        await asyncio.sleep(0.025)
    raise AssertionError(f"{id} did not settle")


@pytest.fixture
async def recording(db_url: str) -> AsyncIterator[tuple[InteractionService, RecordingProvider]]:
    provider = RecordingProvider(RULES)
    svc = await InteractionService.open(db_url, ProviderRegistry(default=provider), lease_seconds=5)
    yield svc, provider
    await svc.close()


async def test_chain_history_and_forks(recording: Any) -> None:
    service, provider = recording
    a = await service.create("t", {"model": "m", "input": "one"})
    assert a["status"] == "completed" and texts(a["steps"]) == ["echo: one"]
    b = await service.create("t", {"model": "m", "input": "two", "previous_interaction_id": a["id"]})
    fork = await service.create("t", {"model": "m", "input": "fork", "previous_interaction_id": a["id"]})
    assert b["previous_interaction_id"] == fork["previous_interaction_id"] == a["id"]
    assert texts(provider.turns[1].history) == ["one", "echo: one"]
    assert texts(provider.turns[2].history) == ["one", "echo: one"]  # the fork does not see "two"
    assert texts(provider.turns[1].input) == ["two"]


async def test_deleted_middle_turn_is_skipped_in_history(recording: Any) -> None:
    service, provider = recording
    a = await service.create("t", {"model": "m", "input": "one"})
    b = await service.create("t", {"model": "m", "input": "secret", "previous_interaction_id": a["id"]})
    c = await service.create("t", {"model": "m", "input": "three", "previous_interaction_id": b["id"]})
    await service.delete("t", b["id"])
    with pytest.raises(ServiceError) as info:
        await service.get("t", b["id"])
    assert info.value.status == 404
    await service.create("t", {"model": "m", "input": "four", "previous_interaction_id": c["id"]})
    assert "secret" not in texts(provider.turns[-1].history)
    assert texts(provider.turns[-1].history) == ["one", "echo: one", "three", "echo: three"]


async def test_per_turn_config_reaches_the_model_and_is_echoed(recording: Any) -> None:
    service, provider = recording
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    body = await service.create("t", {
        "model": "m", "input": "weather?", "tools": tools, "system_instruction": "Be terse.",
        "generation_config": {"temperature": 0.1}, "labels": {"team": "x"},
    })  # fmt: skip
    assert body["status"] == "requires_action"
    assert body["steps"][0]["type"] == "function_call" and body["steps"][0]["arguments"] == {"city": "Paris"}
    assert body["tools"] == tools and body["system_instruction"] == "Be terse."
    assert body["labels"] == {"team": "x"}
    turn = provider.turns[-1]
    assert turn.tools == tools and turn.system_instruction == "Be terse."
    assert turn.generation_config == {"temperature": 0.1}
    result = await service.create("t", {
        "model": "m", "previous_interaction_id": body["id"],
        "input": [{"type": "function_result", "call_id": body["steps"][0]["id"], "name": "get_weather",
                   "result": {"temp_c": 21}}],
    })  # fmt: skip
    assert result["status"] == "completed" and texts(result["steps"]) == ['result: {"temp_c": 21}']
    assert provider.turns[-1].tools is None  # tools are per turn, not inherited


async def test_store_false_is_not_kept(service: InteractionService) -> None:
    body = await service.create("t", {"model": "m", "input": "x", "store": False})
    assert body["status"] == "completed"
    for call in (service.get("t", body["id"]),
                 service.create("t", {"model": "m", "input": "y", "previous_interaction_id": body["id"]})):  # fmt: skip
        with pytest.raises(ServiceError) as info:
            await call
        assert info.value.status == 404


async def test_idempotency_key_returns_the_first_interaction(service: InteractionService) -> None:
    first = await service.create("t", {"model": "m", "input": "x"}, idempotency_key="k1")
    again = await service.create("t", {"model": "m", "input": "x"}, idempotency_key="k1")
    other = await service.create("u", {"model": "m", "input": "x"}, idempotency_key="k1")
    assert again["id"] == first["id"] and other["id"] != first["id"]


async def test_provider_error_fails_the_turn_and_raises(service: InteractionService) -> None:
    with pytest.raises(ServiceError) as info:
        await service.create("t", {"model": "m", "input": "please fail"})
    assert info.value.status == 429 and "slow down" in info.value.message
    from interstate.server.store.base import ListQuery

    [failed] = await service.store.list("t", ListQuery())
    assert failed.status == "failed" and failed.errors[0]["message"] == "slow down"


async def test_background_cancel_and_stream(service: InteractionService) -> None:
    body = await service.create("t", {"model": "m", "input": "slow", "background": True})
    assert body["status"] == "queued"
    for _ in range(200):
        if (await service.get("t", body["id"]))["status"] == "in_progress":
            break
        await asyncio.sleep(0.02)
    with pytest.raises(ServiceError) as info:  # the parent is still running
        await service.create("t", {"model": "m", "input": "x", "previous_interaction_id": body["id"]})
    assert info.value.status == 400
    cancelled = await service.cancel("t", body["id"])
    assert cancelled["status"] == "cancelled"
    events = [e async for e in await service.follow("t", body["id"])]
    assert events[-1]["event_type"] == "interaction.completed"
    assert events[-1]["interaction"]["status"] == "cancelled"
    with pytest.raises(ServiceError) as info:
        await service.cancel("t", body["id"])
    assert info.value.status == 400


async def test_follow_replays_and_resumes(service: InteractionService) -> None:
    body = await service.create("t", {"model": "m", "input": "hello"})
    events = [e async for e in await service.follow("t", body["id"])]
    kinds = [e["event_type"] for e in events]
    assert kinds == ["interaction.created", "interaction.status_update", "step.start", "step.delta",
                     "step.stop", "interaction.status_update", "interaction.completed"]  # fmt: skip
    later = [e async for e in await service.follow("t", body["id"], events[3]["event_id"])]
    assert later == events[4:]
    with pytest.raises(ServiceError):
        await service.follow("t", body["id"], "someone-else:3")


async def test_dead_owners_turn_is_resumed_and_repeated_crashes_give_up(db_url: str) -> None:
    svc = await InteractionService.open(db_url, ProviderRegistry(default=ScriptedProvider()), lease_seconds=60)
    try:
        now = time.time()
        dead_owner = f"{__import__('socket').gethostname()}:999999:dead"
        common = dict(tenant="t", kind=KIND_MODEL, status="in_progress", created=now, updated=now,
                      model="m", lease_owner=dead_owner, lease_until=now + 60,
                      input=[{"type": "user_input", "content": [{"type": "text", "text": "hi"}]}])  # fmt: skip
        await svc.store.insert_many([
            InteractionRecord(id="resumed", **common),
            InteractionRecord(id="doomed", attempts=3, **common),
        ])  # fmt: skip
        svc.worker.wake()
        resumed = await wait_settled(svc, "t", "resumed")
        doomed = await wait_settled(svc, "t", "doomed")
        assert resumed["status"] == "completed" and texts(resumed["steps"]) == ["echo: hi"]
        assert doomed["status"] == "failed" and doomed["errors"][0]["code"] == "ABORTED"
    finally:
        await svc.close()


async def test_bad_requests_write_nothing(service: InteractionService) -> None:
    from interstate.server.store.base import ListQuery

    bad = [
        [],
        {"input": "no model"},
        {"model": "m", "agent": "a"},
        {"model": "m", "input": 5},
        {"model": "m", "labels": {"Bad": "x"}},
        {"model": "m", "previous_interaction_id": "v1_missing"},
        {"model": "m", "store": False, "background": True},
        {"agent": "deep-research-pro-preview-12-2025", "input": "x"},
    ]
    for body in bad:
        with pytest.raises(ServiceError) as info:
            await service.create("t", body)
        assert 400 <= info.value.status < 500, body
    assert await service.store.list("t", ListQuery()) == []


async def test_unrouted_model_names_the_fix(db_url: str) -> None:
    svc = await InteractionService.open(db_url, ProviderRegistry([("scripted*", ScriptedProvider())]))
    try:
        with pytest.raises(ServiceError) as info:
            await svc.create("t", {"model": "gemini-3-flash-preview", "input": "x"})
        assert info.value.status == 400 and "--provider" in info.value.message
        assert (await svc.create("t", {"model": "scripted-x", "input": "y"}))["status"] == "completed"
    finally:
        await svc.close()
