"""Streaming (SSE parsing, resume after a dropped connection) and wait() of interstate.client."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Iterator

import httpx
import pytest

from interstate.client import AsyncClient, AsyncStream, Client, Stream
from interstate.errors import (
    APIConnectionError,
    APIResponseError,
    BadRequestError,
    NotFoundError,
    WaitTimeoutError,
)
from interstate.types import (
    ErrorEvent,
    InteractionCompletedEvent,
    InteractionCreatedEvent,
    InteractionStatusUpdate,
    StepDelta,
    StepStart,
    StepStop,
    UnknownEvent,
)

BASE = "http://interstate.test"
IID = "v1_stream"


def events() -> list[dict[str, Any]]:
    """A complete stream of one interaction; every event has an event_id."""
    raw = [
        {"event_type": "interaction.created",
         "interaction": {"id": IID, "status": "in_progress", "model": "m"}},
        {"event_type": "interaction.status_update", "interaction_id": IID, "status": "in_progress"},
        {"event_type": "step.start", "index": 0, "step": {"type": "model_output", "content": []}},
        {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": "Hello "}},
        {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": "world"}},
        {"event_type": "step.stop", "index": 0},
        {"event_type": "interaction.completed",
         "interaction": {"id": IID, "status": "completed", "usage": {"total_tokens": 3}}},
    ]
    return [{**event, "event_id": f"{IID}:{n}"} for n, event in enumerate(raw, start=1)]


def sse(event: dict[str, Any], *, event_line: bool = True) -> bytes:
    lines = [f"id: {event.get('event_id', '')}"] if event.get("event_id") else []
    if event_line:
        lines.append(f"event: {event['event_type']}")
    lines.append(f"data: {json.dumps(event)}")
    return ("\n".join(lines) + "\n\n").encode()


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent in chunks that optionally ends with a dropped connection."""

    def __init__(self, chunks: list[bytes], *, cut: bool = False) -> None:
        self.chunks = chunks
        self.cut = cut
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.cut:
            raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.cut:
            raise httpx.ReadError("connection reset by peer")

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def stream_response(chunks: list[bytes], *, cut: bool = False) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"},
                          stream=Body(chunks, cut=cut))


class Server:
    """MockTransport handler: serves queued responses, records requests."""

    def __init__(self, *responses: Any) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.responses.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply


def make(server: Server, sleeps: list[float] | None = None, **kwargs: Any) -> Client:
    client = Client(api_key="k", base_url=BASE,
                    http_client=httpx.Client(transport=httpx.MockTransport(server)), **kwargs)
    client._sleep = (sleeps if sleeps is not None else []).append  # type: ignore[method-assign]
    return client


def make_async(server: Server, sleeps: list[float] | None = None, **kwargs: Any) -> AsyncClient:
    client = AsyncClient(api_key="k", base_url=BASE,
                         http_client=httpx.AsyncClient(transport=httpx.MockTransport(server)),
                         **kwargs)
    recorded = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    client._sleep = sleep  # type: ignore[method-assign]
    return client


EXPECTED_TYPES = [InteractionCreatedEvent, InteractionStatusUpdate, StepStart, StepDelta,
                  StepDelta, StepStop, InteractionCompletedEvent]


# --- parsing ------------------------------------------------------------------------------------


def test_create_stream_request_and_parse() -> None:
    chunks = [b": keepalive\n\n", b"event: ping\n\n"]
    for n, event in enumerate(events()):
        chunks.append(sse(event, event_line=n % 2 == 0))  # with and without event: lines
    chunks += [b"data: [DONE]\n\n", sse({"event_type": "step.delta", "event_id": "after-done"})]
    server = Server(stream_response(chunks))
    client = make(server)
    with client.interactions.create(model="m", input="hi", stream=True) as stream:
        assert isinstance(stream, Stream)
        got = list(stream)
    request = server.requests[0]
    assert json.loads(request.content) == {"model": "m", "input": "hi", "stream": True}
    assert request.headers["accept"] == "text/event-stream"
    assert [type(e) for e in got] == EXPECTED_TYPES
    assert "".join(e.delta.text for e in got if isinstance(e, StepDelta)) == "Hello world"
    assert got[-1].interaction.usage.total_tokens == 3
    assert stream.interaction_id == IID
    assert stream.last_event_id == f"{IID}:7"


def test_unknown_event_types_and_crlf_framing() -> None:
    body = (
        "data: " + json.dumps({"event_type": "interaction.future", "x": 1}) + "\r\n\r\n"
        + "data: " + json.dumps({"event_type": "error", "error": {"code": "boom", "message": "m"}})
        + "\r\n\r\n"
    ).encode()
    server = Server(stream_response([body]))
    got = list(make(server).interactions.get(IID, stream=True))
    assert isinstance(got[0], UnknownEvent) and got[0].event_type == "interaction.future"
    assert isinstance(got[1], ErrorEvent) and got[1].error.code == "boom"
    assert server.requests[0].url.query == b"stream=true"
    assert len(server.requests) == 1  # an error event is terminal: no resume


def test_get_stream_query() -> None:
    server = Server(stream_response([sse(e) for e in events()[3:]]))
    with make(server).interactions.get(IID, stream=True, last_event_id=f"{IID}:3") as stream:
        got = list(stream)
    assert len(got) == 4
    assert dict(server.requests[0].url.params) == {"last_event_id": f"{IID}:3", "stream": "true"}
    assert server.requests[0].headers["accept"] == "text/event-stream"


def test_error_status_raises_at_the_call() -> None:
    server = Server(httpx.Response(400, json={"error": {"code": "invalid", "message": "no"}}))
    with pytest.raises(BadRequestError):
        make(server).interactions.create(model="m", input="x", stream=True)


def test_json_reply_to_a_stream_request_raises_at_the_call() -> None:
    server = Server(httpx.Response(200, json={"id": IID, "status": "completed"}))
    with pytest.raises(APIResponseError, match="text/event-stream"):
        make(server).interactions.create(model="m", input="x", stream=True)


def test_non_json_data_raises() -> None:
    server = Server(stream_response([b"data: hello\n\n"]))
    with pytest.raises(APIResponseError, match="not a JSON object"):
        list(make(server).interactions.get(IID, stream=True))


def test_close_early_closes_the_response() -> None:
    body = Body([sse(e) for e in events()])
    server = Server(httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body))
    stream = make(server).interactions.get(IID, stream=True)
    assert isinstance(next(stream), InteractionCreatedEvent)
    stream.close()
    assert body.closed
    with pytest.raises(StopIteration):
        next(stream)


# --- resume -------------------------------------------------------------------------------------


def test_resume_after_dropped_connection() -> None:
    all_events = events()
    # The server replays from the event after last_event_id, but also repeats that one.
    first = stream_response([sse(e) for e in all_events[:4]], cut=True)
    second = stream_response([sse(e) for e in all_events[3:]])
    server = Server(first, second)
    sleeps: list[float] = []
    stream = make(server, sleeps).interactions.create(model="m", input="hi", stream=True)
    got = list(stream)
    assert [e.event_id for e in got] == [e["event_id"] for e in all_events]
    assert [type(e) for e in got] == EXPECTED_TYPES
    resume = server.requests[1]
    assert resume.method == "GET"
    assert resume.url.path == f"/v1/interactions/{IID}"
    assert dict(resume.url.params) == {"last_event_id": f"{IID}:4", "stream": "true"}
    assert resume.headers["accept"] == "text/event-stream"
    assert "x-interstate-idempotency-key" not in resume.headers
    assert len(sleeps) == 1


def test_resume_after_early_eof() -> None:
    all_events = events()
    server = Server(stream_response([sse(e) for e in all_events[:2]]),  # closes, no completion
                    stream_response([sse(e) for e in all_events[2:]]))
    got = list(make(server).interactions.get(IID, stream=True))
    assert len(got) == len(all_events)
    assert dict(server.requests[1].url.params) == {"last_event_id": f"{IID}:2", "stream": "true"}


def test_no_resume_after_completion() -> None:
    server = Server(stream_response([sse(e) for e in events()], cut=True))
    assert len(list(make(server).interactions.get(IID, stream=True))) == 7
    assert len(server.requests) == 1


def test_resume_gives_up_after_max_retries_without_progress() -> None:
    all_events = events()
    server = Server(stream_response([sse(e) for e in all_events[:2]], cut=True),
                    *[stream_response([], cut=True) for _ in range(2)])
    stream = make(server, max_retries=2).interactions.get(IID, stream=True)
    with pytest.raises(APIConnectionError, match="last_event_id"):
        list(stream)
    assert len(server.requests) == 3


def test_repeated_early_eof_raises() -> None:
    server = Server(stream_response([sse(e) for e in events()[:2]]),
                    stream_response([]), stream_response([]))
    with pytest.raises(APIConnectionError, match="ended before the interaction finished"):
        list(make(server, max_retries=2).interactions.get(IID, stream=True))
    assert len(server.requests) == 3


def test_drops_with_progress_do_not_use_up_reconnects() -> None:
    all_events = events()
    parts = [all_events[:2], all_events[2:4], all_events[4:6], all_events[6:]]
    server = Server(*(stream_response([sse(e) for e in part], cut=True) for part in parts))
    got = list(make(server, max_retries=1).interactions.get(IID, stream=True))
    assert [e.event_id for e in got] == [e["event_id"] for e in all_events]
    assert len(server.requests) == 4


def test_resume_failure_status_propagates() -> None:
    server = Server(stream_response([sse(e) for e in events()[:2]], cut=True),
                    httpx.Response(404, json={"error": {"code": "not_found", "message": "gone"}}))
    with pytest.raises(NotFoundError):
        list(make(server).interactions.get(IID, stream=True))


def test_no_resume_with_store_false() -> None:
    server = Server(stream_response([sse(e) for e in events()[:3]], cut=True))
    stream = make(server).interactions.create(model="m", input="x", store=False, stream=True)
    with pytest.raises(APIConnectionError):
        list(stream)
    assert len(server.requests) == 1


def test_no_resume_without_an_interaction_id() -> None:
    event = {"event_type": "step.start", "index": 0, "step": {"type": "thought"}, "event_id": "e1"}
    server = Server(stream_response([sse(event)], cut=True))
    stream = make(server).interactions.create(model="m", input="x", stream=True)
    with pytest.raises(APIConnectionError):
        list(stream)
    assert len(server.requests) == 1


async def test_async_stream_parse_and_resume() -> None:
    all_events = events()
    server = Server(stream_response([b": ping\n\n"] + [sse(e) for e in all_events[:5]], cut=True),
                    stream_response([sse(e) for e in all_events[4:]] + [b"data: [DONE]\n\n"]))
    sleeps: list[float] = []
    client = make_async(server, sleeps)
    stream = await client.interactions.create(model="m", input="hi", stream=True)
    assert isinstance(stream, AsyncStream)
    async with stream:
        got = [event async for event in stream]
    assert [type(e) for e in got] == EXPECTED_TYPES
    assert [e.event_id for e in got] == [e["event_id"] for e in all_events]
    assert dict(server.requests[1].url.params) == {"last_event_id": f"{IID}:5", "stream": "true"}
    assert len(sleeps) == 1


async def test_async_stream_error_status_raises_at_the_call() -> None:
    server = Server(httpx.Response(404, json={"error": {"code": "nf", "message": "no"}}))
    with pytest.raises(NotFoundError):
        await make_async(server).interactions.get(IID, stream=True)


# --- wait ---------------------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def status(value: str) -> httpx.Response:
    return httpx.Response(200, json={"id": IID, "status": value})


def timed_client(server: Server, fake: FakeTime) -> Client:
    client = make(server)
    client._sleep, client._clock = fake.sleep, fake.clock  # type: ignore[method-assign]
    return client


def test_wait_polls_until_settled() -> None:
    server = Server(*(status(s) for s in ["queued", "in_progress", "in_progress", "in_progress",
                                          "in_progress", "requires_action"]))
    fake = FakeTime()
    result = timed_client(server, fake).interactions.wait(IID, poll_interval=1.0,
                                                          max_poll_interval=4.0)
    assert result.status == "requires_action"
    assert fake.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(r.url.query == b"stream=false" for r in server.requests)


def test_wait_times_out_with_last_state() -> None:
    server = Server(*(status("in_progress") for _ in range(10)))
    fake = FakeTime()
    with pytest.raises(WaitTimeoutError) as info:
        timed_client(server, fake).interactions.wait(IID, timeout=5.0, poll_interval=1.0)
    assert isinstance(info.value, TimeoutError)
    assert info.value.interaction is not None and info.value.interaction.status == "in_progress"
    assert "timeout=" in str(info.value)
    assert fake.sleeps == [1.0, 2.0, 2.0]  # the last poll happens exactly at the deadline
    assert len(server.requests) == 4


def test_wait_stream_follows_events_then_gets() -> None:
    server = Server(stream_response([sse(e) for e in events()]), status("completed"))
    fake = FakeTime()
    result = timed_client(server, fake).interactions.wait(IID, stream=True)
    assert result.status == "completed"
    assert server.requests[0].url.query == b"stream=true"
    assert server.requests[1].url.query == b"stream=false"
    assert fake.sleeps == []


def test_wait_stream_falls_back_to_polling_on_drop() -> None:
    server = Server(stream_response([sse(e) for e in events()[:2]], cut=True),
                    status("in_progress"), status("completed"))
    fake = FakeTime()
    result = timed_client(server, fake).interactions.wait(IID, stream=True)
    assert result.status == "completed"
    assert len(server.requests) == 3 and fake.sleeps == [0.25]


async def test_async_wait() -> None:
    server = Server(status("in_progress"), status("in_progress"), status("completed"))
    fake = FakeTime()
    client = make_async(server)
    client._sleep, client._clock = fake.asleep, fake.clock  # type: ignore[method-assign]
    result = await client.interactions.wait(IID, poll_interval=0.5)
    assert result.status == "completed" and fake.sleeps == [0.5, 1.0]
    server.responses = [status("in_progress")] * 5
    with pytest.raises(WaitTimeoutError):
        await client.interactions.wait(IID, timeout=1.0, poll_interval=0.5)


async def test_async_wait_stream() -> None:
    server = Server(stream_response([sse(e) for e in events()]), status("completed"))
    client = make_async(server)
    result = await client.interactions.wait(IID, stream=True)
    assert result.status == "completed"
    assert [r.url.query for r in server.requests] == [b"stream=true", b"stream=false"]
