"""``enable()``: one call that puts CrewAI memory and Flow state on an interstate server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from interstate.client import Client

from .embedder import HashingEmbedder
from .flow import InteractionsFlowPersistence
from .llm import InteractionsLLM
from .storage import InteractionsStorage

__all__ = ["Interstate", "enable", "disable"]

Embedder = Callable[[list[str]], Sequence[Sequence[float]]]


@dataclass
class Interstate:
    """What ``enable()`` installed: the client, the memory storage, the embedder."""

    client: Client
    storage: InteractionsStorage
    embedder: Embedder
    flow_persistence: InteractionsFlowPersistence | None = None
    _restore: list[Callable[[], None]] = field(default_factory=list, repr=False)
    #: enable() opened the client from a URL: disable() closes it.
    _owns_client: bool = field(default=False, repr=False)

    def llm(self, model: str, **options: Any) -> InteractionsLLM:
        """An ``InteractionsLLM`` on this client: ``Agent(llm=handle.llm("gemini-3-flash-preview"))``."""
        return InteractionsLLM(client=self.client, model=model, **options)

    def disable(self) -> None:
        """Restore CrewAI's defaults (LanceDB storage, OpenAI embedder, SQLite flow state),
        and close the client ``enable`` opened from a URL (not one passed as ``client=``)."""
        while self._restore:
            self._restore.pop()()
        if self._owns_client:
            self._owns_client = False
            self.client.close()


_active: Interstate | None = None


def enable(
    url: str | None = None,
    *,
    client: Client | None = None,
    store: str = "default",
    embedder: Embedder | None = None,
    memory: bool = True,
    flows: bool = True,
) -> Interstate:
    """Route CrewAI's memory (and Flow ``@persist`` state) to an interstate server.

    ``url`` picks the server as ``Client.from_url`` does (``sqlite:///crew.db`` embedded,
    ``http://host:port``; default ``$INTERSTATE_URL`` or ``~/.interstate/interstate.db``).
    After this, ``Crew(memory=True)``, ``Agent(memory=True)``, ``Memory()`` and Flows' automatic
    memory store their records on the server (through CrewAI's storage factory), and a
    ``Memory`` built without an embedder uses ``embedder`` (default: ``HashingEmbedder()``,
    offline and deterministic — see ``interstate.crewai.embedder`` for the trade-off). With
    ``flows``, ``@persist`` without an explicit backend saves flow state on the server too.
    Calling it again replaces the previous installation.
    """
    from crewai.flow.persistence import factory as flow_factory
    from crewai.memory import unified_memory
    from crewai.memory.storage import factory as memory_factory

    global _active
    if _active is not None:
        _active.disable()
    owns_client = client is None
    client = client if client is not None else Client.from_url(url)
    embedder = embedder if embedder is not None else HashingEmbedder()
    storage = InteractionsStorage(client, store=store, embedder=embedder)
    handle = Interstate(client=client, storage=storage, embedder=embedder, _owns_client=owns_client)
    if memory:
        previous_factory = memory_factory._factory
        previous_embedder = unified_memory._default_embedder
        memory_factory.set_memory_storage_factory(
            lambda spec: storage if spec == "lancedb" else None
        )
        unified_memory._default_embedder = lambda: embedder  # type: ignore[assignment,return-value]

        def restore_memory() -> None:
            memory_factory.set_memory_storage_factory(previous_factory)
            unified_memory._default_embedder = previous_embedder  # type: ignore[assignment]

        handle._restore.append(restore_memory)
    if flows:
        persistence = InteractionsFlowPersistence(client=client)
        handle.flow_persistence = persistence
        previous_flow_factory = flow_factory._factory
        flow_factory.set_flow_persistence_factory(lambda: persistence)
        handle._restore.append(lambda: flow_factory.set_flow_persistence_factory(previous_flow_factory))
    _active = handle
    return handle


def disable() -> None:
    """Undo ``enable()``."""
    global _active
    if _active is not None:
        _active.disable()
        _active = None
