"""Request shape of interstate.client: paths, query, headers, bodies, validation, parsing."""

from __future__ import annotations

import json
from typing import Any, Callable

import httpx
import pytest

from interstate.client import AsyncClient, Client
from interstate.errors import APIResponseError
from interstate.types import Interaction, TextContent, UserInputStep

BASE = "http://interstate.test"
DONE = {"id": "v1_abc", "status": "completed", "steps": []}


class Recorder:
    """MockTransport handler that records requests and answers with ``reply(request)``."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.reply = reply or (lambda request: httpx.Response(200, json=DONE))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def make_client(recorder: Recorder, **kwargs: Any) -> Client:
    kwargs.setdefault("api_key", "test-key")
    kwargs.setdefault("base_url", BASE)
    return Client(http_client=httpx.Client(transport=httpx.MockTransport(recorder)), **kwargs)


def make_async_client(recorder: Recorder, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("api_key", "test-key")
    kwargs.setdefault("base_url", BASE)
    transport = httpx.MockTransport(recorder)
    return AsyncClient(http_client=httpx.AsyncClient(transport=transport), **kwargs)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def client(rec: Recorder) -> Client:
    return make_client(rec)


# --- create -------------------------------------------------------------------------------------


def test_create_minimal_request(client: Client, rec: Recorder) -> None:
    result = client.interactions.create(model="gemini-3-flash-preview", input="Hello?")
    req = rec.last
    assert req.method == "POST"
    assert str(req.url) == f"{BASE}/v1/interactions"
    assert rec.body() == {"model": "gemini-3-flash-preview", "input": "Hello?"}
    assert req.headers["x-goog-api-key"] == "test-key"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["accept"] == "application/json"
    assert req.headers["user-agent"].startswith("interstate/")
    assert len(req.headers["x-interstate-idempotency-key"]) >= 16
    assert isinstance(result, Interaction)
    assert result.id == "v1_abc" and result.status == "completed"


def test_idempotency_key_differs_between_calls(client: Client, rec: Recorder) -> None:
    client.interactions.create(model="m", input="a")
    client.interactions.create(model="m", input="b")
    keys = {r.headers["x-interstate-idempotency-key"] for r in rec.requests}
    assert len(keys) == 2


def test_create_all_fields_and_extras(client: Client, rec: Recorder) -> None:
    client.interactions.create(
        model="m",
        input="x",
        previous_interaction_id="v1_prev",
        system_instruction="Be terse.",
        tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
        generation_config={"temperature": 0.2, "max_output_tokens": 128},
        response_format={"type": "text", "mime_type": "application/json", "schema": {}},
        store=False,
        background=True,
        labels={"team": "x", "run": ""},
        safety_settings=[{"type": "harassment", "threshold": "block_none"}],
        service_tier="flex",
        webhook_config={"uris": ["https://hook"]},
        environment="env-1",
        continuation_token="tok",
        stream=False,
        extra_body={"my_extra": 1},
        extra_headers={"X-Custom": "1"},
        extra_query={"foo": "bar"},
    )
    req = rec.last
    assert req.url.params["foo"] == "bar"
    assert req.headers["x-custom"] == "1"
    assert rec.body() == {
        "model": "m",
        "input": "x",
        "previous_interaction_id": "v1_prev",
        "system_instruction": "Be terse.",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
        "generation_config": {"temperature": 0.2, "max_output_tokens": 128},
        "response_format": {"type": "text", "mime_type": "application/json", "schema": {}},
        "store": False,
        "background": True,
        "labels": {"team": "x", "run": ""},
        "safety_settings": [{"type": "harassment", "threshold": "block_none"}],
        "service_tier": "flex",
        "webhook_config": {"uris": ["https://hook"]},
        "environment": "env-1",
        "continuation_token": "tok",
        "stream": False,
        "my_extra": 1,
    }


def test_agent_body_and_none_values_omitted(client: Client, rec: Recorder) -> None:
    client.interactions.create(
        agent="deep-research-preview-04-2026",
        agent_config={"type": "deep-research", "thinking_summaries": "auto"},
        background=True,
        input="research X",
        model=None,
        store=None,
    )
    assert rec.body() == {
        "agent": "deep-research-preview-04-2026",
        "agent_config": {"type": "deep-research", "thinking_summaries": "auto"},
        "background": True,
        "input": "research X",
    }


@pytest.mark.parametrize(
    "value",
    [
        "plain string",
        {"type": "text", "text": "single block"},
        [{"type": "text", "text": "a"}, {"type": "image", "uri": "https://x/y.png"}],
        [{"type": "user_input", "content": [{"type": "text", "text": "hi"}]},
         {"type": "model_output", "content": [{"type": "text", "text": "hello"}]}],
        [{"type": "function_result", "call_id": "c1", "name": "f", "result": {"ok": True}}],
    ],
    ids=["string", "content", "content-list", "step-list", "function-result"],
)
def test_input_shapes_sent_as_is(client: Client, rec: Recorder, value: Any) -> None:
    client.interactions.create(model="m", input=value)
    assert rec.body()["input"] == value


def test_pydantic_models_are_serialised(client: Client, rec: Recorder) -> None:
    step = UserInputStep(content=[TextContent(text="typed")])
    client.interactions.create(model="m", input=[step])
    assert rec.body()["input"] == [{"type": "user_input", "content": [{"type": "text", "text": "typed"}]}]
    client.interactions.create(model="m", input=[TextContent(text="a"), TextContent(text="b")])
    assert rec.body()["input"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"model": "m", "agent": "a"}, "not both"),
        ({"input": "x"}, "neither"),
        ({"agent": "a", "generation_config": {"temperature": 1}}, "generation_config"),
        ({"model": "m", "labels": {"Bad": "x"}}, "label"),
        ({"model": "m", "labels": {"k": "x" * 64}}, "63"),
    ],
)
def test_validation_fails_before_any_request(
    client: Client, rec: Recorder, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        client.interactions.create(**kwargs)
    assert rec.requests == []


def test_unknown_keyword_is_a_type_error(client: Client, rec: Recorder) -> None:
    with pytest.raises(TypeError, match="extra_body"):
        client.interactions.create(model="m", input="x", temprature=1)  # type: ignore[call-arg]
    assert rec.requests == []


def test_no_api_key_no_header() -> None:
    rec = Recorder()
    client = make_client(rec, api_key=None)
    client.interactions.get("v1_abc")
    assert "x-goog-api-key" not in rec.last.headers


def test_client_headers_and_api_version() -> None:
    rec = Recorder()
    client = make_client(rec, api_version="v1beta", headers={"x-team": "a"},
                         base_url=BASE + "/proxy/prefix/")
    client.interactions.create(model="m", input="x", extra_headers={"X-Goog-Api-Key": "override"})
    assert str(rec.last.url) == f"{BASE}/proxy/prefix/v1beta/interactions"
    assert rec.last.headers["x-team"] == "a"
    assert rec.last.headers.get_list("x-goog-api-key") == ["override"]


# --- get / cancel / delete ----------------------------------------------------------------------


def test_get_always_sends_stream_false(client: Client, rec: Recorder) -> None:
    client.interactions.get("v1_abc")
    assert rec.last.method == "GET"
    assert rec.last.url.path == "/v1/interactions/v1_abc"
    assert rec.last.url.query == b"stream=false"
    assert rec.last.headers["content-type"] == "application/json"
    client.interactions.get("v1_abc", include_input=True, extra_query={"x": "1"})
    assert dict(rec.last.url.params) == {"include_input": "true", "stream": "false", "x": "1"}


def test_get_escapes_the_id(client: Client, rec: Recorder) -> None:
    client.interactions.get("a/b c")
    assert rec.last.url.raw_path.startswith(b"/v1/interactions/a%2Fb%20c?")


def test_last_event_id_requires_stream(client: Client, rec: Recorder) -> None:
    with pytest.raises(ValueError, match="stream=True"):
        client.interactions.get("v1_abc", last_event_id="e1")  # type: ignore[call-overload]
    assert rec.requests == []


def test_cancel_and_delete(rec: Recorder) -> None:
    rec.reply = lambda request: (
        httpx.Response(200, json={}) if request.method == "DELETE"
        else httpx.Response(200, json={"id": "v1_abc", "status": "cancelled"})
    )
    client = make_client(rec)
    cancelled = client.interactions.cancel("v1_abc")
    assert cancelled.status == "cancelled"
    req = rec.last
    assert (req.method, req.url.path, req.url.query) == ("POST", "/v1/interactions/v1_abc/cancel", b"")
    assert req.content == b""
    assert req.headers["content-length"] == "0"
    assert client.interactions.delete("v1_abc") is None
    assert (rec.last.method, rec.last.url.path) == ("DELETE", "/v1/interactions/v1_abc")


def test_delete_accepts_any_body(rec: Recorder) -> None:
    rec.reply = lambda request: httpx.Response(200, text="")
    assert make_client(rec).interactions.delete("v1_abc") is None


# --- response parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="hello", headers={"content-type": "text/plain"}),
        httpx.Response(200, content=b"{not json", headers={"content-type": "application/json"}),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(302, headers={"location": "/elsewhere"}),
    ],
    ids=["text-plain", "bad-json", "not-an-object", "redirect"],
)
def test_unusable_success_responses(rec: Recorder, response: httpx.Response) -> None:
    rec.reply = lambda request: response
    with pytest.raises(APIResponseError, match="Unusable response") as info:
        make_client(rec).interactions.get("v1_abc")
    assert info.value.status_code == response.status_code


@pytest.mark.parametrize(
    "body, charset",
    [
        ('{"id": "v1_big", "status": "completed", "novel": 123456789012345678901234}', "utf-8"),
        ('{"id": "v1_utf16", "status": "completed", "labels": {"k": "caf\u00e9"}}', "utf-16"),
    ],
    ids=["int-beyond-64-bits", "utf-16-body"],
)
def test_bodies_parse_exactly(rec: Recorder, body: str, charset: str) -> None:
    """Integers past 64 bits stay integers, and a UTF-16 body is JSON too (orjson, tried for
    speed, turns such an int into a float and refuses UTF-16: not a parser for responses)."""
    expected = json.loads(body)
    rec.reply = lambda request: httpx.Response(
        200, content=body.encode(charset), headers={"content-type": f"application/json; charset={charset}"}
    )
    interaction = make_client(rec).interactions.get(expected["id"])
    assert interaction.to_wire() == expected


def test_unknown_fields_are_kept(rec: Recorder) -> None:
    payload = {"id": "v1_x", "status": "brand_new_status", "object": "interaction", "novel": {"a": 1},
               "steps": [{"type": "model_output", "content": [{"type": "text", "text": "Hi"}]},
                         {"type": "future_step", "x": 1}]}
    rec.reply = lambda request: httpx.Response(200, json=payload)
    interaction = make_client(rec).interactions.get("v1_x")
    assert interaction.status == "brand_new_status"
    assert interaction.output_text == "Hi"
    assert interaction.to_wire() == payload


# --- timeouts and lifecycle ---------------------------------------------------------------------


def test_timeouts_default_client_and_per_call(rec: Recorder) -> None:
    client = make_client(rec)
    client.interactions.get("v1_abc")
    assert rec.last.extensions["timeout"] == {"connect": 10.0, "read": 60.0, "write": 60.0, "pool": 60.0}
    client.interactions.get("v1_abc", timeout=5)
    assert rec.last.extensions["timeout"] == {"connect": 5, "read": 5, "write": 5, "pool": 5}
    client.interactions.get("v1_abc", timeout=None)
    assert rec.last.extensions["timeout"]["read"] is None
    configured = make_client(rec, timeout=httpx.Timeout(3.0, connect=1.0))
    configured.interactions.create(model="m", input="x")
    assert rec.last.extensions["timeout"]["connect"] == 1.0
    assert rec.last.extensions["timeout"]["read"] == 3.0


def test_injected_client_stays_open(rec: Recorder) -> None:
    http = httpx.Client(transport=httpx.MockTransport(rec))
    with Client(base_url=BASE, http_client=http) as client:
        client.interactions.get("v1_abc")
    assert not http.is_closed


def test_owned_client_is_closed() -> None:
    client = Client(base_url=BASE)
    with client:
        pass
    assert client._http.is_closed


def test_defaults_point_at_google() -> None:
    client = Client("k")
    assert client.base_url == "https://generativelanguage.googleapis.com"
    assert client.target == "google"
    assert client.supports_extensions is False
    assert client.idempotent_create is False
    assert Client(base_url=BASE).idempotent_create is True
    assert Client(base_url=BASE, idempotent_create=False).idempotent_create is False
    with pytest.raises(ValueError, match="max_retries"):
        Client(max_retries=-1)


# --- async --------------------------------------------------------------------------------------


async def test_async_request_shapes(rec: Recorder) -> None:
    async with make_async_client(rec) as client:
        created = await client.interactions.create(model="m", input="Hello?", stream=False,
                                                   extra_body={"x": 1})
        assert isinstance(created, Interaction)
        assert rec.body() == {"model": "m", "input": "Hello?", "stream": False, "x": 1}
        assert rec.last.headers["x-goog-api-key"] == "test-key"
        await client.interactions.get("v1_abc", include_input=False)
        assert rec.last.url.query == b"include_input=false&stream=false"
        await client.interactions.cancel("v1_abc")
        assert rec.last.url.path == "/v1/interactions/v1_abc/cancel"
        assert await client.interactions.delete("v1_abc") is None
        assert rec.last.method == "DELETE"


async def test_async_validation_before_request(rec: Recorder) -> None:
    client = make_async_client(rec)
    with pytest.raises(ValueError, match="not both"):
        await client.interactions.create(model="m", agent="a", input="x")
    assert rec.requests == []
