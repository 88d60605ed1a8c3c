"""Retry decisions, backoff and error mapping, shared by the sync and async I/O loops.

The loops only do I/O; every decision is made here, so both flavours behave identically::

    attempt = RetryAttempt(client, request, idempotent=...)
    while True:
        try:
            response = send(request)            # read the body too when status >= 400
        except httpx.TransportError as exc:
            sleep(attempt.after_error(exc))     # raises APIConnectionError when giving up
            continue
        if response.status_code < 400:
            return response
        sleep(attempt.after_status(response))   # raises the status error when giving up
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

import httpx

from interstate.errors import APIConnectionError, APIStatusError, APITimeoutError
from interstate.errors import status_error_from_response

__all__ = ["RetryAttempt", "backoff_delay", "retry_after", "connection_error"]

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0

#: Transport failures worth another attempt (anything else, e.g. a bad URL scheme, is not).
_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: Failures that happen before the request can have reached the server.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Statuses that say the request was not processed, so even a non-idempotent create may retry.
_NOT_PROCESSED_STATUSES = frozenset({408, 429, 503})

_MAYBE_CREATED = (
    "The request may have reached the server, so the interaction may have been created; it "
    "was not retried because creates on this client are not idempotent "
    "(idempotent_create=False, the default for Google's endpoint). Check before creating it "
    "again: on an interstate server, list interactions by the labels you set on the create; "
    "on Google, look for it by id or webhook. Interstate servers deduplicate retried creates, "
    "so idempotent_create=True is safe there."
)


def _is_retryable_status(response: httpx.Response) -> bool:
    """408/409/429/5xx, except a 409 ``ALREADY_EXISTS``: a lasting conflict (e.g. an
    interstate record under a taken id), not a transient one worth repeating."""
    status_code = response.status_code
    if status_code == 409:
        try:
            return response.json()["error"]["code"] != "ALREADY_EXISTS"
        except (ValueError, KeyError, TypeError):
            return True
    return status_code in (408, 429) or status_code >= 500


def backoff_delay(retry_number: int) -> float:
    """0.5 s·2ⁿ capped at 8 s, times a random factor in [0.75, 1] (as the official SDK)."""
    return min(INITIAL_DELAY * 2**retry_number, MAX_DELAY) * random.uniform(0.75, 1.0)


def retry_after(response: httpx.Response) -> float | None:
    """The delay the server asked for (``retry-after-ms``, or ``Retry-After`` in seconds or as
    an HTTP date), if positive."""
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            seconds = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            value = headers["retry-after"].strip()
            try:
                seconds = float(value)
            except ValueError:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
        else:
            return None
    except (ValueError, TypeError, OverflowError):
        return None
    return seconds if seconds > 0 else None


def connection_error(
    exc: httpx.TransportError, *, note: str = "", may_have_been_created: bool = False
) -> APIConnectionError:
    """The interstate error for an httpx transport failure."""
    try:
        request: httpx.Request | None = exc.request
        where = f" ({request.method} {request.url})"
    except RuntimeError:
        request, where = None, ""
    if isinstance(exc, httpx.TimeoutException):
        cls: type[APIConnectionError] = APITimeoutError
        text = (
            f"Request timed out{where}: {type(exc).__name__}. Raise timeout= (per client or "
            "per call) if the server is slow, or check that it is reachable."
        )
    else:
        cls = APIConnectionError
        detail = str(exc) or type(exc).__name__
        text = (
            f"Connection error{where}: {detail}. Check that the server is running and the URL "
            "is right (an interstate server is started with `interstate serve`)."
        )
    return cls(" ".join(p for p in (text, note) if p), request=request,
               may_have_been_created=may_have_been_created)


class RetryAttempt:
    """Retry bookkeeping for one logical call (all attempts of one request).

    ``idempotent=False`` (a create the server cannot deduplicate) still retries failures that
    certainly happened before the server processed the request: connect errors and pool
    timeouts, and 408 / 429 / 503 answers. Failures after a possible acceptance (read timeouts,
    dropped connections, other 5xx) are raised with a message saying so.
    """

    def __init__(self, max_retries: int, *, idempotent: bool) -> None:
        self.max_retries = max_retries
        self.idempotent = idempotent
        self.retries = 0

    def _note(self) -> str:
        return f"Gave up after {self.retries + 1} attempts." if self.retries else ""

    def after_error(self, exc: httpx.TransportError) -> float:
        """The delay before the next attempt after ``exc``; raises when not retrying."""
        retryable = isinstance(exc, _RETRYABLE_ERRORS)
        blocked = retryable and not self.idempotent and not isinstance(exc, _NOT_SENT_ERRORS)
        if retryable and not blocked and self.retries < self.max_retries:
            return self._advance(None)
        note = _MAYBE_CREATED if blocked else self._note()
        raise connection_error(exc, note=note, may_have_been_created=blocked) from exc

    def after_status(self, response: httpx.Response) -> float:
        """The delay before the next attempt after an error status (whose body has been
        read); raises the mapped ``APIStatusError`` when not retrying."""
        status = response.status_code
        retryable = _is_retryable_status(response)
        blocked = retryable and not self.idempotent and status not in _NOT_PROCESSED_STATUSES
        if retryable and not blocked and self.retries < self.max_retries:
            return self._advance(response)
        error: APIStatusError = status_error_from_response(
            response, note=_MAYBE_CREATED if blocked and status >= 500 else self._note()
        )
        raise error

    def _advance(self, response: httpx.Response | None) -> float:
        delay = (retry_after(response) if response is not None else None) or backoff_delay(
            self.retries
        )
        self.retries += 1
        return delay
