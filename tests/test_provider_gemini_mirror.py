"""Mirror mode against a second interstate server playing Google's part (loopback only).

The upstream is ``interstate serve --provider scripted`` in a subprocess on 127.0.0.1; the local
service's default provider is ``GeminiMirrorProvider`` pointed at it. What the upstream received
is read back through its own API (``GET ...?include_input=true``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import httpx
import pytest

from interstate.server.providers.base import ProviderError, ProviderRegistry
from interstate.server.providers.gemini import GeminiMirrorProvider
from interstate.server.providers.scripted import ScriptedProvider
from interstate.server.service import InteractionService
from interstate.testing import free_port

API_KEY = "x"
TENANT = "local"
MODEL = "gemini-3-flash-preview"

SCRIPT = [
    {"when": {"after": "function_result"}, "reply": {"text": "result: {result}"}},
    {"when": {"contains": "fail429"}, "reply": {"error": {"status": 429, "message": "slow down"}}},
    {"when": {"contains": "weather"},
     "reply": {"thought": "I need the tool.",
               "function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
    {"when": {"contains": "stream me"}, "reply": {"text": "streamed in pieces", "chunk_size": 4}},
    {"when": {}, "reply": {"text": "turn {turn}: {input}"}},
]  # fmt: skip




class Upstream:
    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.process = process
        self.http = httpx.Client(base_url=url, headers={"x-goog-api-key": API_KEY}, timeout=30)

    def get(self, interaction_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1beta/interactions/{interaction_id}", params={"include_input": "true"})
        assert response.status_code == 200, response.text
        return response.json()

    def delete(self, interaction_id: str) -> None:
        response = self.http.delete(f"/v1beta/interactions/{interaction_id}")
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    folder = tmp_path_factory.mktemp("upstream")
    script = folder / "script.json"
    script.write_text(json.dumps(SCRIPT), encoding="utf-8")
    port = free_port()
    command = [
        sys.executable, "-c", "from interstate.cli import main; main()",
        "serve", "--provider", "scripted", "--script", str(script), "--api-key", API_KEY,
        "--host", "127.0.0.1", "--port", str(port), "--db", str(folder / "upstream.db"),
        "--log-level", "warning",
    ]  # fmt: skip
    log = (folder / "upstream.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a start-up limit, not a timing assertion
        while True:
            assert process.poll() is None, (folder / "upstream.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the upstream server did not start"
            time.sleep(0.05)
        server = Upstream(url, process)
        yield server
        server.http.close()
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
async def service(tmp_path: Path, upstream: Upstream) -> AsyncIterator[InteractionService]:
    mirror = GeminiMirrorProvider(API_KEY, base_url=upstream.url, retry_backoff=0)
    registry = ProviderRegistry([("scripted*", ScriptedProvider())], default=mirror)
    service = await InteractionService.open(f"sqlite:///{tmp_path / 'local.db'}", registry)
    yield service
    await service.close()


def user(text: str) -> dict[str, Any]:
    return {"type": "user_input", "content": [{"type": "text", "text": text}]}


def output(text: str) -> dict[str, Any]:
    return {"type": "model_output", "content": [{"type": "text", "text": text}]}


async def create(service: InteractionService, **body: Any) -> dict[str, Any]:
    result = await service.create(TENANT, {"model": MODEL, **body})
    assert isinstance(result, dict)
    return result


async def upstream_id(service: InteractionService, local_id: str) -> str:
    record = await service.store.get(TENANT, local_id)
    assert record is not None and record.provider_state, "no upstream id stored"
    return record.provider_state["upstream_id"]


async def test_turns_chain_upstream_by_previous_id_and_resend_history_when_it_is_gone(
    service: InteractionService, upstream: Upstream
) -> None:
    first = await create(service, input="Hello there", system_instruction="Be nice.")
    assert first["status"] == "completed"
    assert first["steps"] == [output("turn 0: Hello there")]
    up1 = await upstream_id(service, first["id"])
    assert up1 != first["id"]
    remote1 = upstream.get(up1)
    assert remote1["input"] == [user("Hello there")]
    assert "previous_interaction_id" not in remote1
    assert remote1["system_instruction"] == "Be nice."
    assert remote1["steps"] == [user("Hello there"), *first["steps"]]  # GET: input, then output
    assert first["usage"] == remote1["usage"]

    # Turn 2 sends only the new input, chained upstream by the parent's upstream id.
    second = await create(service, input="Second", previous_interaction_id=first["id"])
    assert second["steps"] == [output("turn 1: Second")]  # the upstream model saw a chain
    up2 = await upstream_id(service, second["id"])
    remote2 = upstream.get(up2)
    assert remote2["input"] == [user("Second")]
    assert remote2["previous_interaction_id"] == up1
    assert "system_instruction" not in remote2  # per-turn config is not inherited

    # The upstream loses turn 2: the next turn re-sends the whole history from our copy.
    upstream.delete(up2)
    third = await create(service, input="Third", previous_interaction_id=second["id"])
    assert third["status"] == "completed"
    assert third["steps"] == [output("turn 0: Third")]  # a new upstream root
    up3 = await upstream_id(service, third["id"])
    assert up3 not in (up1, up2)
    remote3 = upstream.get(up3)
    assert "previous_interaction_id" not in remote3
    assert remote3["input"] == [
        user("Hello there"), output("turn 0: Hello there"),
        user("Second"), output("turn 1: Second"),
        user("Third"),
    ]  # fmt: skip

    # ... and the chain continues statefully from the new upstream root.
    fourth = await create(service, input="Fourth", previous_interaction_id=third["id"])
    assert fourth["steps"] == [output("turn 1: Fourth")]
    remote4 = upstream.get(await upstream_id(service, fourth["id"]))
    assert remote4["input"] == [user("Fourth")]
    assert remote4["previous_interaction_id"] == up3


async def test_a_chain_started_on_another_provider_is_sent_whole(
    service: InteractionService, upstream: Upstream
) -> None:
    first = await service.create(TENANT, {"model": "scripted-local", "input": "from elsewhere"})
    assert first["steps"] == [output("echo: from elsewhere")]
    assert (await service.store.get(TENANT, first["id"])).provider_state is None

    second = await create(service, input="now on gemini", previous_interaction_id=first["id"])
    assert second["steps"] == [output("turn 0: now on gemini")]
    remote = upstream.get(await upstream_id(service, second["id"]))
    assert "previous_interaction_id" not in remote
    assert remote["input"] == [user("from elsewhere"), output("echo: from elsewhere"), user("now on gemini")]


async def test_function_calls_and_results_round_trip_through_the_upstream(
    service: InteractionService, upstream: Upstream
) -> None:
    tools = [{"type": "function", "name": "get_weather", "description": "Weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]  # fmt: skip
    first = await create(service, input="What is the weather?", tools=tools)
    assert first["status"] == "requires_action"
    thought, call = first["steps"]
    assert thought == {"type": "thought", "summary": [{"type": "text", "text": "I need the tool."}]}
    assert (call["type"], call["name"], call["arguments"]) == ("function_call", "get_weather", {"city": "Paris"})
    remote1 = upstream.get(await upstream_id(service, first["id"]))
    assert remote1["status"] == "requires_action"
    assert remote1["steps"][-1]["id"] == call["id"]  # the upstream's call id is kept

    result = {"type": "function_result", "call_id": call["id"], "name": "get_weather", "result": {"temp_c": 21}}
    second = await create(service, input=[result], tools=tools, previous_interaction_id=first["id"])
    assert second["status"] == "completed"
    assert second["steps"] == [output('result: {"temp_c": 21}')]
    remote2 = upstream.get(await upstream_id(service, second["id"]))
    assert remote2["input"] == [result]
    assert remote2["tools"] == tools


async def test_streamed_upstream_deltas_are_relayed(service: InteractionService) -> None:
    events = await service.create(TENANT, {"model": MODEL, "input": "stream me", "stream": True})
    assert not isinstance(events, dict)
    received = [event async for event in events]
    kinds = [e["event_type"] for e in received]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    deltas = [e["delta"]["text"] for e in received if e["event_type"] == "step.delta"]
    assert deltas == ["stre", "amed", " in ", "piec", "es"]
    local_id = received[0]["interaction"]["id"]
    assert (await service.get(TENANT, local_id))["steps"] == [output("streamed in pieces")]


async def test_upstream_error_event_becomes_a_provider_error(service: InteractionService) -> None:
    with pytest.raises(ProviderError) as info:
        await create(service, input="please fail429")
    assert info.value.status == 429 and "slow down" in info.value.message

    events = await service.create(TENANT, {"model": MODEL, "input": "fail429 again", "stream": True})
    received = [event async for event in events]
    assert received[-1]["event_type"] == "error"
    assert received[-1]["error"]["code"] == "RESOURCE_EXHAUSTED"
    local = await service.get(TENANT, received[0]["interaction"]["id"])
    assert local["status"] == "failed" and "slow down" in local["errors"][0]["message"]


async def test_upstream_http_errors_keep_their_status(upstream: Upstream) -> None:
    from interstate.server.providers.base import ModelTurn

    turn = ModelTurn(interaction_id="v1_local", model=MODEL, history=[], input=[user("hi")])
    wrong_key = GeminiMirrorProvider("not-the-key", base_url=upstream.url, retry_backoff=0)
    try:
        with pytest.raises(ProviderError) as info:
            [item async for item in wrong_key.generate(turn)]
    finally:
        await wrong_key.aclose()
    assert info.value.status == 401 and "API key not valid" in info.value.message
    assert upstream.url in info.value.message

    port = free_port()
    down = GeminiMirrorProvider(API_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=1, retry_backoff=0)
    try:
        with pytest.raises(ProviderError) as info:
            [item async for item in down.generate(turn)]
    finally:
        await down.aclose()
    assert info.value.status == 503 and f"127.0.0.1:{port}" in info.value.message
