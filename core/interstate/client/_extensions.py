"""``client.interstate``: the interstate extensions (an interstate server or embedded only).

Each method builds one request with the helpers below and parses the answer the same way in
both flavours; only the I/O differs. On Google's endpoint every method raises
``ExtensionNotSupportedError`` before sending anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Iterator, Literal, Mapping, Sequence

from interstate.types.extensions import (
    ExtendedInteraction,
    InteractionPage,
    RefPage,
    SearchResults,
)

from ._config import path_id
from ._resources import _to_json, parse_json

if TYPE_CHECKING:
    from ._async import AsyncClient
    from ._sync import Client

__all__ = ["Extensions", "AsyncExtensions"]


@dataclass
class _Call:
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: record/import are safe to retry only with client-chosen ids (then they are idempotent).
    idempotent: bool = True
    #: The answer is text (JSON Lines), not a JSON document.
    text: bool = False


def _turn(
    *,
    input: Any = None,
    steps: Any = None,
    previous_interaction_id: str | None = None,
    model: str | None = None,
    status: str | None = None,
    labels: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    usage: Any = None,
    id: str | None = None,
    **config: Any,
) -> dict[str, Any]:
    body = {
        "id": id, "model": model, "previous_interaction_id": previous_interaction_id,
        "input": input, "steps": steps, "status": status, "labels": labels,
        "metadata": metadata, "usage": usage, **config,
    }  # fmt: skip
    return {k: _to_json(v) for k, v in body.items() if v is not None}


def record_call(**turn: Any) -> _Call:
    body = _turn(**turn)
    return _Call("POST", "interstate/record", json=body, idempotent="id" in body)


def record_many_call(turns: Iterable[Mapping[str, Any]]) -> _Call:
    bodies = [_turn(**dict(t)) for t in turns]
    if not bodies:
        raise ValueError("record_many() needs at least one turn")
    return _Call("POST", "interstate/record", json={"interactions": bodies},
                 idempotent=all("id" in b for b in bodies))  # fmt: skip


def list_call(
    *,
    labels: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    status: str | None = None,
    previous_interaction_id: str | Sequence[str] | None = None,
    root_interaction_id: str | None = None,
    leaves: bool | None = None,
    order: str | None = None,
    page_size: int | None = None,
    page_token: str | None = None,
    include_input: bool | None = None,
) -> _Call:
    """``previous_interaction_id``: one parent, or several (children of any of them, ≤ 100)."""
    if previous_interaction_id is not None and not isinstance(previous_interaction_id, str):
        previous_interaction_id = list(previous_interaction_id)
    params: dict[str, Any] = {
        "label": [f"{k}:{v}" for k, v in (labels or {}).items()],
        # Strings go as they are; other values as JSON so 1 and "1" stay different.
        "metadata": [f"{k}:{v if isinstance(v, str) else json.dumps(v)}"
                     for k, v in (metadata or {}).items()],
        "status": status, "previous_interaction_id": previous_interaction_id,
        "root_interaction_id": root_interaction_id, "leaves": leaves, "order": order,
        "page_size": page_size, "page_token": page_token, "include_input": include_input,
    }  # fmt: skip
    return _Call("GET", "interstate/interactions", params=params)


def get_call(interaction_id: str) -> _Call:
    return _Call("GET", f"interstate/interactions/{path_id(interaction_id)}")


def chain_call(interaction_id: str) -> _Call:
    return _Call("GET", f"interstate/interactions/{path_id(interaction_id)}/chain")


def metadata_call(interaction_id: str, patch: Mapping[str, Any]) -> _Call:
    return _Call("PATCH", f"interstate/interactions/{path_id(interaction_id)}/metadata",
                 json=_to_json(dict(patch)))  # fmt: skip


def export_call(ids: Iterable[str]) -> _Call:
    ids = list(ids)
    if not ids:
        raise ValueError("export() needs at least one interaction id")
    return _Call("GET", "interstate/export", params={"id": ids},
                 headers={"accept": "application/x-ndjson"}, text=True)  # fmt: skip


def import_call(lines: str | bytes) -> _Call:
    content = lines.encode("utf-8") if isinstance(lines, str) else lines
    return _Call("POST", "interstate/import", content=content,
                 headers={"content-type": "application/x-ndjson"})  # fmt: skip


def embed_call(vectors: Mapping[str, Iterable[float]]) -> _Call:
    items = [{"interaction_id": k, "vector": [float(x) for x in v]} for k, v in vectors.items()]
    if not items:
        raise ValueError("embed() needs at least one vector")
    return _Call("POST", "interstate/embeddings", json={"embeddings": items})


def _filters(
    labels: Mapping[str, str] | None,
    metadata: Mapping[str, Any] | None,
    metadata_prefix: Mapping[str, str] | None,
    metadata_any: Mapping[str, Iterable[Any]] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if labels:
        body["labels"] = dict(labels)
    if metadata:
        body["metadata"] = _to_json(dict(metadata))
    if metadata_prefix:
        body["metadata_prefix"] = dict(metadata_prefix)
    if metadata_any:
        body["metadata_any"] = {k: _to_json(list(v)) for k, v in metadata_any.items()}
    return body


def search_call(
    *,
    vector: Iterable[float] | None = None,
    labels: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    metadata_prefix: Mapping[str, str] | None = None,
    metadata_any: Mapping[str, Iterable[Any]] | None = None,
    top_k: int | None = None,
    offset: int | None = None,
    min_score: float | None = None,
    include_input: bool | None = None,
) -> _Call:
    body = _filters(labels, metadata, metadata_prefix, metadata_any)
    extra = {"vector": None if vector is None else [float(x) for x in vector], "top_k": top_k,
             "offset": offset, "min_score": min_score, "include_input": include_input}  # fmt: skip
    body.update({k: v for k, v in extra.items() if v is not None})
    return _Call("POST", "interstate/search", json=body)


def delete_where_call(
    *,
    labels: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    metadata_prefix: Mapping[str, str] | None = None,
    metadata_any: Mapping[str, Iterable[Any]] | None = None,
) -> _Call:
    body = _filters(labels, metadata, metadata_prefix, metadata_any)
    if not body:
        raise ValueError("delete_where() needs at least one filter")
    return _Call("POST", "interstate/delete", json=body)


def batch_call(operations: Iterable[Mapping[str, Any]]) -> _Call:
    ops = [dict(op) for op in operations]
    if not ops:
        raise ValueError("batch() needs at least one operation")
    # Safe to resend when every recorded turn has a client-chosen id: the other operations
    # (merge-patches, deletes, ref moves) give the same result when applied twice.
    retry_safe = all("id" in op["record"] for op in ops if "record" in op)
    try:  # plain JSON (what checkpointers send): encoded once, compactly
        content = json.dumps({"operations": ops}, separators=(",", ":"), ensure_ascii=False,
                             allow_nan=False).encode("utf-8")  # fmt: skip
    except (TypeError, ValueError):  # wire models inside: convert them first
        content = json.dumps({"operations": [_to_json(op) for op in ops]}).encode("utf-8")
    return _Call("POST", "interstate/batch", content=content, idempotent=retry_safe)


def refs_call(
    *,
    names: Iterable[str] | None = None,
    prefix: str | None = None,
    resolve: bool | Literal["chain"] | None = None,
    page_size: int | None = None,
    page_token: str | None = None,
) -> _Call:
    params = {"name": list(names or []), "prefix": prefix, "resolve": resolve,
              "page_size": page_size, "page_token": page_token}  # fmt: skip
    if not params["name"] and prefix is None:
        raise ValueError("refs() needs names=[...] or prefix=...")
    return _Call("GET", "interstate/refs", params=params)


def _interactions(data: Any) -> list[ExtendedInteraction]:
    return [ExtendedInteraction.model_validate(item) for item in data["interactions"]]


class Extensions:
    """``client.interstate`` on a sync ``Client``."""

    def __init__(self, client: "Client") -> None:
        self._client = client

    def _send(self, call: _Call, feature: str) -> Any:
        self._client._require_extensions(feature)
        response = self._client._request(
            call.method, call.path, json=call.json, content=call.content, params=call.params,
            headers=call.headers, idempotent=call.idempotent,
        )  # fmt: skip
        return response.text if call.text else parse_json(response)

    def record(self, **turn: Any) -> ExtendedInteraction:
        """Store a turn that happened elsewhere (no model call): ``input``, ``steps`` (the
        output), ``previous_interaction_id``, ``labels``, ``metadata``, ``id``..."""
        return ExtendedInteraction.model_validate(self._send(record_call(**turn), "record"))

    def record_many(self, turns: Iterable[Mapping[str, Any]]) -> list[ExtendedInteraction]:
        """Record several turns atomically; a turn may name an earlier one as its parent."""
        return _interactions(self._send(record_many_call(turns), "record"))

    def list(self, **query: Any) -> InteractionPage:
        """One page of interactions matching labels / metadata / status / tree filters."""
        return InteractionPage.model_validate(self._send(list_call(**query), "list"))

    def iter(self, **query: Any) -> Iterator[ExtendedInteraction]:
        """Every interaction matching the query, page after page."""
        while True:
            page = self.list(**query)
            yield from page.interactions
            if not page.next_page_token:
                return
            query["page_token"] = page.next_page_token

    def get(self, interaction_id: str) -> ExtendedInteraction:
        """One interaction with its input and interstate block (metadata, kind, root, depth)."""
        return ExtendedInteraction.model_validate(self._send(get_call(interaction_id), "get"))

    def chain(self, interaction_id: str) -> list[ExtendedInteraction]:
        """The chain from its root down to ``interaction_id``, inputs included."""
        return _interactions(self._send(chain_call(interaction_id), "chain"))

    def update_metadata(self, interaction_id: str, patch: Mapping[str, Any]) -> ExtendedInteraction:
        """Merge-patch the interaction's metadata (a ``None`` value removes a key)."""
        data = self._send(metadata_call(interaction_id, patch), "metadata")
        return ExtendedInteraction.model_validate(data)

    def export(self, ids: Iterable[str]) -> str:
        """The conversation trees containing ``ids`` as JSON Lines."""
        return self._send(export_call(ids), "export")

    def import_(self, lines: str | bytes) -> dict[str, int]:
        """Import JSON Lines from ``export``; returns ``{"imported": n, "skipped": m}``."""
        return self._send(import_call(lines), "import")

    def embed(self, vectors: Mapping[str, Iterable[float]]) -> int:
        """Attach an embedding to each interaction id (replacing any); returns how many."""
        return int(self._send(embed_call(vectors), "embeddings")["embedded"])

    def search(self, **query: Any) -> SearchResults:
        """Interactions matching ``labels`` / ``metadata`` (dotted keys, equality) /
        ``metadata_prefix`` (path prefix) / ``metadata_any`` filters; with ``vector``, only those
        with an embedding, best cosine similarity first (``top_k``, ``min_score``); without it,
        newest first (``top_k``, ``offset``)."""
        return SearchResults.model_validate(self._send(search_call(**query), "search"))

    def delete_where(self, **filters: Any) -> dict[str, Any]:
        """Delete every interaction the filters match; returns ``{"deleted": n, "more": bool}``."""
        return self._send(delete_where_call(**filters), "delete")

    def batch(self, operations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Apply operations atomically, in order, and return one result per operation. Each is
        ``{"record": {...turn, "id"?}}``, ``{"patch_metadata": {"id", "patch", "keep_existing"?,
        "missing_ok"?}}``, ``{"delete": {"ids", "keep_referenced"?}}``, ``{"set_ref": {"name",
        "interaction_id", "order_key"?, "metadata"?, "force"?}}``, ``{"patch_ref": {"name", "patch",
        "keep_existing"?, "missing_ok"?}}`` or ``{"delete_refs": {"names"?, "prefix"?}}`` (see
        docs/server.md)."""
        return self._send(batch_call(operations), "batch")["results"]

    def refs(self, **query: Any) -> RefPage:
        """Refs by ``names=[...]`` and/or ``prefix=...``, in name order; ``resolve=True`` adds
        each target interaction (with input and metadata) in the same call, ``resolve="chain"``
        instead the target with its live ancestors, root first, abbreviated (``Ref.chain``)."""
        return RefPage.model_validate(self._send(refs_call(**query), "refs"))

    def iter_refs(self, **query: Any) -> Iterator[Any]:
        """Every ref matching the query, page after page."""
        while True:
            page = self.refs(**query)
            yield from page.refs
            if not page.next_page_token:
                return
            query["page_token"] = page.next_page_token


class AsyncExtensions:
    """``client.interstate`` on an ``AsyncClient``."""

    def __init__(self, client: "AsyncClient") -> None:
        self._client = client

    async def _send(self, call: _Call, feature: str) -> Any:
        self._client._require_extensions(feature)
        response = await self._client._request(
            call.method, call.path, json=call.json, content=call.content, params=call.params,
            headers=call.headers, idempotent=call.idempotent,
        )  # fmt: skip
        return response.text if call.text else parse_json(response)

    async def record(self, **turn: Any) -> ExtendedInteraction:
        """See ``Extensions.record``."""
        return ExtendedInteraction.model_validate(await self._send(record_call(**turn), "record"))

    async def record_many(self, turns: Iterable[Mapping[str, Any]]) -> list[ExtendedInteraction]:
        """See ``Extensions.record_many``."""
        return _interactions(await self._send(record_many_call(turns), "record"))

    async def list(self, **query: Any) -> InteractionPage:
        """See ``Extensions.list``."""
        return InteractionPage.model_validate(await self._send(list_call(**query), "list"))

    async def iter(self, **query: Any) -> AsyncIterator[ExtendedInteraction]:
        """See ``Extensions.iter``."""
        while True:
            page = await self.list(**query)
            for interaction in page.interactions:
                yield interaction
            if not page.next_page_token:
                return
            query["page_token"] = page.next_page_token

    async def get(self, interaction_id: str) -> ExtendedInteraction:
        """See ``Extensions.get``."""
        return ExtendedInteraction.model_validate(await self._send(get_call(interaction_id), "get"))

    async def chain(self, interaction_id: str) -> list[ExtendedInteraction]:
        """See ``Extensions.chain``."""
        return _interactions(await self._send(chain_call(interaction_id), "chain"))

    async def update_metadata(
        self, interaction_id: str, patch: Mapping[str, Any]
    ) -> ExtendedInteraction:
        """See ``Extensions.update_metadata``."""
        data = await self._send(metadata_call(interaction_id, patch), "metadata")
        return ExtendedInteraction.model_validate(data)

    async def export(self, ids: Iterable[str]) -> str:
        """See ``Extensions.export``."""
        return await self._send(export_call(ids), "export")

    async def import_(self, lines: str | bytes) -> dict[str, int]:
        """See ``Extensions.import_``."""
        return await self._send(import_call(lines), "import")

    async def embed(self, vectors: Mapping[str, Iterable[float]]) -> int:
        """See ``Extensions.embed``."""
        return int((await self._send(embed_call(vectors), "embeddings"))["embedded"])

    async def search(self, **query: Any) -> SearchResults:
        """See ``Extensions.search``."""
        return SearchResults.model_validate(await self._send(search_call(**query), "search"))

    async def delete_where(self, **filters: Any) -> dict[str, Any]:
        """See ``Extensions.delete_where``."""
        return await self._send(delete_where_call(**filters), "delete")

    async def batch(self, operations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """See ``Extensions.batch``."""
        return (await self._send(batch_call(operations), "batch"))["results"]

    async def refs(self, **query: Any) -> RefPage:
        """See ``Extensions.refs``."""
        return RefPage.model_validate(await self._send(refs_call(**query), "refs"))

    async def iter_refs(self, **query: Any) -> AsyncIterator[Any]:
        """See ``Extensions.iter_refs``."""
        while True:
            page = await self.refs(**query)
            for ref in page.refs:
                yield ref
            if not page.next_page_token:
                return
            query["page_token"] = page.next_page_token
