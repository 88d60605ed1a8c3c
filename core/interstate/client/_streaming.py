"""Server-sent event streams of typed interaction events, with automatic resume.

A stream remembers the interaction id (from ``interaction.created``, or the id given to
``get``) and the last ``event_id`` it yielded. When the connection drops — a transport error,
or the server closing before ``interaction.completed`` / ``error`` — it reconnects with
``GET /{v}/interactions/{id}?stream=true&last_event_id=<last>`` and carries on, skipping any
event it has already yielded. Reconnects back off like retries and stop after ``max_retries``
drops in a row without a new event. A stream cannot resume without an interaction id, nor for
``store=false`` (the server keeps nothing to replay), nor once it has yielded events that carry
no ``event_id``; then a dropped connection raises ``APIConnectionError`` and an early close
simply ends the iteration.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, AsyncGenerator, AsyncIterator, Generator, Iterator

import httpx
from httpx_sse import EventSource, ServerSentEvent

from interstate.errors import APIConnectionError, APIResponseError
from interstate.types import (
    ErrorEvent,
    InteractionCompletedEvent,
    InteractionCreatedEvent,
    InteractionSSEEvent,
    parse_event,
)

from ._resources import Call, check_event_stream
from ._retry import backoff_delay, connection_error

if TYPE_CHECKING:
    from ._async import AsyncClient
    from ._sync import Client

__all__ = ["Stream", "AsyncStream"]


class _StreamState:
    """Everything about a stream except the I/O: decoding, dedup and the resume decision."""

    def __init__(self, call: Call, max_reconnects: int) -> None:
        self.call = call
        self.interaction_id = call.interaction_id
        self.last_event_id = call.last_event_id
        self.max_reconnects = max_reconnects
        self.drops = 0  # consecutive drops without a new event
        self.finished = False  # a terminal event (interaction.completed / error) was seen
        self.done = False  # data: [DONE] was seen
        self._seen: set[str] = set()
        self._anonymous = False  # an event without event_id was yielded

    def decode(self, sse: ServerSentEvent) -> InteractionSSEEvent | None:
        """The event in ``sse``, or None for keepalives, duplicates and ``[DONE]``."""
        data = sse.data.strip()
        if not data:
            return None
        if data == "[DONE]":
            self.done = True
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise APIResponseError(
                f"The server sent an event whose data is not a JSON object: {data[:200]!r}. "
                "Check that the URL points at an Interactions API server."
            )
        event = parse_event(payload)
        event_id = event.event_id
        if event_id is not None:
            if event_id in self._seen:
                return None
            self._seen.add(event_id)
            self.last_event_id = event_id
        else:
            self._anonymous = True
        if isinstance(event, InteractionCreatedEvent) and event.interaction.id:
            self.interaction_id = event.interaction.id
        if isinstance(event, (InteractionCompletedEvent, ErrorEvent)):
            self.finished = True
        self.drops = 0
        return event

    def after_drop(self, error: httpx.TransportError | None) -> Call | None:
        """After the connection ended without ``[DONE]``: the GET that resumes the stream, or
        None when the stream is over. Raises when it was cut and cannot be resumed."""
        if self.finished:
            return None
        if not (self.call.resumable and self.interaction_id and not self._anonymous):
            if error is None:
                return None  # the server ended it; there is nothing to resume from
            raise connection_error(error) from error
        if self.drops < self.max_reconnects:
            self.drops += 1
            return self.call.resume(self.interaction_id, self.last_event_id)
        hint = (
            f"Resume later with get({self.interaction_id!r}, stream=True"
            + (f", last_event_id={self.last_event_id!r})." if self.last_event_id else ").")
        )
        if error is not None:
            raise connection_error(error, note=hint) from error
        raise APIConnectionError(
            f"The event stream of interaction {self.interaction_id!r} ended before the "
            f"interaction finished, {self.drops + 1} times in a row. {hint}"
        )

    def backoff(self) -> float:
        return backoff_delay(self.drops - 1)


class _StreamBase:
    _state: _StreamState
    response: httpx.Response

    @property
    def interaction_id(self) -> str | None:
        """The id of the streamed interaction, once known."""
        return self._state.interaction_id

    @property
    def last_event_id(self) -> str | None:
        """The ``event_id`` of the last event yielded (pass to ``get(..., last_event_id=)``)."""
        return self._state.last_event_id


class Stream(_StreamBase):
    """Iterator over the events of one interaction; a context manager; call ``close()`` when
    stopping early. ``response`` is the current ``httpx.Response``."""

    def __init__(self, client: Client, response: httpx.Response, call: Call) -> None:
        try:
            check_event_stream(response)
        except APIResponseError:
            response.close()
            raise
        self.response = response
        self._client = client
        self._state = _StreamState(call, client.max_retries)
        self._iterator = self._events()

    def __iter__(self) -> Iterator[InteractionSSEEvent]:
        return self

    def __next__(self) -> InteractionSSEEvent:
        return next(self._iterator)

    def _events(self) -> Generator[InteractionSSEEvent, None, None]:
        state = self._state
        while True:
            error: httpx.TransportError | None = None
            try:
                check_event_stream(self.response)
                for sse in EventSource(self.response).iter_sse():
                    event = state.decode(sse)
                    if state.done:
                        return
                    if event is not None:
                        yield event
            except httpx.TransportError as exc:
                error = exc
            finally:
                self.response.close()
            resume = state.after_drop(error)
            if resume is None:
                return
            self._client._sleep(state.backoff())
            self.response = self._client._request(resume.method, resume.path,
                                                  **resume.request_kwargs())

    def close(self) -> None:
        self._iterator.close()
        self.response.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(_StreamBase):
    """Async iterator over the events of one interaction; an async context manager; call
    ``aclose()`` when stopping early."""

    def __init__(self, client: AsyncClient, response: httpx.Response, call: Call) -> None:
        # Construct through ``AsyncStream.open``, which closes the response on a bad reply.
        self.response = response
        self._client = client
        self._state = _StreamState(call, client.max_retries)
        self._iterator = self._events()

    @classmethod
    async def open(cls, client: AsyncClient, response: httpx.Response, call: Call) -> AsyncStream:
        try:
            check_event_stream(response)
        except APIResponseError:
            await response.aclose()
            raise
        return cls(client, response, call)

    def __aiter__(self) -> AsyncIterator[InteractionSSEEvent]:
        return self

    async def __anext__(self) -> InteractionSSEEvent:
        return await self._iterator.__anext__()

    async def _events(self) -> AsyncGenerator[InteractionSSEEvent, None]:
        state = self._state
        while True:
            error: httpx.TransportError | None = None
            try:
                check_event_stream(self.response)
                async for sse in EventSource(self.response).aiter_sse():
                    event = state.decode(sse)
                    if state.done:
                        return
                    if event is not None:
                        yield event
            except httpx.TransportError as exc:
                error = exc
            finally:
                await self.response.aclose()
            resume = state.after_drop(error)
            if resume is None:
                return
            await self._client._sleep(state.backoff())
            self.response = await self._client._request(resume.method, resume.path,
                                                        **resume.request_kwargs())

    async def aclose(self) -> None:
        await self._iterator.aclose()
        await self.response.aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

