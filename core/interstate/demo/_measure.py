"""What the demo measures, in one place: request bytes on the wire and what the server stored.

Every client the demo uses — interstate's and the stock baseline's — talks to an embedded server
through ``MeteredTransport``, which counts the body of each model call (``POST
/{v}/interactions``) as it goes to the server. The stock baseline is the same framework with a
stateless model client that sends the whole conversation on every call, the way LangChain,
AutoGen and CrewAI model clients do (each framework's module defines one).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import httpx

from interstate.client import AsyncClient, Client
from interstate.client._config import EMBEDDED_BASE_URL
from interstate.server.embedded import EmbeddedServer, embedded_transport
from interstate.server.providers import ProviderRegistry


def is_model_call(request: httpx.Request) -> bool:
    """A create (``POST /{v}/interactions``): a call that reaches the model."""
    return request.method == "POST" and request.url.path.rstrip("/").endswith("/interactions")


@dataclass
class Meter:
    """Bytes of the request bodies of the model calls a client made."""

    #: Body size of each model call, in order.
    calls: list[int] = field(default_factory=list)
    #: Of those, how many continued a stored chain (``previous_interaction_id`` set).
    chained: int = 0

    @property
    def sent(self) -> int:
        return sum(self.calls)

    def count(self, request: httpx.Request) -> None:
        """Count ``request`` if it is a model call (storage requests are not the model's)."""
        if is_model_call(request):
            self.calls.append(len(request.content))
            self.chained += bool(json.loads(request.content).get("previous_interaction_id"))

    def report(self) -> dict[str, Any]:
        return {"calls": self.calls, "chained": self.chained}

    def add(self, report: dict[str, Any]) -> None:
        """Add what another process measured (``report()`` of its meter)."""
        self.calls += report["calls"]
        self.chained += report["chained"]


class MeteredTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, meter: Meter) -> None:
        self.inner, self.meter = inner, meter

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.meter.count(request)
        return self.inner.handle_request(request)


class AsyncMeteredTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, meter: Meter) -> None:
        self.inner, self.meter = inner, meter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.meter.count(request)
        return await self.inner.handle_async_request(request)


@dataclass
class Server:
    """An embedded server (started with the demo's providers) and metered clients for it."""

    url: str
    embedded: EmbeddedServer

    @classmethod
    def start(cls, url: str, providers: ProviderRegistry) -> "Server":
        return cls(url, EmbeddedServer.start(url, providers=providers))

    def client(self, meter: Meter) -> Client:
        inner = embedded_transport(self.url, asynchronous=False)
        return Client(base_url=EMBEDDED_BASE_URL,
                      http_client=httpx.Client(transport=MeteredTransport(inner, meter)))  # fmt: skip

    def async_client(self, meter: Meter) -> AsyncClient:
        inner = embedded_transport(self.url, asynchronous=True)
        return AsyncClient(base_url=EMBEDDED_BASE_URL,
                           http_client=httpx.AsyncClient(transport=AsyncMeteredTransport(inner, meter)))  # fmt: skip

    def close(self) -> None:
        self.embedded.close()


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how httpx encodes request bodies)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


@dataclass
class Stored:
    """The interactions a section stored: how many, and their bytes by kind."""

    count: int
    #: Model turns (a provider answered them), as JSON.
    model_bytes: int
    #: Recorded turns (checkpoints, team state, memories, configuration roots), as JSON, plus
    #: the memories' embeddings.
    record_bytes: int
    #: The newest model turn among the deepest in their chains: the end of the conversation
    #: that went on longest, the one worth inspecting.
    deepest_model_turn: str | None

    @property
    def bytes(self) -> int:
        return self.model_bytes + self.record_bytes


def interaction_ids(client: Client) -> set[str]:
    return {i.id for i in client.interstate.iter(page_size=1000)}


def stored_since(client: Client, before: set[str], database: Path) -> Stored:
    """What was stored since ``before`` (the ids then): the JSON of each new interaction with
    its input and metadata, as the server returns it, plus its embedding (a vector memory's
    float32 blob, read from the database file: the API does not return vectors)."""
    new = [i for i in client.interstate.iter(page_size=1000, include_input=True, order="asc")
           if i.id not in before]  # fmt: skip
    models = [i for i in reversed(new) if i.interstate is not None and i.interstate.kind == "model"]
    model_ids = {i.id for i in models}
    records = [i for i in new if i.id not in model_ids]
    return Stored(
        count=len(new),
        model_bytes=sum(encoded_size(i.to_wire()) for i in models),
        record_bytes=sum(encoded_size(i.to_wire()) for i in records)
        + _embedding_bytes(database, [i.id for i in records]),
        deepest_model_turn=max(models, key=lambda i: i.interstate.depth or 0).id if models else None,
    )


def _embedding_bytes(database: Path, ids: Iterable[str]) -> int:
    ids = list(ids)
    if not ids:
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        marks = ",".join("?" * len(ids))
        row = conn.execute(
            f"SELECT COALESCE(SUM(LENGTH(vector)), 0) FROM embeddings WHERE interaction_id IN ({marks})", ids
        ).fetchone()
    return int(row[0])


def tree_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (a store kept as a directory, like LanceDB's)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
