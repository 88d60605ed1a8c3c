"""Regression tests for what the fuzz suite found (issue 13)."""

from __future__ import annotations

import httpx
import pytest

from interstate.server.app import create_app
from interstate.server.auth import Auth
from interstate.server.providers import ProviderRegistry, ScriptedProvider
from interstate.server.service import InteractionService


@pytest.fixture
async def client(tmp_path) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    scripted = ScriptedProvider()
    service = await InteractionService.open(
        f"sqlite:///{tmp_path}/found.db", ProviderRegistry([("scripted*", scripted)], default=scripted)
    )
    app = create_app(service, auth=Auth({"k": "t"}))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"x-goog-api-key": "k"}) as http:  # fmt: skip
            yield http
    finally:
        await service.close()


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/v1beta/interactions/abc", "DELETE, GET, HEAD"),  # two routes share this path
    ("TRACE", "/v1beta/interactions", "POST"),
    ("GET", "/v1beta/interstate/batch", "POST"),
])  # fmt: skip
async def test_405_names_every_method_of_the_path(client: httpx.AsyncClient, method: str, path: str,
                                                   allow: str) -> None:  # fmt: skip
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
