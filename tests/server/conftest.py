"""Fixtures for in-process server tests: a service on a temporary SQLite file, and its app."""

from __future__ import annotations

from typing import Any, AsyncIterator

import httpx
import pytest

from interstate.server.app import create_app
from interstate.server.auth import Auth
from interstate.server.providers import ProviderRegistry, ScriptedProvider
from interstate.server.service import InteractionService

RULES: list[dict[str, Any]] = [
    {"when": {"contains": "slow"}, "reply": {"text": "slow done", "delay": 30}},
    {"when": {"contains": "weather", "after": "user_input"}, "reply": {"function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
    {"when": {"contains": "fail"}, "reply": {"error": {"status": 429, "message": "slow down"}}},
]


def registry(rules: list[dict[str, Any]] | None = None) -> ProviderRegistry:
    scripted = ScriptedProvider(RULES if rules is None else rules)
    return ProviderRegistry([("scripted*", scripted)], default=scripted)


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/interstate.db"


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[InteractionService]:
    svc = await InteractionService.open(db_url, registry(), lease_seconds=5)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def http(service: InteractionService) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app over ``service``, with two tenants' keys."""
    app = create_app(service, auth=Auth({"key-a": "tenant-a", "key-b": "tenant-b"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"x-goog-api-key": "key-a"}
    ) as client:
        yield client
