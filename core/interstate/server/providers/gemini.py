"""Gemini in mirror mode: every local turn is also an interaction on Google's Interactions API.

The server keeps the authoritative chain; each local turn maps to one upstream interaction whose
id is stored as the turn's ``provider_state`` (``{"upstream_id": ...}``). For a new turn:

* the parent has an upstream id → ``POST /{v}/interactions`` with only this turn's input and
  ``previous_interaction_id`` = that id (Google holds the history: nothing is re-sent and its
  cache applies);
* no upstream id (a root turn, a parent that was recorded or imported, or a chain that started
  on another provider) → the whole history plus the input, as one step array;
* the upstream answers 404 for the previous id (its copy expired or was deleted) → the request
  is sent once more with the whole history from our own copy, starting a new upstream chain.

Per-turn configuration (``system_instruction``, ``tools``, ``generation_config``,
``response_format``) is sent on every request, as the API requires. The upstream SSE events are
re-emitted as provider items; a ``requires_continuation`` hop is continued automatically, so the
local turn holds the whole answer. Upstream 4xx/5xx answers and ``error`` events fail the turn
with a ``ProviderError`` of the same status and the upstream's message.
"""

from __future__ import annotations

import json
import logging
from typing import Any, AsyncIterator

import httpx
from httpx_sse import EventSource

from interstate.redact import redact
from interstate.server.providers._http import HttpProvider, open_stream, transport_error
from interstate.server.providers.base import (
    CloseStep,
    Delta,
    Finish,
    ModelTurn,
    OpenStep,
    ProviderError,
    ProviderItem,
    step_items,
)

log = logging.getLogger("interstate.server")

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
#: Upstream hops followed for one turn when the upstream asks for continuation.
MAX_CONTINUATIONS = 16

#: Google's error codes (gRPC names) in ``error`` events → HTTP statuses.
_GRPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
#: Final statuses passed on to the local turn as they are.
_FINAL = frozenset({"completed", "requires_action", "incomplete", "budget_exceeded", "cancelled"})
#: Request fields that apply to one turn and must be sent on every request.
_PER_TURN = ("system_instruction", "tools", "generation_config", "response_format")


def error_status(code: Any) -> int:
    """The HTTP status for an ``error`` event's ``code`` (a gRPC name, or a number)."""
    if isinstance(code, int) and 400 <= code < 600:
        return code
    if isinstance(code, str):
        if code.isdigit() and 400 <= int(code) < 600:
            return int(code)
        return _GRPC_STATUS.get(code.upper(), 502)
    return 502


class _Hop:
    """What one upstream response told us."""

    def __init__(self) -> None:
        self.upstream_id: str | None = None
        self.status: str | None = None
        self.usage: dict[str, Any] | None = None
        self.continuation_token: str | None = None
        self.completed = False


class GeminiMirrorProvider(HttpProvider):
    """Mirror mode over Google's Interactions API (or any server that speaks it)."""

    name = "gemini"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        api_version: str = "v1beta",
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        if not api_key:
            raise ValueError("GeminiMirrorProvider needs an API key (GEMINI_API_KEY)")
        super().__init__(base_url or DEFAULT_BASE_URL, timeout=timeout, http_client=http_client,
                         max_retries=max_retries, retry_backoff=retry_backoff)  # fmt: skip
        self.api_key = api_key
        self.api_version = api_version

    @property
    def where(self) -> str:
        return f"the upstream Interactions API at {redact(self.base_url)}"

    def create_body(self, turn: ModelTurn, previous_id: str | None) -> dict[str, Any]:
        """The upstream create body: only the new input after ``previous_id``, else everything."""
        body: dict[str, Any] = {"model": turn.model}
        if previous_id:
            body["input"] = list(turn.input)
            body["previous_interaction_id"] = previous_id
        else:
            body["input"] = [*turn.history, *turn.input]
        for key in _PER_TURN:
            value = getattr(turn, key)
            if value is not None:
                body[key] = value
        body["stream"] = True
        return body

    async def _open(self, body: dict[str, Any]) -> httpx.Response:
        client = self._http()
        url = f"{self.base_url}/{self.api_version}/interactions"
        headers = {"x-goog-api-key": self.api_key, "accept": "text/event-stream"}
        return await open_stream(
            client,
            lambda: client.build_request("POST", url, json=body, headers=headers),
            where=self.where,
            max_retries=self.max_retries,
            backoff=self.retry_backoff,
        )

    async def generate(self, turn: ModelTurn) -> AsyncIterator[ProviderItem]:
        previous_id = (turn.parent_provider_state or {}).get("upstream_id")
        response: httpx.Response | None = None
        if previous_id:
            try:
                response = await self._open(self.create_body(turn, previous_id))
            except ProviderError as exc:
                if exc.status != 404:
                    raise
                log.info(
                    "upstream interaction %s is gone (%s); re-sending turn %s with its history",
                    previous_id, exc.message, turn.interaction_id,
                )  # fmt: skip
        if response is None:
            response = await self._open(self.create_body(turn, None))
        hop, usage = _Hop(), None
        for _ in range(MAX_CONTINUATIONS):
            hop = _Hop()
            try:
                async for item in self._hop_items(response, hop):
                    yield item
            finally:
                await response.aclose()
            usage = _add_usage(usage, hop.usage)
            if hop.status != "requires_continuation" or not hop.continuation_token:
                break
            body = {
                "model": turn.model,
                "continuation_token": hop.continuation_token,
                "previous_interaction_id": hop.upstream_id,
                **{k: getattr(turn, k) for k in _PER_TURN if getattr(turn, k) is not None},
                "stream": True,
            }
            response = await self._open(body)
        if hop.status == "failed":
            raise ProviderError(502, f"Upstream interaction {hop.upstream_id} failed at {self.where}")
        status = hop.status if hop.status in _FINAL else None
        state = {"upstream_id": hop.upstream_id} if hop.upstream_id else None
        yield Finish(status=status, usage=usage, provider_state=state)

    async def _hop_items(self, response: httpx.Response, hop: _Hop) -> AsyncIterator[ProviderItem]:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            for item in await self._unary_items(response, hop):
                yield item
            return
        open_index: Any = None
        skipped: set[Any] = set()
        try:
            async for sse in EventSource(response).aiter_sse():
                data = sse.data.strip()
                if not data:
                    continue
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                except json.JSONDecodeError:
                    raise ProviderError(
                        502, f"{self.where} sent an event that is not JSON: {data[:200]!r}"
                    ) from None
                if not isinstance(event, dict):
                    continue
                kind = event.get("event_type") or sse.event
                index = event.get("index")
                if kind in ("interaction.created", "interaction.completed"):
                    self._note(hop, event.get("interaction") or {})
                    if kind == "interaction.completed":
                        hop.completed = True
                        break
                elif kind == "interaction.status_update":
                    if event.get("status"):
                        hop.status = event["status"]
                    if event.get("continuation_token"):
                        hop.continuation_token = event["continuation_token"]
                    if isinstance(event.get("usage"), dict):
                        hop.usage = event["usage"]
                elif kind == "step.start":
                    step = event.get("step") or {}
                    if step.get("type") == "user_input":  # an echo of the input, not output
                        skipped.add(index)
                        continue
                    if open_index is not None:
                        yield CloseStep()
                    open_index = index
                    yield OpenStep(step)
                elif kind == "step.delta":
                    if index in skipped or open_index is None or index != open_index:
                        continue
                    if isinstance(event.get("delta"), dict):
                        yield Delta(event["delta"])
                elif kind == "step.stop":
                    if open_index is not None and index == open_index:
                        open_index = None
                        yield CloseStep()
                elif kind == "error":
                    error = event.get("error") or {}
                    raise ProviderError(
                        error_status(error.get("code")),
                        f"{self.where} failed: {error.get('message') or error.get('code') or 'error'}",
                    )
        except httpx.TransportError as exc:
            raise transport_error(exc, self.where) from exc
        if open_index is not None:
            yield CloseStep()
        if not hop.completed:
            raise ProviderError(
                502, f"{self.where} ended the stream of {hop.upstream_id or 'a new interaction'} "
                "before interaction.completed",
            )

    @staticmethod
    def _note(hop: _Hop, interaction: dict[str, Any]) -> None:
        hop.upstream_id = interaction.get("id") or hop.upstream_id
        hop.status = interaction.get("status") or hop.status
        if isinstance(interaction.get("usage"), dict):
            hop.usage = interaction["usage"]
        if interaction.get("continuation_token"):
            hop.continuation_token = interaction["continuation_token"]

    async def _unary_items(self, response: httpx.Response, hop: _Hop) -> list[ProviderItem]:
        """A JSON Interaction answered to a streamed create: its output steps, streamed."""
        try:
            raw = await response.aread()
        except httpx.TransportError as exc:
            raise transport_error(exc, self.where) from exc
        try:
            interaction = json.loads(raw)
        except json.JSONDecodeError:
            interaction = None
        if not isinstance(interaction, dict):
            raise ProviderError(502, f"{self.where} answered neither events nor an Interaction")
        self._note(hop, interaction)
        hop.completed = True
        items: list[ProviderItem] = []
        for step in interaction.get("steps") or []:
            if isinstance(step, dict) and step.get("type") != "user_input":
                items += step_items(step)
        return items


def _add_usage(total: dict[str, Any] | None, hop: dict[str, Any] | None) -> dict[str, Any] | None:
    """Usage summed over continuation hops (integer fields; other fields from the last hop)."""
    if not hop:
        return total
    if not total:
        return dict(hop)
    out = {**total, **hop}
    for key, value in hop.items():
        if isinstance(value, int) and isinstance(total.get(key), int) and key != "initial_input_tokens":
            out[key] = total[key] + value
    return out
