"""The OpenAI-compatible provider against a fake chat-completions endpoint (loopback only).

The fake is a small Starlette app: most tests reach it through ``httpx.ASGITransport`` injected
as the provider's ``http_client``; the end-to-end test serves it with uvicorn on 127.0.0.1 and
runs real turns through an embedded interstate server and the interstate client.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from interstate.server.providers.base import (
    CloseStep,
    Delta,
    Finish,
    ModelTurn,
    OpenStep,
    ProviderError,
    ProviderRegistry,
)
from interstate.server.providers.openai import OpenAIProvider
from interstate.testing import free_port

Reply = Callable[[dict[str, Any]], Response]


# -- the fake endpoint ----------------------------------------------------------------------
def sse(chunks: list[dict[str, Any]], *, done: bool = True) -> Response:
    frames = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        frames.append("data: [DONE]\n\n")

    async def body():
        for frame in frames:
            yield frame.encode()

    return StreamingResponse(body(), media_type="text/event-stream")


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": choices, **extra}


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return chunk(
        None,
        usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    )


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if message["role"] == "user":
            return message["content"] if isinstance(message["content"], str) else "(parts)"
    return ""


def echo(body: dict[str, Any]) -> Response:
    text = "echo: " + last_user_text(body)
    return sse([chunk({"role": "assistant", "content": text[:5]}), chunk({"content": text[5:]}, "stop"),
                usage_chunk(10, 3)])  # fmt: skip


class FakeOpenAI:
    """Records each request; answers with queued replies, then with an echo."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.replies: list[Reply] = []

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return self.requests

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            reply = self.replies.pop(0) if self.replies else echo
            return reply(body)

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    def provider(self, **options: Any) -> OpenAIProvider:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app()))
        options.setdefault("retry_backoff", 0)
        return OpenAIProvider("http://fake.test/v1", http_client=client, **options)


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


def turn(**fields: Any) -> ModelTurn:
    values: dict[str, Any] = {
        "interaction_id": "v1_0123456789abcdef",
        "model": "llama3.2",
        "history": [],
        "input": [{"type": "user_input", "content": [{"type": "text", "text": "hi"}]}],
    }
    values.update(fields)
    return ModelTurn(**values)


async def collect(provider: OpenAIProvider, model_turn: ModelTurn) -> list[Any]:
    return [item async for item in provider.generate(model_turn)]


def steps_of(items: list[Any]) -> list[dict[str, Any]]:
    """Rebuild output steps from provider items the way the runner does."""
    from interstate.types.accumulate import StepAccumulator

    acc, index = StepAccumulator(), -1
    for item in items:
        if isinstance(item, OpenStep):
            index += 1
            acc.start(index, item.step)
        elif isinstance(item, Delta):
            acc.delta(index, item.delta)
        elif isinstance(item, CloseStep):
            acc.stop(index)
    return acc.steps


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


# -- request mapping --------------------------------------------------------------------------
async def test_history_input_tools_and_config_map_to_one_chat_request(fake: FakeOpenAI) -> None:
    provider = fake.provider(api_key="sk-local")
    weather = {"type": "object", "properties": {"city": {"type": "string"}}}
    history = [
        {"type": "user_input", "content": [text("What is the weather in Paris and Rome?")]},
        {"type": "thought", "signature": "c2ln", "summary": [text("plan")]},
        {"type": "model_output", "content": [text("Let me "), text("check.")]},
        {"type": "function_call", "id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"type": "function_call", "id": "call_b", "name": "get_weather", "arguments": {"city": "Rome"}},
        {"type": "function_result", "call_id": "call_a", "name": "get_weather", "result": {"temp_c": 21}},
        {"type": "function_result", "call_id": "call_b", "result": [text("sunny")]},
        {"type": "model_output", "content": [text("Paris 21C, Rome sunny.")]},
        {"type": "function_call", "id": "call_c", "name": "get_time", "arguments": {}},
        {"type": "function_result", "call_id": "call_c", "result": "12:00"},
    ]
    new_input = [
        {
            "type": "user_input",
            "content": [
                text("And this picture?"),
                {"type": "image", "uri": "https://example.test/a.png"},
                {"type": "image", "data": "iVBORw0KGgo=", "mime_type": "image/png", "resolution": "low"},
            ],
        }
    ]
    model_turn = turn(
        history=history,
        input=new_input,
        system_instruction="Be brief.",
        tools=[
            {"type": "function", "name": "get_weather", "description": "Weather", "parameters": weather},
            {"type": "function", "name": "get_time"},
        ],
        generation_config={
            "max_output_tokens": 64,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "stop_sequences": ["END"],
            "tool_choice": "any",
            "thinking_level": "low",
        },
        response_format={"type": "text", "mime_type": "application/json", "schema": {"type": "object"}},
    )
    await collect(provider, model_turn)

    [body] = fake.bodies
    assert fake.headers[0]["authorization"] == "Bearer sk-local"
    assert body["model"] == "llama3.2"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"id": "call_a", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"id": "call_b", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp_c": 21}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "sunny"},
        {
            "role": "assistant",
            "content": "Paris 21C, Rome sunny.",
            "tool_calls": [
                {"id": "call_c", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_c", "content": "12:00"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}},
                {"type": "image_url",
                 "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            ],
        },
    ]  # fmt: skip
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": weather}},
        {"type": "function", "function": {"name": "get_time"}},
    ]
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["seed"] == 7
    assert body["stop"] == ["END"]
    assert body["tool_choice"] == "required"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }
    assert "thinking_level" not in body and "max_output_tokens" not in body


def test_function_call_without_text_is_its_own_assistant_message() -> None:
    provider = OpenAIProvider("http://unused.test/v1")
    body = provider.chat_request(
        turn(
            history=[
                {"type": "user_input", "content": [text("time?")]},
                {"type": "function_call", "id": "c1", "name": "now", "arguments": {"tz": "UTC"}},
                {"type": "function_result", "call_id": "c1", "result": {"t": 1}},
                {"type": "function_call", "id": "c2", "name": "now", "arguments": {}},
                {"type": "function_result", "call_id": "c2", "result": {"t": 2}},
            ],
            input=[{"type": "user_input", "content": [text("a"), text("b")]}],
        )
    )
    assert body["messages"] == [
        {"role": "user", "content": "time?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "now", "arguments": '{"tz": "UTC"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"t": 1}'},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": '{"t": 2}'},
        {"role": "user", "content": "a\nb"},
    ]  # fmt: skip
    assert "tools" not in body and "tool_choice" not in body and "system" not in json.dumps(body)


@pytest.mark.parametrize(
    ("choice", "expected_choice", "expected_tools"),
    [
        ("auto", "auto", ["a", "b"]),
        ("none", "none", ["a", "b"]),
        ("any", "required", ["a", "b"]),
        ({"allowed_tools": {"mode": "any", "tools": ["b"]}},
         {"type": "function", "function": {"name": "b"}}, ["b"]),
        ({"allowed_tools": {"mode": "auto", "tools": ["a"]}}, "auto", ["a"]),
        ({"allowed_tools": {"mode": "any", "tools": ["a", "b"]}}, "required", ["a", "b"]),
    ],
)  # fmt: skip
def test_tool_choice_mapping(choice: Any, expected_choice: Any, expected_tools: list[str]) -> None:
    provider = OpenAIProvider("http://unused.test/v1")
    tools = [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}]
    body = provider.chat_request(turn(tools=tools, generation_config={"tool_choice": choice}))
    assert body["tool_choice"] == expected_choice
    assert [t["function"]["name"] for t in body["tools"]] == expected_tools


def test_json_without_schema_and_plain_text_formats() -> None:
    provider = OpenAIProvider("http://unused.test/v1")
    body = provider.chat_request(turn(response_format=[{"type": "text", "mime_type": "application/json"}]))
    assert body["response_format"] == {"type": "json_object"}
    body = provider.chat_request(turn(response_format={"type": "text", "mime_type": "text/plain"}))
    assert "response_format" not in body


async def test_unsupported_tools_and_media_fail_with_400_before_any_request(fake: FakeOpenAI) -> None:
    provider = fake.provider()
    with pytest.raises(ProviderError) as info:
        await collect(provider, turn(tools=[{"type": "google_search"}]))
    assert info.value.status == 400 and "google_search" in info.value.message
    video = {"type": "user_input", "content": [text("see"), {"type": "video", "uri": "gs://b/v.mp4"}]}
    with pytest.raises(ProviderError) as info:
        await collect(provider, turn(input=[video]))
    assert info.value.status == 400 and "video" in info.value.message
    assert fake.bodies == []


# -- streamed output --------------------------------------------------------------------------
async def test_streamed_reasoning_and_text_become_thought_and_model_output_steps(fake: FakeOpenAI) -> None:
    fake.replies.append(lambda body: sse([
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Thinking "}),
        chunk({"reasoning_content": "hard."}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo!"}),
        chunk({}, "stop"),
        chunk(None, usage={"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
                           "completion_tokens_details": {"reasoning_tokens": 2}}),
    ]))  # fmt: skip
    items = await collect(fake.provider(), turn())

    assert [type(i).__name__ for i in items] == [
        "OpenStep", "Delta", "Delta", "CloseStep", "OpenStep", "Delta", "Delta", "CloseStep", "Finish",
    ]  # fmt: skip
    assert items[0].step == {"type": "thought"}
    assert items[1].delta == {"type": "thought_summary", "content": text("Thinking ")}
    assert items[4].step == {"type": "model_output", "content": []}
    assert items[5].delta == {"type": "text", "text": "Hel"}
    assert steps_of(items) == [
        {"type": "thought", "summary": [text("Thinking hard.")]},
        {"type": "model_output", "content": [text("Hello!")]},
    ]
    finish = items[-1]
    assert finish.status is None
    assert finish.usage == {
        "total_input_tokens": 12, "total_output_tokens": 5, "total_tokens": 17, "total_thought_tokens": 2,
    }  # fmt: skip


async def test_tool_call_chunks_are_accumulated_into_function_call_steps(fake: FakeOpenAI) -> None:
    fake.replies.append(lambda body: sse([
        chunk({"role": "assistant", "content": "Checking."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_p", "type": "function",
                               "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_r", "type": "function",
                               "function": {"name": "get_weather", "arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": ' "Rome"}'}}]}),
        chunk({"tool_calls": [{"index": 2, "type": "function", "function": {"name": "now"}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(20, 9),
    ]))  # fmt: skip
    items = await collect(fake.provider(), turn(tools=[{"type": "function", "name": "get_weather"}]))
    assert steps_of(items) == [
        {"type": "model_output", "content": [text("Checking.")]},
        {"type": "function_call", "id": "call_p", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"type": "function_call", "id": "call_r", "name": "get_weather", "arguments": {"city": "Rome"}},
        {"type": "function_call", "id": "call_6789abcdef_2", "name": "now", "arguments": {}},
    ]  # fmt: skip
    assert items[-1] == Finish(status=None, usage={
        "total_input_tokens": 20, "total_output_tokens": 9, "total_tokens": 29})  # fmt: skip


async def test_finish_reason_length_ends_the_turn_incomplete(fake: FakeOpenAI) -> None:
    fake.replies.append(lambda body: sse([chunk({"content": "Once upon"}, "length")], done=False))
    items = await collect(fake.provider(), turn())
    assert steps_of(items) == [{"type": "model_output", "content": [text("Once upon")]}]
    assert items[-1] == Finish(status="incomplete", usage=None)


async def test_a_non_streamed_json_reply_is_accepted(fake: FakeOpenAI) -> None:
    completion = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Sure.", "reasoning_content": "ok",
                        "tool_calls": [{"id": "call_x", "type": "function",
                                        "function": {"name": "f", "arguments": "{\"n\": 1}"}}]},
        }],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }  # fmt: skip
    fake.replies.append(lambda body: JSONResponse(completion))
    items = await collect(fake.provider(), turn())
    assert steps_of(items) == [
        {"type": "thought", "summary": [text("ok")]},
        {"type": "model_output", "content": [text("Sure.")]},
        {"type": "function_call", "id": "call_x", "name": "f", "arguments": {"n": 1}},
    ]
    assert items[-1].usage == {"total_input_tokens": 3, "total_output_tokens": 4, "total_tokens": 7}


# -- errors and retries ---------------------------------------------------------------------
async def test_429_becomes_provider_error_429_with_retry_after(fake: FakeOpenAI) -> None:
    fake.replies.append(lambda body: JSONResponse(
        {"error": {"message": "Rate limit reached", "type": "rate_limit"}}, 429, headers={"Retry-After": "7"}))  # fmt: skip
    with pytest.raises(ProviderError) as info:
        await collect(fake.provider(max_retries=0), turn())
    error = info.value
    assert error.status == 429 and error.code == "RESOURCE_EXHAUSTED"
    assert error.retry_after == 7 and error.headers == {"retry-after": "7"}
    assert "Rate limit reached" in error.message and "http://fake.test/v1" in error.message
    assert len(fake.bodies) == 1


async def test_429_and_5xx_are_retried_before_any_output(fake: FakeOpenAI) -> None:
    fake.replies += [
        lambda body: JSONResponse({"error": {"message": "busy"}}, 429, headers={"Retry-After": "0"}),
        lambda body: Response("upstream exploded", 502),
    ]
    items = await collect(fake.provider(max_retries=2), turn())
    assert steps_of(items) == [{"type": "model_output", "content": [text("echo: hi")]}]
    assert len(fake.bodies) == 3 and fake.bodies[0] == fake.bodies[2]


async def test_client_errors_are_not_retried_and_keep_their_status(fake: FakeOpenAI) -> None:
    fake.replies.append(lambda body: JSONResponse({"error": "model 'nope' not found"}, 404))
    with pytest.raises(ProviderError) as info:
        await collect(fake.provider(max_retries=3), turn(model="nope"))
    assert info.value.status == 404 and "model 'nope' not found" in info.value.message
    assert len(fake.bodies) == 1


async def test_retries_run_out_with_the_last_status(fake: FakeOpenAI) -> None:
    fake.replies += [lambda body: Response("down", 503)] * 2
    with pytest.raises(ProviderError) as info:
        await collect(fake.provider(max_retries=1), turn())
    assert info.value.status == 503 and "down" in info.value.message
    assert len(fake.bodies) == 2


async def test_an_error_chunk_mid_stream_fails_the_turn(fake: FakeOpenAI) -> None:
    fake.replies.append(lambda body: sse([chunk({"content": "par"}), {"error": {"message": "OOM"}}]))
    provider = fake.provider()
    with pytest.raises(ProviderError) as info:
        await collect(provider, turn())
    assert info.value.status == 502 and "OOM" in info.value.message




async def test_connection_refused_is_a_503_naming_the_base_url() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    provider = OpenAIProvider(base_url, max_retries=1, retry_backoff=0)
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, turn())
    finally:
        await provider.aclose()
    assert info.value.status == 503 and info.value.code == "UNAVAILABLE"
    assert base_url in info.value.message


async def test_aclose_leaves_an_injected_client_open(fake: FakeOpenAI) -> None:
    provider = fake.provider()
    await provider.aclose()
    assert not provider._client.is_closed
    own = OpenAIProvider("http://127.0.0.1:9/v1")
    client = own._http()
    await own.aclose()
    assert client.is_closed


# -- end to end: embedded server + client + fake endpoint over loopback HTTP -----------------
class ServedApp:
    """A Starlette app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "ServedApp":
        self.thread.start()
        ready = threading.Event()
        while not self.server.started and self.thread.is_alive():
            ready.wait(0.01)
        assert self.server.started, "the fake endpoint did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def test_two_turn_chain_through_an_embedded_server(tmp_path: Path) -> None:
    from interstate.client import Client
    from interstate.server.embedded import EmbeddedServer

    fake = FakeOpenAI()
    fake.replies.append(lambda body: sse([
        chunk({"role": "assistant", "content": "Let me look."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_w", "type": "function",
                               "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(30, 8),
    ]))  # fmt: skip
    fake.replies.append(lambda body: sse([chunk({"content": "It is 3C in Oslo."}, "stop"), usage_chunk(50, 6)]))
    tools = [{"type": "function", "name": "get_weather", "description": "Weather by city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]  # fmt: skip
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with ServedApp(fake.app()) as served:
        provider = OpenAIProvider(f"http://127.0.0.1:{served.port}/v1", retry_backoff=0)
        server = EmbeddedServer.start(url, providers=ProviderRegistry(default=provider))
        try:
            with Client.from_url(url) as client:
                first = client.interactions.create(
                    model="qwen3", input="Weather in Oslo?", tools=tools, system_instruction="Be terse."
                )
                assert first.status == "requires_action"
                call = first.steps[-1]
                assert (call.type, call.id, call.name, call.arguments) == (
                    "function_call", "call_w", "get_weather", {"city": "Oslo"})  # fmt: skip
                assert first.usage.total_input_tokens == 30

                second = client.interactions.create(
                    model="qwen3",
                    previous_interaction_id=first.id,
                    input=[{"type": "function_result", "call_id": "call_w", "name": "get_weather",
                            "result": {"temp_c": 3}}],
                    tools=tools,
                )  # fmt: skip
                assert second.status == "completed"
                assert second.output_text == "It is 3C in Oslo."
                assert second.usage.total_tokens == 56
        finally:
            server.close()

    first_request, second_request = fake.bodies
    assert first_request["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Weather in Oslo?"},
    ]
    # The second turn re-sends the first turn's messages (the endpoint keeps no state), without
    # the system instruction, which applies to one turn only.
    assert second_request["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_w", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_w", "content": '{"temp_c": 3}'},
    ]  # fmt: skip
    assert second_request["tools"][0]["function"]["name"] == "get_weather"
    assert second_request["model"] == "qwen3"
