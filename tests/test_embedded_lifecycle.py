"""An embedded server lives while it is used: clients, savers and adapters that open one stop it
when the last of them closes, leaving no thread and no file descriptor behind (a web app that
opens a saver per request must not leak until it dies)."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

from interstate.client import AsyncClient, Client
from interstate.server.embedded import EmbeddedServer

ROUNDS = 1000


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _resources(ignore: str | None = None) -> tuple[int, int, int]:
    """Embedded servers' threads, all threads (but those whose name starts with ``ignore``: a
    framework's own pool, which grows on demand) and open file descriptors."""
    threads = [t for t in threading.enumerate() if not (ignore and t.name.startswith(ignore))]
    servers = sum(1 for t in threads if t.name == "interstate-embedded")
    return servers, len(threads), _descriptors()


def _unchanged(after: tuple[int, int, int], before: tuple[int, int, int]) -> bool:
    """Nothing left behind: as many embedded-server threads, and no more threads or descriptors
    (fewer is fine: what earlier tests of the session left may end meanwhile)."""
    same = after[0] == before[0] and after[1] <= before[1] and after[2] <= before[2]
    if not same:
        print("threads now:", [(t.name, t.daemon) for t in threading.enumerate()])
    return same


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/lifecycle.db"
    yield url
    assert _key_gone(url)


def _key_gone(url: str) -> bool:
    return not any(not s.closed and s.url == url for s in EmbeddedServer._instances.values())


def test_a_thousand_sync_savers_leave_nothing_behind(tmp_path: Path) -> None:
    """Half on one file (a saver per request), half on a fresh file each (a test per file)."""
    from interstate.langgraph import InteractionsSaver

    config = {"configurable": {"thread_id": "t"}}
    with InteractionsSaver.from_url(f"sqlite:///{tmp_path}/warm.db") as saver:  # imports
        saver.get_tuple(config)
    before = _resources()
    for i in range(ROUNDS):
        name = "shared" if i % 2 else f"own-{i}"
        with InteractionsSaver.from_url(f"sqlite:///{tmp_path}/{name}.db") as saver:
            saver.get_tuple(config)
    assert _unchanged(_resources(), before)


def test_a_thousand_async_savers_leave_nothing_behind(tmp_path: Path) -> None:
    from interstate.langgraph import AsyncInteractionsSaver

    config = {"configurable": {"thread_id": "t"}}

    async def cycle(rounds: int) -> None:
        for i in range(rounds):
            name = "shared" if i % 2 else f"own-{i}"
            async with AsyncInteractionsSaver.from_url(f"sqlite:///{tmp_path}/{name}.db") as saver:
                await saver.aget_tuple(config)

    async def main() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        await cycle(1)  # warm: also starts this loop's default executor thread, which stays
        before = _resources()
        await cycle(ROUNDS)
        return before, _resources()

    before, after = asyncio.run(main())
    assert _unchanged(after, before)


def test_clients_share_one_server_and_the_last_close_stops_it(db_url: str) -> None:
    before = _resources()
    first = Client.from_url(db_url)
    second = Client.from_url(db_url)
    created = first.interactions.create(model="scripted", input="hello")
    first.close()
    # Still served for the other client: same server, same data.
    assert second.interactions.get(created.id).id == created.id
    second.close()
    assert _key_gone(db_url)
    assert _unchanged(_resources(), before)
    with Client.from_url(db_url) as again:  # a new server on the same file: nothing lost
        assert again.interactions.get(created.id).id == created.id
    assert _unchanged(_resources(), before)


def test_async_and_sync_clients_release_their_leases(db_url: str) -> None:
    before = _resources()

    async def use() -> None:
        for _ in range(50):
            async with AsyncClient.from_url(db_url) as client:
                await client.interactions.create(model="scripted", input="x")

    asyncio.run(use())
    for _ in range(50):
        client = Client.from_url(db_url)
        client.close()
        client.close()  # twice: still one release
    assert _key_gone(db_url)
    assert _unchanged(_resources(), before)


def test_a_started_server_outlives_its_clients(db_url: str) -> None:
    server = EmbeddedServer.start(db_url)
    try:
        with Client.from_url(db_url) as client:
            client.interactions.create(model="scripted", input="x")
        assert not server.closed
        with Client.from_url(db_url) as client:  # the same server, still running
            assert EmbeddedServer.acquire(db_url) is server
            server.release()
    finally:
        server.close()
    assert server.closed


def test_memory_url_is_shared_while_open(tmp_path: Path) -> None:
    with Client.from_url("memory://") as first, Client.from_url("memory://") as second:
        made = first.interactions.create(model="scripted", input="x")
        assert second.interactions.get(made.id).id == made.id
    assert _key_gone("sqlite://:memory:")


def test_chat_model_closes_what_from_url_opened(db_url: str) -> None:
    from interstate.langgraph import ChatInteractions

    before = _resources()
    for _ in range(20):
        with ChatInteractions.from_url(db_url, model="scripted") as model:
            assert model.invoke("hi").content == "echo: hi"
    assert _unchanged(_resources(), before)


def test_crewai_disable_closes_the_client_enable_opened(db_url: str) -> None:
    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
    os.environ.setdefault("CREWAI_DISABLE_VERSION_CHECK", "true")
    import interstate.crewai
    from interstate.crewai import InteractionsLLM

    def cycle() -> None:
        handle = interstate.crewai.enable(db_url)
        handle.storage.count()
        handle.disable()
        llm = InteractionsLLM(model="scripted", url=db_url)
        llm.call("hi")
        llm.close()

    cycle()  # warm: CrewAI's event bus starts on first use
    before = _resources(ignore="CrewAI")
    for _ in range(10):
        cycle()
    assert _unchanged(_resources(ignore="CrewAI"), before)


def test_autogen_client_and_team_store_close(db_url: str) -> None:
    from autogen_core.models import UserMessage

    from interstate.autogen import InteractionsChatCompletionClient, TeamStateStore

    async def use() -> None:
        for _ in range(10):
            client = InteractionsChatCompletionClient("scripted", url=db_url)
            await client.create([UserMessage(content="hi", source="user")])
            await client.close()
            store = TeamStateStore("lifecycle", url=db_url)
            await store.load_state()
            await store.close()

    async def main() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        await asyncio.to_thread(lambda: None)  # the loop's executor thread, which stays
        before = _resources()
        await use()
        return before, _resources()

    before, after = asyncio.run(main())
    assert _unchanged(after, before)
