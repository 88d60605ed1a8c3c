"""The runner's history cache (server/history.py): chained turns do not re-read their chain, and
every kind of delete — here or in another server on the same database — shows in the next turn.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import httpx
import pytest

from interstate.server.app import create_app
from interstate.server.auth import Auth
from interstate.server.extensions import Extensions
from interstate.server.history import HistoryCache, json_chars
from interstate.server.providers import ProviderRegistry
from interstate.server.providers.base import ModelTurn
from interstate.server.providers.scripted import count_tokens, prompt_tokens
from interstate.server.service import InteractionService
from interstate.server.store.base import InteractionRecord
from interstate.server.store.ops import DeleteOp

from .conftest import RULES, registry
from .test_service import RecordingProvider, texts

V = "/v1beta"


def user(text: str) -> dict[str, Any]:
    return {"type": "user_input", "content": [{"type": "text", "text": text}]}


class Servers:
    """Two services on one database (as two replicas would be): ``a`` runs turns with a model
    that remembers what it was shown, ``b`` is the other replica."""

    def __init__(self, a: InteractionService, b: InteractionService, model: RecordingProvider):
        self.a, self.b, self.model = a, b, model
        self.chain_reads = 0
        store_chain = a.store.chain

        async def counting_chain(tenant: str, interaction_id: str) -> list[InteractionRecord]:
            self.chain_reads += 1
            return await store_chain(tenant, interaction_id)

        a.store.chain = counting_chain  # type: ignore[method-assign]

    async def turn(self, text: str, parent: str | None = None) -> str:
        body: dict[str, Any] = {"model": "m", "input": text}
        if parent:
            body["previous_interaction_id"] = parent
        created = await self.a.create("t", body)
        assert isinstance(created, dict) and created["status"] == "completed"
        return str(created["id"])

    def shown(self) -> list[str]:
        """The texts of the history the model was shown on its latest turn (whose size hint
        must be exact: the scripted model counts tokens with it)."""
        turn = self.model.turns[-1]
        assert turn.history_json_chars == json_chars(turn.history)
        return texts(turn.history)


@pytest.fixture
async def servers(db_url: str) -> AsyncIterator[Servers]:
    model = RecordingProvider(RULES)
    a = await InteractionService.open(db_url, ProviderRegistry(default=model), lease_seconds=5)
    b = await InteractionService.open(db_url, registry(), lease_seconds=5)
    try:
        yield Servers(a, b, model)
    finally:
        await a.close()
        await b.close()


async def test_chained_turns_never_read_the_chain(servers: Servers) -> None:
    head = await servers.turn("one")
    for text in ("two", "three", "four"):
        head = await servers.turn(text, head)
    assert servers.shown() == ["one", "echo: one", "two", "echo: two", "three", "echo: three"]
    # A turn recorded without a model between two model turns: found by a point read.
    recorded = await Extensions(servers.a).record(
        "t", {"previous_interaction_id": head, "input": [user("tool said")]}
    )
    await servers.turn("five", recorded["id"])
    assert servers.shown()[-2:] == ["echo: four", "tool said"]
    assert servers.chain_reads == 0


async def test_a_long_recorded_chain_is_read_once(servers: Servers) -> None:
    ops = [{"id": f"r-{i}", "input": [user(f"r{i}")],
            **({"previous_interaction_id": f"r-{i - 1}"} if i else {})} for i in range(20)]  # fmt: skip
    await Extensions(servers.b).record("t", {"interactions": ops})
    head = await servers.turn("next", "r-19")
    assert servers.chain_reads == 1 and servers.shown() == [f"r{i}" for i in range(20)]
    await servers.turn("again", head)
    await servers.turn("fork", "r-19")
    assert servers.chain_reads == 1 and servers.shown() == [f"r{i}" for i in range(20)]


async def test_deleting_a_middle_turn_here_shows_in_the_next_turn(servers: Servers) -> None:
    a = await servers.turn("one")
    b = await servers.turn("secret", a)
    c = await servers.turn("three", b)
    await servers.a.delete("t", b)  # b has a child: it becomes a tombstone
    await servers.turn("four", c)
    assert servers.shown() == ["one", "echo: one", "three", "echo: three"]
    assert servers.chain_reads == 1  # the walk met the tombstone; the chain says what is left
    await servers.turn("five", c)
    assert servers.chain_reads == 1


@pytest.mark.parametrize("how", ["delete", "batch"])
async def test_a_delete_on_another_server_shows_in_the_next_turn(servers: Servers, how: str) -> None:
    a = await servers.turn("one")
    b = await servers.turn("secret", a)
    c = await servers.turn("three", b)
    d = await servers.turn("four", c)
    if how == "delete":
        await servers.b.delete("t", b)
    else:
        await servers.b.store.apply_batch("t", [DeleteOp([b])])
    await servers.turn("five", d)
    assert servers.shown() == ["one", "echo: one", "three", "echo: three", "four", "echo: four"]


@pytest.mark.parametrize("tree", ["same", "other"])
async def test_an_id_deleted_and_recorded_again_elsewhere_is_not_served_stale(
    servers: Servers, tree: str
) -> None:
    a = await servers.turn("one")
    await Extensions(servers.a).record("t", {"id": "leaf", "previous_interaction_id": a,
                                             "input": [user("old")]})  # fmt: skip
    child = await servers.turn("x", "leaf")  # the view below "leaf" is cached now
    parent = a if tree == "same" else await servers.turn("another tree")
    await servers.b.store.apply_batch("t", [DeleteOp(["leaf", child])])
    await Extensions(servers.b).record("t", {"id": "leaf", "previous_interaction_id": parent,
                                             "input": [user("new")]})  # fmt: skip
    await servers.turn("y", "leaf")
    first = "one" if tree == "same" else "another tree"
    assert servers.shown() == [first, f"echo: {first}", "new"]


async def test_over_http_two_replicas(db_url: str) -> None:
    model = RecordingProvider(RULES)
    a = await InteractionService.open(db_url, ProviderRegistry(default=model), lease_seconds=5)
    b = await InteractionService.open(db_url, registry(), lease_seconds=5)
    auth = Auth({"key-a": "tenant-a"})
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(s, auth=auth)),
                          base_url="http://test", headers={"x-goog-api-key": "key-a"})
        for s in (a, b)
    ]  # fmt: skip
    try:
        http_a, http_b = clients
        ids: list[str] = []
        for text in ("one", "secret", "three"):
            body = {"model": "m", "input": text, **({"previous_interaction_id": ids[-1]} if ids else {})}
            r = await http_a.post(f"{V}/interactions", json=body)
            assert r.status_code == 200, r.text
            ids.append(r.json()["id"])
        assert (await http_b.delete(f"{V}/interactions/{ids[1]}")).status_code == 200
        r = await http_a.post(f"{V}/interactions",
                              json={"model": "m", "input": "four", "previous_interaction_id": ids[2]})  # fmt: skip
        assert r.status_code == 200, r.text
        assert texts(model.turns[-1].history) == ["one", "echo: one", "three", "echo: three"]
    finally:
        for client in clients:
            await client.aclose()
        await a.close()
        await b.close()


async def test_the_cache_is_bounded(servers: Servers) -> None:
    cache: HistoryCache = servers.a.runner.history
    cache.max_bytes = 20_000
    ids = [await servers.turn("start")]
    for i in range(30):
        ids.append(await servers.turn(f"turn {i} " + "x" * 40, ids[-1]))
    assert 0 < cache.bytes <= 20_000 and len(cache) < 31
    # What was evicted is read again when it is needed, and is right.
    await servers.turn("fork", ids[2])
    assert servers.shown() == ["start", "echo: start", *(
        t for i in range(2) for t in (f"turn {i} " + "x" * 40, f"echo: turn {i} " + "x" * 40))]


def test_the_scripted_model_counts_a_known_history_without_encoding_it() -> None:
    history = [user("one"), {"type": "model_output", "content": [{"type": "text", "text": "é"}]}]
    for steps in ([], [user("two")]):
        for past in ([], history):
            hinted = ModelTurn("i", "m", past, steps, history_json_chars=json_chars(past))
            plain = ModelTurn("i", "m", past, steps)
            assert prompt_tokens(hinted) == prompt_tokens(plain) == count_tokens([*past, *steps])
