"""HTTP plumbing shared by the network providers (OpenAI-compatible, Gemini mirror).

Both open one streamed POST per turn. Opening it is retried (tenacity, exponential backoff with
jitter, ``Retry-After`` honoured) on connect errors, 429 and 5xx answers — all failures where no
output has been streamed yet. Once the response has started, nothing is retried: the caller has
already seen events. Every failure becomes a ``ProviderError`` whose message names the upstream.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from interstate.client._retry import retry_after as retry_after_of
from interstate.server.providers.base import Provider, ProviderError

#: The longest ``Retry-After`` a provider waits for before retrying; longer ones fail at once.
MAX_RETRY_AFTER = 30.0


class HttpProvider(Provider):
    """A provider that talks to one upstream over HTTP with its own (or an injected) client."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout,
        http_client: httpx.AsyncClient | None,
        max_retries: int,
        retry_backoff: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self._client = http_client
        self._owns_client = http_client is None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # created on first use, inside the loop that serves turns
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class UpstreamError(ProviderError):
    """A ``ProviderError`` that also says whether opening the request may be retried."""

    def __init__(
        self, status: int, message: str, *, retry_after: float | None = None, retryable: bool = False
    ) -> None:
        super().__init__(status, message, retry_after=retry_after)
        self.retryable = retryable


def upstream_message(response: httpx.Response) -> str:
    """The error message in an upstream error body (OpenAI, Google or plain text shapes)."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return error
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(error.get(key), str):
                    return error[key]
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return text[:500]


def transport_error(exc: httpx.TransportError, where: str) -> UpstreamError:
    """A connection failure as a ProviderError: 503 (retryable) when nothing was sent, 504 for
    a timeout after sending, 502 for anything else."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return UpstreamError(
            503, f"Cannot connect to {where}: {exc or type(exc).__name__}", retryable=True
        )
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(504, f"{where} did not answer in time ({type(exc).__name__})")
    return UpstreamError(502, f"The connection to {where} failed: {exc or type(exc).__name__}")


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.retryable


def _wait(backoff: float) -> Callable[[Any], float]:
    exponential = wait_exponential_jitter(initial=backoff, max=8.0, jitter=backoff)

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), MAX_RETRY_AFTER)
        return float(exponential(state)) if backoff > 0 else 0.0

    return wait


async def open_stream(
    client: httpx.AsyncClient,
    request: Callable[[], httpx.Request],
    *,
    where: str,
    max_retries: int,
    backoff: float,
) -> httpx.Response:
    """Send ``request()`` (rebuilt on each attempt) and return the open response of a 2xx
    answer; the caller reads and closes it. Raises ``UpstreamError`` once retries are spent."""

    async def once() -> httpx.Response:
        try:
            response = await client.send(request(), stream=True)
        except httpx.TransportError as exc:
            raise transport_error(exc, where) from exc
        if response.is_success:
            return response
        try:
            await response.aread()
        except httpx.TransportError as exc:
            raise transport_error(exc, where) from exc
        finally:
            await response.aclose()
        status = response.status_code
        retry_after = retry_after_of(response)
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            retryable = False  # waiting that long is the caller's decision
        else:
            retryable = status == 429 or status >= 500
        if status < 400:  # a redirect or other non-success answer we do not follow
            raise UpstreamError(502, f"{where} answered HTTP {status}, not a success")
        raise UpstreamError(
            status,
            f"{where} answered HTTP {status}: {upstream_message(response)}",
            retry_after=retry_after,
            retryable=retryable,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(max_retries, 0) + 1),
        wait=_wait(backoff),
        retry=retry_if_exception(_is_retryable),
        reraise=True,
    )
    return await retrying(once)
