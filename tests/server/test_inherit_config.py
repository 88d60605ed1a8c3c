"""Extension: ``x-interstate-inherit-config: true`` — a turn reuses its parent's per-turn config.

Over HTTP (the header is read by the app) with a provider that records what the model was given.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import httpx
import pytest


from .recording_app import recording_app
from .test_service import RecordingProvider

INHERIT = {"x-interstate-inherit-config": "true"}
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
CONFIG = {
    "system_instruction": "Be terse.",
    "tools": TOOLS,
    "generation_config": {"temperature": 0.1, "stop_sequences": ["\nObservation:"]},
    "response_format": {"type": "text", "mime_type": "application/json"},
}
#: The model calls the tool only when it is offered this turn.
RULES = [
    {"when": {"tool": "get_weather", "after": "user_input"},
     "reply": {"function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
]  # fmt: skip


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingProvider]]:
    async with recording_app(db_url, RULES) as pair:
        yield pair


async def create(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await client.post("/v1beta/interactions", json={"model": "m", **body},
                                 headers=headers)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def seen(turn: Any) -> dict[str, Any]:
    return {k: getattr(turn, k) for k in CONFIG if getattr(turn, k) is not None}


async def test_absent_fields_are_inherited_and_echoed(app: Any) -> None:
    client, provider = app
    root = await create(client, {"input": "hello", **CONFIG})
    assert {k: root[k] for k in CONFIG} == CONFIG
    child = await create(client, {"input": "weather?", "previous_interaction_id": root["id"]},
                         **INHERIT)  # fmt: skip
    # the model was offered the tool (so it called it) and saw every inherited field
    assert child["status"] == "requires_action" and child["steps"][0]["name"] == "get_weather"
    assert seen(provider.turns[-1]) == CONFIG
    assert {k: child[k] for k in CONFIG} == CONFIG  # echoed: the effective configuration
    stored = (await client.get(f"/v1beta/interactions/{child['id']}")).json()
    assert {k: stored[k] for k in CONFIG} == CONFIG
    # ... so its own child inherits again (grandparent's config, two hops away)
    call = child["steps"][0]
    grandchild = await create(client, {"previous_interaction_id": child["id"], "input": [
        {"type": "function_result", "call_id": call["id"], "name": "get_weather", "result": "sunny"}]},
        **INHERIT)  # fmt: skip
    assert seen(provider.turns[-1]) == CONFIG and grandchild["system_instruction"] == "Be terse."


async def test_explicit_values_win(app: Any) -> None:
    client, provider = app
    root = await create(client, {"input": "hello", **CONFIG})
    child = await create(client, {
        "input": "weather?", "previous_interaction_id": root["id"],
        "system_instruction": "Be verbose.", "generation_config": {"temperature": 0.9},
    }, **INHERIT)  # fmt: skip
    assert seen(provider.turns[-1]) == {**CONFIG, "system_instruction": "Be verbose.",
                                        "generation_config": {"temperature": 0.9}}  # fmt: skip
    assert child["system_instruction"] == "Be verbose." and child["tools"] == TOOLS
    assert child["generation_config"] == {"temperature": 0.9}  # replaced whole, not merged


async def test_without_the_header_nothing_is_inherited(app: Any) -> None:
    client, provider = app
    root = await create(client, {"input": "hello", **CONFIG})
    for headers in ({}, {"x-interstate-inherit-config": "false"}):
        child = await create(client, {"input": "weather?", "previous_interaction_id": root["id"]},
                             **headers)  # fmt: skip
        assert seen(provider.turns[-1]) == {}
        assert child["status"] == "completed"  # no tool offered, so no call
        assert not set(CONFIG) & set(child)


async def test_root_turn_with_the_header(app: Any) -> None:
    client, provider = app
    bare = await create(client, {"input": "hello"}, **INHERIT)
    assert bare["status"] == "completed" and seen(provider.turns[-1]) == {}
    configured = await create(client, {"input": "weather?", "tools": TOOLS}, **INHERIT)
    assert configured["status"] == "requires_action" and seen(provider.turns[-1]) == {"tools": TOOLS}


async def test_a_bad_header_value_is_a_400_and_writes_nothing(app: Any) -> None:
    client, provider = app
    response = await client.post("/v1beta/interactions", json={"model": "m", "input": "x"},
                                 headers={"x-interstate-inherit-config": "maybe"})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert "x-interstate-inherit-config" in response.json()["error"]["message"]
    assert provider.turns == []
    listed = (await client.get("/v1beta/interstate/interactions")).json()
    assert listed["interactions"] == []
