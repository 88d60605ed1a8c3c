"""``client.interstate.batch / refs / iter_refs`` against the embedded server (sync and async)."""

from __future__ import annotations

from typing import Any

import pytest

from interstate.client import AsyncClient, Client
from interstate.errors import ExtensionNotSupportedError, NotFoundError
from interstate.server.embedded import EmbeddedServer


@pytest.fixture
def url(tmp_path: Any):
    url = f"sqlite:///{tmp_path}/refs.db"
    yield url
    EmbeddedServer.start(url).close()


def test_batch_and_refs(url: str) -> None:
    with Client.from_url(url) as client:
        results = client.interstate.batch([
            {"record": {"id": "r-1", "input": "hi"}},
            {"record": {"id": "r-2", "previous_interaction_id": "r-1", "input": "again"}},
            {"set_ref": {"name": "heads/a", "interaction_id": "r-2", "order_key": "2"}},
            {"set_ref": {"name": "heads/b", "interaction_id": "r-1"}},
        ])  # fmt: skip
        assert [r.get("created", r.get("moved")) for r in results] == [True, True, True, True]
        page = client.interstate.refs(names=["heads/a"], resolve=True)
        assert page.refs[0].interaction is not None and page.refs[0].interaction.interstate.depth == 1
        assert [r.name for r in client.interstate.iter_refs(prefix="heads/", page_size=1)] == ["heads/a", "heads/b"]
        with pytest.raises(NotFoundError):
            client.interstate.batch([{"patch_ref": {"name": "heads/none", "patch": {"x": 1}}}])
        with pytest.raises(ValueError):
            client.interstate.refs()


async def test_async_batch_and_refs(url: str) -> None:
    async with AsyncClient.from_url(url) as client:
        await client.interstate.batch([{"record": {"id": "a-1"}}, {"set_ref": {"name": "h", "interaction_id": "a-1"}}])
        assert [r.interaction_id async for r in client.interstate.iter_refs(names=["h"])] == ["a-1"]


def test_refused_on_google() -> None:
    with Client(api_key="k") as client:
        with pytest.raises(ExtensionNotSupportedError):
            client.interstate.batch([{"record": {}}])
