"""Regression tests for what the fuzz suite found (issue 13)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from interstate.server.app import create_app
from interstate.server.auth import Auth
from interstate.server.providers import ProviderRegistry, ScriptedProvider
from interstate.server.service import InteractionService
from interstate.server.store import Store, open_store
from interstate.server.store.base import KIND_RECORD, InteractionRecord


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


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path) -> Store:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/s.db" if request.param == "sqlite" else request.getfixturevalue("fuzz_postgres")
    opened = await open_store(url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_deleting_the_last_leaf_drops_every_tombstone_above_it(store: Store) -> None:
    """a <- b <- c; delete a, then b (tombstones: c lives), then c: nothing of the chain stays,
    and its ids can be recorded again (SQLite kept ``a``: one sweep, one level)."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    ids = [f"{tenant}-{name}" for name in "abc"]
    for depth, interaction_id in enumerate(ids):
        await store.insert(InteractionRecord(
            id=interaction_id, tenant=tenant, kind=KIND_RECORD, status="completed", created=depth,
            updated=depth, parent_id=ids[depth - 1] if depth else None, root_id=ids[0], depth=depth))  # fmt: skip
    for interaction_id in ids:
        assert await store.delete(tenant, interaction_id) is True
    for interaction_id in ids:
        assert await store.chain(tenant, interaction_id) == []
    await store.insert(InteractionRecord(id=ids[0], tenant=tenant, kind=KIND_RECORD, status="completed",
                                         created=9, updated=9))  # fmt: skip
    assert [r.id for r in await store.chain(tenant, ids[0])] == [ids[0]]


@pytest.mark.parametrize("value", ["AAA", "null", "yes"])
async def test_list_refuses_an_include_input_that_is_not_a_boolean(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get("/v1beta/interstate/interactions", params={"include_input": value})
    assert response.status_code == 400
    assert "include_input" in response.json()["error"]["message"]
