"""``client.interstate`` against the embedded server (sync and async), and refused on Google."""

from __future__ import annotations

from typing import Any

import pytest

from interstate.client import AsyncClient, Client
from interstate.errors import APIStatusError, ExtensionNotSupportedError, NotFoundError
from interstate.server.embedded import EmbeddedServer


@pytest.fixture
def url(tmp_path: Any):
    url = f"sqlite:///{tmp_path}/ext.db"
    yield url
    EmbeddedServer.start(url).close()


def test_record_list_chain_metadata_export_import(url: str, tmp_path: Any) -> None:
    with Client.from_url(url) as client:
        assert client.target == "embedded"
        first = client.interstate.record(id="t1-0", input="hi", steps=[
            {"type": "model_output", "content": [{"type": "text", "text": "hello"}]}],
            labels={"thread": "t1"}, metadata={"n": 0})  # fmt: skip
        assert first.interstate.kind == "record" and first.output_text == "hello"
        turns = client.interstate.record_many([
            {"id": "t1-1", "previous_interaction_id": "t1-0", "input": "a", "labels": {"thread": "t1"}, "metadata": {"n": 1}},
            {"id": "t1-2", "previous_interaction_id": "t1-1", "input": "b", "labels": {"thread": "t1"}, "metadata": {"n": 2}},
        ])  # fmt: skip
        assert [t.interstate.depth for t in turns] == [1, 2]
        model_turn = client.interactions.create(model="scripted", input="c", previous_interaction_id="t1-2")
        assert model_turn.output_text == "echo: c"
        assert [i.id for i in client.interstate.iter(labels={"thread": "t1"}, page_size=2)] == ["t1-2", "t1-1", "t1-0"]
        assert [i.id for i in client.interstate.list(metadata={"n": 1}).interactions] == ["t1-1"]
        chain = client.interstate.chain(model_turn.id)
        assert [i.id for i in chain] == ["t1-0", "t1-1", "t1-2", model_turn.id]
        patched = client.interstate.update_metadata("t1-2", {"n": None, "done": True})
        assert patched.interstate.metadata == {"done": True}
        fetched = client.interstate.get("t1-2")
        assert fetched.interstate.metadata == {"done": True} and fetched.input is not None
        with pytest.raises(APIStatusError) as info:  # 409 ALREADY_EXISTS is not retried
            client.interstate.record(id="t1-0", input="other")
        assert info.value.status_code == 409
        lines = client.interstate.export(["t1-1"])
        assert len(lines.splitlines()) == 4
        with pytest.raises(NotFoundError):
            client.interstate.chain("missing")
    other_url = f"sqlite:///{tmp_path}/other.db"
    try:
        with Client.from_url(other_url) as other:
            assert other.interstate.import_(lines) == {"imported": 4, "skipped": 0}
            assert [i.id for i in other.interstate.chain(model_turn.id)][-1] == model_turn.id
    finally:
        EmbeddedServer.start(other_url).close()


async def test_async_extensions(url: str) -> None:
    async with AsyncClient.from_url(url) as client:
        turn = await client.interstate.record(input="x", labels={"k": "v"})
        ids = [i.id async for i in client.interstate.iter(labels={"k": "v"})]
        assert ids == [turn.id]
        chain = await client.interstate.chain(turn.id)
        assert chain[0].input is not None


def test_extensions_refused_on_google() -> None:
    with Client(api_key="k") as client:
        assert client.target == "google" and not client.supports_extensions
        with pytest.raises(ExtensionNotSupportedError) as info:
            client.interstate.list()
        assert "interstate serve" in str(info.value)
