"""Shared pieces of the conformance suite: the scripted model's rules, the server subprocess,
the two targets (HTTP and embedded) and small assertion helpers."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from interstate.testing import ServerProcess  # noqa: F401 (the fixtures use it from here)
from google import genai
from google.genai import interactions as gi

MODEL = "scripted-conformance"
KEY_A, TENANT_A = "key-a", "tenant-a"
KEY_B, TENANT_B = "key-b", "tenant-b"
#: The API key the SDK sends to the embedded server, which has authentication off.
EMBEDDED_KEY = "embedded-no-auth"
#: ``--max-body-bytes`` of the second, small-body HTTP server.
SMALL_BODY_BYTES = 2048

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}

#: What the ``chunk-me`` rule answers, four characters per delta.
FOX = "The quick brown fox jumps over the lazy dog."

#: The scripted model's rules, the same for both targets (first match wins; else it echoes).
SCRIPT: list[dict[str, Any]] = [
    {
        "when": {"contains": "rate-limit-me"},
        "reply": {"error": {"status": 429, "message": "slow down", "retry_after": 0}},
    },
    {
        "when": {"tool": "get_weather", "after": "user_input"},
        "reply": {"function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    },
    {
        # {input} is the latest user text of the whole chain: this turn's input is only a
        # function_result, so the text can only come from the history the server sent.
        "when": {"tool": "get_weather", "after": "function_result"},
        "reply": {"text": "asked {input}; got {result}"},
    },
    {
        "when": {"contains": "chunk-me"},
        "reply": {"text": FOX, "chunk_size": 4},
    },
    {
        "when": {"contains": "trickle"},
        "reply": {"text": "abcdefghijklmnopqrstuvwxyz", "chunk_size": 2, "chunk_delay": 0.05},
    },
    {"when": {"contains": "slow-please"}, "reply": {"text": "finally", "delay": 30}},
    {"when": {"contains": "think-first"}, "reply": {"thought": "pondering", "text": "answer"}},
    {"when": {"contains": "which-turn", "turn": 2}, "reply": {"text": "third turn exactly"}},
    {"when": {"contains": "which-turn"}, "reply": {"text": "turn {turn}: {input}"}},
]



# -- targets --------------------------------------------------------------------------------


@dataclass
class Target:
    """One way of reaching a server: builds SDK clients and raw httpx clients for it."""

    name: str
    base_url: str
    #: The key of tenant A (the tenant every test uses unless it says otherwise).
    api_key: str
    #: True when the server checks API keys (and has a second tenant, ``KEY_B``).
    auth: bool
    sync_transport: Callable[[], httpx.BaseTransport] | None = None
    async_transport: Callable[[], httpx.AsyncBaseTransport] | None = None
    _opened: list[Any] = field(default_factory=list)

    def sdk(
        self, *, api_key: str | None = None, api_version: str | None = "v1beta"
    ) -> genai.Client:
        """An unmodified ``genai.Client`` for this target (no retries, so errors surface once)."""
        options: dict[str, Any] = {"base_url": self.base_url, "retry_options": {"attempts": 1}}
        if api_version is not None:
            options["api_version"] = api_version
        if self.sync_transport is not None:
            assert self.async_transport is not None
            options["httpx_client"] = httpx.Client(transport=self.sync_transport())
            options["httpx_async_client"] = httpx.AsyncClient(transport=self.async_transport())
        client = genai.Client(api_key=api_key or self.api_key, http_options=options)
        self._opened.append(client)
        return client

    def raw(
        self, *, api_key: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Client:
        """A plain httpx client (for what the SDK refuses to send)."""
        all_headers = {"x-goog-api-key": api_key or self.api_key, **(headers or {})}
        transport = self.sync_transport() if self.sync_transport else None
        client = httpx.Client(
            base_url=self.base_url, headers=all_headers, transport=transport, timeout=30
        )
        self._opened.append(client)
        return client

    def count(self, *, api_key: str | None = None) -> int:
        """How many interactions the tenant has, by the list extension (paged to the end)."""
        raw, total, token = self.raw(api_key=api_key), 0, None
        while True:
            params = {"page_size": "1000", **({"page_token": token} if token else {})}
            response = raw.get("/v1beta/interstate/interactions", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            total += len(page["interactions"])
            token = page.get("next_page_token")
            if not token:
                return total

    def close(self) -> None:
        for client in reversed(self._opened):
            if isinstance(client, genai.Client):
                client.close()
                # Injected httpx clients belong to us, not the SDK.
                options = client._api_client._http_options
                if options.httpx_client is not None:
                    options.httpx_client.close()
            else:
                client.close()
        self._opened.clear()


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05
) -> Any:
    """Poll ``predicate`` until it returns something truthy; a bound, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def assert_google_error(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    """A 4xx with ``{"error": {"code": str, "message": str}}``; returns the error object."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and len(error["message"]) > 10, body
    return error


#: Statuses a turn ends in.
TERMINAL = {"completed", "failed", "cancelled", "requires_action", "incomplete"}


def event_names(events: list[Any]) -> str:
    return " ".join(type(e).__name__ for e in events)


def delta_text(events: list[Any]) -> str:
    return "".join(
        e.delta.text for e in events if isinstance(e, gi.StepDelta) and e.delta.type == "text"
    )


#: One model_output step streamed: created, in_progress, start, deltas, stop, final, completed.
STREAM_SHAPE = re.compile(
    r"^InteractionCreatedEvent InteractionStatusUpdate StepStart( StepDelta)+ StepStop "
    r"InteractionStatusUpdate InteractionCompletedEvent$"
)
