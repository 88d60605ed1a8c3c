"""Fixtures for in-process server tests: a service on a temporary database, and its app.

``db_url`` runs each test that uses it (directly or through ``service``/``http``) twice: on a
SQLite file and on a fresh PostgreSQL database (see ``postgres_support``).
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator

import httpx
import pytest

from interstate.server.app import create_app
from interstate.server.auth import Auth
from interstate.server.providers import ProviderRegistry, ScriptedProvider
from interstate.server.service import InteractionService

from .postgres_support import create_schema, postgres_server

RULES: list[dict[str, Any]] = [
    {"when": {"contains": "slow"}, "reply": {"text": "slow done", "delay": 30}},
    {"when": {"contains": "weather", "after": "user_input"}, "reply": {"function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
    {"when": {"contains": "fail"}, "reply": {"error": {"status": 429, "message": "slow down"}}},
]


def registry(rules: list[dict[str, Any]] | None = None) -> ProviderRegistry:
    scripted = ScriptedProvider(RULES if rules is None else rules)
    return ProviderRegistry([("scripted*", scripted)], default=scripted)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """One PostgreSQL server for the session, started when a test first needs it."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/interstate.db"
    return create_schema(request.getfixturevalue("postgres_admin_url"))


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
