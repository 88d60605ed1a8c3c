"""The asynchronous client (mirror of ``_sync``; only the I/O differs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Mapping, overload

import httpx

from interstate.errors import APIConnectionError
from interstate.types import Interaction

from ._config import (
    DEFAULT_MAX_RETRIES,
    NOT_GIVEN,
    BaseClient,
    NotGiven,
    TargetKind,
    TimeoutArg,
)
from ._resources import (
    Call,
    CreateParams,
    WaitSchedule,
    cancel_call,
    create_call,
    delete_call,
    get_call,
)
from ._retry import RetryAttempt
from ._extensions import AsyncExtensions
from ._streaming import AsyncStream

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncClient", "AsyncInteractions"]


class AsyncClient(BaseClient):
    """Asynchronous client for the Interactions API: the API of ``Client``, awaited.

    ``http_client`` takes an ``httpx.AsyncClient``; an injected client is not closed by
    ``aclose()``. Works under asyncio and trio.
    """

    @staticmethod
    async def _sleep(seconds: float) -> None:
        import anyio  # an httpx dependency; imported on first use to keep imports fast

        await anyio.sleep(seconds)

    _http: httpx.AsyncClient
    _asynchronous = True

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str = "v1",
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        idempotent_create: bool | None = None,
        _target: TargetKind | None = None,
        _transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            api_version=api_version,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            owns_http=http_client is None,
            idempotent_create=idempotent_create,
            target=_target,
        )
        self._http = http_client or httpx.AsyncClient(transport=_transport, timeout=self.timeout)
        if http_client is None:
            self._direct = _transport
        self.interactions = AsyncInteractions(self)
        #: interstate extensions (record, list, chain, metadata, export/import).
        self.interstate = AsyncExtensions(self)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        stream: bool = False,
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
    ) -> httpx.Response:
        """Send ``method {base_url}/{api_version}/{path}`` with retries and error mapping.

        Returns a 2xx/3xx response (unread and open when ``stream``; the caller closes it);
        raises ``APIStatusError`` subclasses and ``APIConnectionError``. ``idempotent=False``
        limits retries to failures where the server cannot have processed the request.
        """
        request = self._build_request(method, path, json=json, content=content, params=params,
                                      headers=headers, timeout=timeout, stream=stream)
        attempt = RetryAttempt(self.max_retries, idempotent=idempotent)
        while True:
            try:
                response = await self._send(request, stream=stream)
                if response.status_code >= 400 and stream:
                    await response.aread()
            except httpx.TransportError as exc:
                await self._sleep(attempt.after_error(exc))
                continue
            if response.status_code < 400:
                return response
            await self._sleep(attempt.after_status(response))

    async def _send(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        """See ``Client._send``."""
        if not self._sends_directly():
            return await self._http.send(request, stream=stream)
        response = await self._direct.handle_async_request(request)
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was injected."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncInteractions:
    """``client.interactions``: create, get, cancel, delete and wait."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _send(self, call: Call) -> Any:
        response = await self._client._request(call.method, call.path, **call.request_kwargs())
        if call.stream:
            return await AsyncStream.open(self._client, response, call)
        return call.finish(response)

    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[CreateParams]
    ) -> AsyncStream: ...
    @overload
    async def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[CreateParams]
    ) -> Interaction: ...
    async def create(
        self, *, stream: bool | None = None, **params: Unpack[CreateParams]
    ) -> Interaction | AsyncStream:
        """Create an interaction (``POST /{v}/interactions``).

        Exactly one of ``model`` / ``agent`` is required. ``stream=True`` returns an
        ``AsyncStream`` of events; otherwise the finished (or, with ``background=True``,
        running) Interaction.
        Invalid combinations raise ``ValueError`` before anything is sent.
        """
        return await self._send(create_call(params, stream=stream,
                                            idempotent=self._client.idempotent_create))

    @overload
    async def get(
        self,
        id: str,
        *,
        include_input: bool | None = None,
        stream: Literal[False] = False,
        last_event_id: None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
    ) -> Interaction: ...
    @overload
    async def get(
        self,
        id: str,
        *,
        include_input: bool | None = None,
        stream: Literal[True],
        last_event_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
    ) -> AsyncStream: ...
    async def get(
        self,
        id: str,
        *,
        include_input: bool | None = None,
        stream: bool = False,
        last_event_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
    ) -> Interaction | AsyncStream:
        """Fetch an interaction; ``stream=True`` replays its events (after ``last_event_id``)."""
        return await self._send(get_call(id, include_input=include_input, stream=stream,
                                         last_event_id=last_event_id,
                                         extra_headers=extra_headers, extra_query=extra_query,
                                         timeout=timeout))

    async def cancel(
        self,
        id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
    ) -> Interaction:
        """Cancel a running background interaction; returns it (``status`` ``cancelled``)."""
        return await self._send(cancel_call(id, extra_headers=extra_headers,
                                            extra_query=extra_query, timeout=timeout))

    async def delete(
        self,
        id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
    ) -> None:
        """Delete a stored interaction."""
        await self._send(delete_call(id, extra_headers=extra_headers,
                                     extra_query=extra_query, timeout=timeout))

    async def wait(
        self,
        id: str,
        *,
        timeout: float | None = 600.0,
        poll_interval: float = 0.25,
        max_poll_interval: float = 10.0,
        stream: bool = False,
    ) -> Interaction:
        """Wait until the interaction settles (completed, failed, cancelled, requires_action,
        ...) and return it.

        Polls ``GET`` every ``poll_interval`` seconds, doubling up to ``max_poll_interval``.
        ``stream=True`` follows the event stream instead (its read timeout is capped to the time
        left; the deadline is checked as events arrive), then fetches the final state.
        ``timeout`` is a deadline in seconds for the whole wait (None: no deadline); when it
        passes, ``WaitTimeoutError`` is raised with the last state seen.
        """
        schedule = WaitSchedule(id, timeout=timeout, poll_interval=poll_interval,
                                max_poll_interval=max_poll_interval, clock=self._client._clock)
        if stream:
            call = get_call(id, stream=True,
                            timeout=schedule.stream_timeout(self._client.timeout))
            call.resumable = False  # on a drop, fall back to polling, which keeps the deadline
            try:
                async with await self._send(call) as events:
                    async for _ in events:
                        if schedule.remaining() == 0.0:
                            break
            except APIConnectionError:
                pass
        while True:
            interaction = await self.get(id)
            delay = schedule.next_delay(interaction)
            if delay is None:
                return interaction
            await self._client._sleep(delay)
