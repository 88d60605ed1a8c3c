"""The unmodified google-genai SDK (async ``client.aio.interactions``) against interstate.

Each test runs against the HTTP server and the embedded server (the ``target`` fixture).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

import pytest
from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import interactions as gi

from harness import (
    FOX,
    KEY_B,
    MODEL,
    STREAM_SHAPE,
    TERMINAL,
    WEATHER_TOOL,
    Target,
    delta_text,
    event_names,
)


async def await_until(
    predicate: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, interval: float = 0.05
) -> Any:
    """Poll ``predicate`` until it returns something truthy; a bound, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def collect(stream: Any) -> list[Any]:
    return [event async for event in stream]


async def test_create_every_input_shape(aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    shapes: list[tuple[Any, str]] = [
        ("plain string", "plain string"),
        ({"type": "text", "text": "one content"}, "one content"),
        ([{"type": "text", "text": "two "}, {"type": "text", "text": "contents"}], "two contents"),
        ([gi.TextContent(text="typed "), gi.TextContent(text="contents")], "typed contents"),
        ([{"type": "user_input", "content": [{"type": "text", "text": "a step"}]}], "a step"),
    ]
    for value, text in shapes:
        created = await api.create(model=MODEL, input=value)
        assert created.status == "completed"
        assert created.output_text == f"echo: {text}"
        stored = await api.get(created.id, include_input=True)
        assert [s.type for s in stored.input] == ["user_input"]
        assert stored.output_text == f"echo: {text}"


async def test_chain_and_fork(aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    root = await api.create(model=MODEL, input="which-turn root")
    assert root.output_text == "turn 0: which-turn root"
    left, right = await asyncio.gather(
        api.create(model=MODEL, input="which-turn left", previous_interaction_id=root.id),
        api.create(model=MODEL, input="which-turn right", previous_interaction_id=root.id),
    )
    assert left.previous_interaction_id == right.previous_interaction_id == root.id
    assert left.output_text == "turn 1: which-turn left"
    assert right.output_text == "turn 1: which-turn right"
    third = await api.create(
        model=MODEL, input="which-turn again", previous_interaction_id=right.id
    )
    assert third.output_text == "third turn exactly"
    assert third.usage.total_input_tokens > right.usage.total_input_tokens


async def test_streaming_create_and_resume(aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    events = await collect(await api.create(model=MODEL, input="chunk-me async", stream=True))
    assert STREAM_SHAPE.match(event_names(events)), event_names(events)
    interaction_id = events[0].interaction.id
    fetched = await api.get(interaction_id)
    assert delta_text(events) == fetched.output_text == FOX
    replay = await collect(await api.get(interaction_id, stream=True))
    assert [e.event_id for e in replay] == [e.event_id for e in events]
    rest = await collect(
        await api.get(interaction_id, stream=True, last_event_id=replay[4].event_id)
    )
    assert [e.event_id for e in rest] == [e.event_id for e in replay[5:]]


async def test_streaming_resume_while_running(aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    started = await api.create(model=MODEL, input="trickle async", background=True)
    seen: list[Any] = []
    stream = await api.get(started.id, stream=True)
    async for event in stream:
        seen.append(event)
        if len(seen) == 4:
            break
    await stream.close()
    rest = await collect(await api.get(started.id, stream=True, last_event_id=seen[-1].event_id))
    ids = [e.event_id for e in seen + rest]
    assert len(ids) == len(set(ids))
    assert STREAM_SHAPE.match(event_names(seen + rest))
    assert delta_text(seen + rest) == "abcdefghijklmnopqrstuvwxyz"


async def test_function_calling_round_trip(aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    asked = await api.create(model=MODEL, input="Weather in Paris, async?", tools=[WEATHER_TOOL])
    assert asked.status == "requires_action"
    call = asked.steps[-1]
    assert isinstance(call, gi.FunctionCallStep)
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    answered = await api.create(
        model=MODEL,
        previous_interaction_id=asked.id,
        tools=[WEATHER_TOOL],
        input=[{"type": "function_result", "call_id": call.id, "name": "get_weather",
                "result": "sunny"}],
    )  # fmt: skip
    assert answered.status == "completed"
    assert answered.output_text == "asked Weather in Paris, async?; got sunny"


async def test_background_poll_and_cancel(aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    quick = await api.create(model=MODEL, input="async bg", background=True)
    slow = await api.create(model=MODEL, input="slow-please async", background=True)
    assert quick.status in ("queued", "in_progress")

    async def settled() -> Any:
        got = await api.get(quick.id)
        return got if got.status in TERMINAL else None

    done = await await_until(settled)
    assert (done.status, done.output_text) == ("completed", "echo: async bg")

    async def running() -> bool:
        return (await api.get(slow.id)).status == "in_progress"

    await await_until(running)
    cancelled = await api.cancel(slow.id)
    assert cancelled.status == "cancelled"
    assert (await api.get(slow.id)).status == "cancelled"
    with pytest.raises(sdk_errors.BadRequestError):
        await api.cancel(done.id)


async def test_delete_labels_store_false_and_config(target: Target, aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    labels = {"team": "conformance", "run": "async-1"}
    created = await api.create(
        model=MODEL, input="options", labels=labels, system_instruction="Be brief.",
        generation_config={"max_output_tokens": 64}, tools=[{"type": "function", "name": "noop"}],
    )  # fmt: skip
    assert created.labels == labels
    assert created.system_instruction == "Be brief."
    assert created.generation_config.max_output_tokens == 64
    assert [t.name for t in created.tools] == ["noop"]
    await api.delete(created.id)
    with pytest.raises(sdk_errors.NotFoundError):
        await api.get(created.id)
    before = target.count()
    ephemeral = await api.create(model=MODEL, input="async ephemeral", store=False)
    assert ephemeral.output_text == "echo: async ephemeral"
    with pytest.raises(sdk_errors.NotFoundError):
        await api.create(model=MODEL, input="x", previous_interaction_id=ephemeral.id)
    assert target.count() == before


async def test_errors(target: Target, aclient: genai.Client) -> None:
    api = aclient.aio.interactions
    with pytest.raises(sdk_errors.NotFoundError):
        await api.get("v1_0000doesnotexist")
    with pytest.raises(sdk_errors.BadRequestError) as caught:
        await api.create(model=MODEL, input="x", labels={"Bad": "x"})
    assert "label" in caught.value.body["error"]["message"]
    with pytest.raises(sdk_errors.RateLimitError) as limited:
        await api.create(model=MODEL, input="rate-limit-me async")
    assert limited.value.body["error"] == {"code": "RESOURCE_EXHAUSTED", "message": "slow down"}
    with pytest.raises(sdk_errors.NotFoundError):
        await api.create(model=MODEL, input="x", api_version="bogus")


async def test_auth_and_tenants(http_target: Target) -> None:
    mine, theirs, wrong = (
        http_target.sdk(), http_target.sdk(api_key=KEY_B), http_target.sdk(api_key="nope")
    )  # fmt: skip
    try:
        created = await mine.aio.interactions.create(model=MODEL, input="async tenant a")
        with pytest.raises(sdk_errors.NotFoundError):
            await theirs.aio.interactions.get(created.id)
        with pytest.raises(sdk_errors.AuthenticationError):
            await wrong.aio.interactions.get(created.id)
        assert (await mine.aio.interactions.get(created.id)).output_text == "echo: async tenant a"
    finally:
        for sdk in (mine, theirs, wrong):
            await sdk.aio.aclose()
