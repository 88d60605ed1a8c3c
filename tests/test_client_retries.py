"""Error mapping, retries, backoff and the create-retry (idempotency) rules of interstate.client."""

from __future__ import annotations

import email.utils
import time
from typing import Any, Callable

import httpx
import pytest

from interstate.client import AsyncClient, Client
from interstate.client import _retry
from interstate.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

BASE = "http://interstate.test"
OK = {"id": "v1_abc", "status": "completed"}
Reply = Callable[[httpx.Request], httpx.Response]


class Script:
    """MockTransport handler answering with a list of replies (responses, exceptions or callables),
    the last one repeated; records requests."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply


def error(status: int, body: Any = None, **headers: str) -> httpx.Response:
    if body is None:
        body = {"error": {"code": "some_code", "message": f"failure {status}"}}
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers={"content-type": "text/plain", **headers})
    return httpx.Response(status, json=body, headers=headers)


def ok() -> httpx.Response:
    return httpx.Response(200, json=OK)


def make(script: Script, sleeps: list[float], **kwargs: Any) -> Client:
    client = Client(api_key="k", base_url=BASE,
                    http_client=httpx.Client(transport=httpx.MockTransport(script)), **kwargs)
    client._sleep = sleeps.append  # type: ignore[method-assign]
    return client


def make_async(script: Script, sleeps: list[float], **kwargs: Any) -> AsyncClient:
    client = AsyncClient(api_key="k", base_url=BASE,
                         http_client=httpx.AsyncClient(transport=httpx.MockTransport(script)),
                         **kwargs)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client._sleep = sleep  # type: ignore[method-assign]
    return client


@pytest.fixture
def sleeps() -> list[float]:
    return []


# --- error mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (418, APIStatusError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_status_errors_map_to_classes(sleeps: list[float], status: int, cls: type) -> None:
    script = Script(error(status))
    with pytest.raises(cls) as info:
        make(script, sleeps, max_retries=0).interactions.get("v1_abc")
    err = info.value
    assert type(err) is cls
    assert isinstance(err, APIStatusError) and isinstance(err, APIError)
    assert err.status_code == status
    assert err.code == "some_code"
    assert err.body == {"error": {"code": "some_code", "message": f"failure {status}"}}
    assert err.message == f"failure {status}"
    assert str(err).startswith(f"Error code: {status} some_code - failure {status}.")
    assert err.response is not None and err.request is not None
    assert len(script.requests) == 1


def test_google_style_integer_code(sleeps: list[float]) -> None:
    body = {"error": {"code": 400, "message": "Bad model.", "status": "INVALID_ARGUMENT"}}
    with pytest.raises(BadRequestError) as info:
        make(Script(error(400, body)), sleeps).interactions.create(model="m", input="x")
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.message == "Bad model."
    assert "INVALID_ARGUMENT" in str(info.value)


def test_text_plain_error_body(sleeps: list[float]) -> None:
    with pytest.raises(NotFoundError) as info:
        make(Script(error(404, "no such page")), sleeps).interactions.get("v1_abc")
    assert info.value.body == "no such page"
    assert info.value.code is None
    assert info.value.message == "no such page"
    assert "no such page" in str(info.value)


def test_messages_say_what_to_do(sleeps: list[float]) -> None:
    with pytest.raises(AuthenticationError, match="API key"):
        make(Script(error(401)), sleeps).interactions.get("v1_abc")


# --- retry counts and backoff -------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_statuses_retry_then_succeed(sleeps: list[float], status: int) -> None:
    script = Script(error(status), error(status), ok())
    result = make(script, sleeps).interactions.get("v1_abc")
    assert result.id == "v1_abc"
    assert len(script.requests) == 3
    assert len(sleeps) == 2


def test_gives_up_after_max_retries(sleeps: list[float]) -> None:
    script = Script(error(500))
    with pytest.raises(InternalServerError, match="5 attempts"):
        make(script, sleeps).interactions.get("v1_abc")
    assert len(script.requests) == 5  # 1 + max_retries (4)
    # 0.5·2ⁿ capped at 8 s, jitter factor in [0.75, 1]
    for n, delay in enumerate(sleeps):
        nominal = min(0.5 * 2**n, 8.0)
        assert 0.75 * nominal <= delay <= nominal


def test_backoff_is_capped() -> None:
    assert all(6.0 <= _retry.backoff_delay(10) <= 8.0 for _ in range(20))


@pytest.mark.parametrize("max_retries", [0, 2])
def test_max_retries_configurable(sleeps: list[float], max_retries: int) -> None:
    script = Script(error(503))
    with pytest.raises(InternalServerError):
        make(script, sleeps, max_retries=max_retries).interactions.get("v1_abc")
    assert len(script.requests) == max_retries + 1
    assert len(sleeps) == max_retries


def test_non_retryable_status_is_not_retried(sleeps: list[float]) -> None:
    script = Script(error(400), ok())
    with pytest.raises(BadRequestError):
        make(script, sleeps).interactions.get("v1_abc")
    assert len(script.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ],
)
def test_retry_after_is_honoured(sleeps: list[float], headers: dict[str, str], expected: float) -> None:
    script = Script(error(429, **headers), ok())
    make(script, sleeps).interactions.get("v1_abc")
    assert sleeps == [expected]


def test_retry_after_http_date(sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    script = Script(error(503, **{"retry-after": when}), ok())
    make(script, sleeps).interactions.get("v1_abc")
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_unusable_retry_after_falls_back_to_backoff(sleeps: list[float], value: str) -> None:
    script = Script(error(429, **{"retry-after": value}), ok())
    make(script, sleeps).interactions.get("v1_abc")
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5


# --- connection errors and timeouts -------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ReadError("reset"),
     httpx.RemoteProtocolError("peer closed"), httpx.PoolTimeout("pool")],
)
def test_transport_errors_are_retried(sleeps: list[float], exc: Exception) -> None:
    script = Script(exc, exc, ok())
    assert make(script, sleeps).interactions.get("v1_abc").status == "completed"
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_connection_error_after_retries(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError, match="interstate serve") as info:
        make(script, sleeps, max_retries=1).interactions.get("v1_abc")
    assert not isinstance(info.value, APITimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(script.requests) == 2


def test_timeout_error_after_retries(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError, match="timeout="):
        make(script, sleeps, max_retries=2).interactions.get("v1_abc")
    assert len(script.requests) == 3


def test_local_protocol_errors_are_not_retried(sleeps: list[float]) -> None:
    script = Script(httpx.UnsupportedProtocol("ftp"))
    with pytest.raises(APIConnectionError):
        make(script, sleeps).interactions.get("v1_abc")
    assert len(script.requests) == 1


# --- create: retry only when safe ---------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow connect"), httpx.PoolTimeout("pool"),
     error(408), error(429), error(503)],
    ids=["connect-error", "connect-timeout", "pool-timeout", "408", "429", "503"],
)
def test_create_retries_when_certainly_not_processed(sleeps: list[float], failure: Any) -> None:
    script = Script(failure, ok())
    client = make(script, sleeps, idempotent_create=False)
    assert client.interactions.create(model="m", input="x").id == "v1_abc"
    assert len(script.requests) == 2
    keys = {r.headers["x-interstate-idempotency-key"] for r in script.requests}
    assert len(keys) == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ReadError("reset"), httpx.RemoteProtocolError("closed")],
    ids=["read-timeout", "read-error", "protocol-error"],
)
def test_create_not_retried_after_possible_acceptance(sleeps: list[float], failure: Exception) -> None:
    script = Script(failure, ok())
    client = make(script, sleeps, idempotent_create=False)
    with pytest.raises(APIConnectionError, match="may have been created") as info:
        client.interactions.create(model="m", input="x")
    assert info.value.may_have_been_created is True
    assert len(script.requests) == 1 and sleeps == []


@pytest.mark.parametrize("status", [500, 502, 504])
def test_create_5xx_not_retried_when_not_idempotent(sleeps: list[float], status: int) -> None:
    script = Script(error(status), ok())
    with pytest.raises(InternalServerError, match="may have been created"):
        make(script, sleeps, idempotent_create=False).interactions.create(model="m", input="x")
    assert len(script.requests) == 1


def test_create_409_not_retried_when_not_idempotent(sleeps: list[float]) -> None:
    script = Script(error(409), ok())
    with pytest.raises(ConflictError):
        make(script, sleeps, idempotent_create=False).interactions.create(model="m", input="x")
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ReadError("reset"), error(500), error(409)],
    ids=["read-timeout", "read-error", "500", "409"],
)
def test_idempotent_create_retries_with_same_key(sleeps: list[float], failure: Any) -> None:
    script = Script(failure, failure, ok())
    client = make(script, sleeps, idempotent_create=True)
    assert client.interactions.create(model="m", input="x").id == "v1_abc"
    assert len(script.requests) == 3
    keys = [r.headers["x-interstate-idempotency-key"] for r in script.requests]
    assert len(set(keys)) == 1 and keys[0]
    assert all(r.content == script.requests[0].content for r in script.requests)


def test_google_target_defaults_to_non_idempotent_create(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"), ok())
    client = Client(api_key="k", http_client=httpx.Client(transport=httpx.MockTransport(script)))
    client._sleep = sleeps.append  # type: ignore[method-assign]
    assert client.target == "google"
    with pytest.raises(APITimeoutError, match="may have been created"):
        client.interactions.create(model="m", input="x")
    assert len(script.requests) == 1
    # get is idempotent, so it retries even on Google
    script.replies = [httpx.ReadTimeout("slow"), ok()]
    assert client.interactions.get("v1_abc").id == "v1_abc"


def test_own_idempotency_key_is_used(sleeps: list[float]) -> None:
    script = Script(ok())
    make(script, sleeps).interactions.create(
        model="m", input="x", extra_headers={"X-Interstate-Idempotency-Key": "mine"})
    assert script.requests[0].headers.get_list("x-interstate-idempotency-key") == ["mine"]


def test_cancel_and_delete_retry(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"), error(500), ok())
    client = make(script, sleeps, idempotent_create=False)
    client.interactions.cancel("v1_abc")
    assert len(script.requests) == 3
    script.replies = [httpx.ReadError("reset"), httpx.Response(200, json={})]
    client.interactions.delete("v1_abc")
    assert len(script.requests) == 5


# --- async --------------------------------------------------------------------------------------


async def test_async_retries_and_mapping(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError("refused"), error(429, **{"retry-after": "2"}), ok())
    client = make_async(script, sleeps)
    assert (await client.interactions.get("v1_abc")).id == "v1_abc"
    assert len(script.requests) == 3
    assert sleeps[1] == 2.0
    script.replies = [error(404)]
    with pytest.raises(NotFoundError):
        await client.interactions.get("v1_missing")


async def test_async_create_not_retried_after_possible_acceptance(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"), ok())
    client = make_async(script, sleeps, idempotent_create=False)
    with pytest.raises(APITimeoutError, match="may have been created"):
        await client.interactions.create(model="m", input="x")
    assert len(script.requests) == 1
    script.replies = [httpx.ReadTimeout("slow"), ok()]
    client.idempotent_create = True
    await client.interactions.create(model="m", input="x")
    assert len(script.requests) == 3
    assert (script.requests[1].headers["x-interstate-idempotency-key"]
            == script.requests[2].headers["x-interstate-idempotency-key"])
