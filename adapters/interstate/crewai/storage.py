"""``InteractionsStorage``: CrewAI memory (``crewai.memory.Memory``) on an interstate server.

Each ``MemoryRecord`` is one recorded interaction (``client.interstate.record``, no model call):

* ``id`` — the record's id; ``input`` — its content (one ``user_input`` text step);
* ``labels`` — ``interstate-kind: crewai-memory`` and ``crewai-memory-store: <store>``, so several
  independent stores can share one server;
* ``metadata`` — ``scope``, ``categories``, ``importance``, ``created_at``, ``last_accessed``,
  ``source``, ``private`` and the record's own metadata under ``meta``;
* ``dim`` in its metadata — its embedding's dimension: a store has one, checked (as CrewAI's
  LanceDB storage does, with its ``EmbeddingDimensionMismatchError``) on save, update and
  search, also by another process that reopens the store with another embedder;
* its embedding — attached with the search extension (``client.interstate.embed``) and searched
  on the server (``client.interstate.search``): scope prefix, categories and metadata filters
  run in SQL there, cosine similarity over what remains, ``min_score`` and ``limit`` applied
  there too.

Listing, counting, scopes and categories are computed from filter-only searches (the server
filters, this class aggregates); ``reset``/``delete`` by filter run on the server in one call.
The async methods run the sync ones in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any, Callable, Iterator, Sequence

from crewai.memory.storage.backend import EmbeddingDimensionMismatchError
from crewai.memory.types import MemoryRecord, ScopeInfo

from interstate.client import Client
from interstate.errors import NotFoundError
from interstate.types.extensions import ExtendedInteraction

__all__ = ["InteractionsStorage", "MEMORY_KIND"]

log = logging.getLogger("interstate.crewai")

LABEL_KIND = "interstate-kind"
LABEL_STORE = "crewai-memory-store"
MEMORY_KIND = "crewai-memory"
_PAGE = 1000
#: How many of a store's newest records are looked at to learn its embedding dimension.
_PROBE = 20
_SERVER_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_STORE_NAME = re.compile(r"^[a-z0-9_\-]{1,63}$")


def _iso(value: datetime) -> str:
    return value.isoformat()


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return datetime.utcnow()


def _input_text(interaction: ExtendedInteraction) -> str:
    parts: list[str] = []
    for step in interaction.input or []:  # type: ignore[union-attr]
        for block in getattr(step, "content", None) or []:
            text = getattr(block, "text", None)
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def _scope_of(prefix: str | None) -> str | None:
    """A scope prefix as the server filter takes it (None or root = no filter)."""
    if prefix is None or not prefix.strip("/"):
        return None
    prefix = prefix.rstrip("/")
    return prefix if prefix.startswith("/") else "/" + prefix


class InteractionsStorage:
    """A CrewAI ``StorageBackend`` whose records live on an interstate server.

    ``client`` is a ``interstate.client.Client`` (or give ``url``: ``sqlite:///memory.db``,
    ``http://host:port``...; default ``$INTERSTATE_URL`` or ``~/.interstate/interstate.db``).
    ``store`` names this memory store (lowercase letters, digits, ``_``, ``-``). ``embedder``
    is used only to re-embed a record whose content ``update()`` changes without an embedding.
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        url: str | None = None,
        store: str = "default",
        embedder: Callable[[list[str]], Sequence[Sequence[float]]] | None = None,
    ) -> None:
        if not _STORE_NAME.match(store):
            raise ValueError("store must be 1-63 lowercase letters, digits, '_' or '-'")
        self._owns_client = client is None
        self.client = client if client is not None else Client.from_url(url)
        try:
            self.client._require_extensions("CrewAI memory storage (record and vector search)")
        except BaseException:
            self.close()
            raise
        self.store = store
        self.embedder = embedder
        self.labels = {LABEL_KIND: MEMORY_KIND, LABEL_STORE: store}
        #: The dimension of this store's embeddings, once known (``_stored_dim``).
        self._dim: int | None = None

    def __repr__(self) -> str:
        return f"InteractionsStorage(store={self.store!r}, target={self.client.target!r})"

    # -- conversions ----------------------------------------------------------------------
    def _metadata(self, record: MemoryRecord) -> dict[str, Any]:
        return {
            "scope": record.scope or "/",
            "categories": list(record.categories),
            "importance": record.importance,
            "created_at": _iso(record.created_at),
            "last_accessed": _iso(record.last_accessed),
            "source": record.source,
            "private": record.private,
            "meta": dict(record.metadata),
        }

    def _turn(self, record: MemoryRecord) -> dict[str, Any]:
        metadata = self._metadata(record)
        if record.embedding:
            metadata["dim"] = len(record.embedding)
        return {
            "id": record.id,
            "model": MEMORY_KIND,
            "input": record.content,
            "labels": dict(self.labels),
            "metadata": metadata,
        }

    # -- embedding dimensions ---------------------------------------------------------------
    def _stored_dim(self) -> int | None:
        """The dimension of the store's embeddings: learned once from its newest records
        (each stores its ``dim``), None for a store without embeddings (0 while known empty)."""
        if self._dim is None:
            self._dim = 0
            for hit in self.client.interstate.search(labels=self.labels, top_k=_PROBE,
                                                     include_input=False).results:  # fmt: skip
                dim = hit.interaction.interstate.metadata.get("dim") if hit.interaction.interstate else None
                if isinstance(dim, int) and dim > 0:
                    self._dim = dim
                    break
        return self._dim or None

    def _check_dim(self, dim: int) -> None:
        stored = self._stored_dim()
        if stored is not None and dim != stored:
            raise EmbeddingDimensionMismatchError(stored, dim)

    def _batch_dim(self, records: list[MemoryRecord]) -> int | None:
        """The one dimension of a batch's embeddings (a mixed batch is refused whole)."""
        dim: int | None = None
        for record in records:
            if record.embedding:
                if dim is None:
                    dim = len(record.embedding)
                elif len(record.embedding) != dim:
                    raise EmbeddingDimensionMismatchError(dim, len(record.embedding))
        return dim

    @staticmethod
    def _record(interaction: ExtendedInteraction) -> MemoryRecord:
        meta = interaction.interstate.metadata if interaction.interstate else {}
        return MemoryRecord(
            id=interaction.id,
            content=_input_text(interaction),
            scope=meta.get("scope") or "/",
            categories=list(meta.get("categories") or []),
            metadata=dict(meta.get("meta") or {}),
            importance=float(meta.get("importance", 0.5)),
            created_at=_parse_time(meta.get("created_at")),
            last_accessed=_parse_time(meta.get("last_accessed")),
            source=meta.get("source"),
            private=bool(meta.get("private", False)),
        )

    def _is_mine(self, interaction: ExtendedInteraction) -> bool:
        labels = interaction.labels or {}
        return all(labels.get(k) == v for k, v in self.labels.items())

    def _filters(
        self,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Server filters, and the metadata filters the server cannot express (checked here)."""
        filters: dict[str, Any] = {"labels": self.labels}
        scope = _scope_of(scope_prefix)
        if scope:
            filters["metadata_prefix"] = {"scope": scope}
        if categories:
            filters["metadata_any"] = {"categories": list(categories)}
        local: dict[str, Any] = {}
        server_meta: dict[str, Any] = {}
        for key, value in (metadata_filter or {}).items():
            if _SERVER_KEY.match(key) and value is not None:
                server_meta["meta." + key] = value
            else:
                local[key] = value
        if server_meta:
            filters["metadata"] = server_meta
        return filters, local

    def _scan(self, scope_prefix: str | None = None, **more: Any) -> Iterator[ExtendedInteraction]:
        """Every record under ``scope_prefix`` (filter-only search, page by page), newest first."""
        filters, _ = self._filters(scope_prefix, **more)
        offset = 0
        while True:
            page = self.client.interstate.search(
                **filters, top_k=_PAGE, offset=offset, include_input=False
            ).results
            for hit in page:
                yield hit.interaction
            if len(page) < _PAGE:
                return
            offset += _PAGE

    # -- StorageBackend -------------------------------------------------------------------
    def save(self, records: list[MemoryRecord]) -> None:
        if not records:
            return
        dim = self._batch_dim(records)
        if dim is not None:
            self._check_dim(dim)
        self.client.interstate.record_many([self._turn(r) for r in records])
        vectors = {r.id: list(r.embedding) for r in records if r.embedding}
        if vectors:
            self.client.interstate.embed(vectors)
        if dim is not None:
            self._dim = dim

    def search(
        self,
        query_embedding: list[float],
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 10,
        min_score: float = 0.0,
    ) -> list[tuple[MemoryRecord, float]]:
        if not query_embedding or limit <= 0:
            return []
        self._check_dim(len(query_embedding))
        filters, local = self._filters(scope_prefix, categories, metadata_filter)
        top_k = min(_PAGE, limit * 3 if local else limit)
        # Scores are cosine similarities clamped at 0 (CrewAI's scores are never negative), so
        # min_score=0 keeps every candidate, as with CrewAI's own stores.
        floor = min(1.0, float(min_score)) if min_score > 0 else -1.0
        hits = self.client.interstate.search(
            **filters, vector=list(query_embedding), top_k=top_k, min_score=floor
        ).results
        out: list[tuple[MemoryRecord, float]] = []
        for hit in hits:
            record = self._record(hit.interaction)
            if local and not all(record.metadata.get(k) == v for k, v in local.items()):
                continue
            out.append((record, max(0.0, float(hit.score or 0.0))))
            if len(out) >= limit:
                break
        return out

    def delete(
        self,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        record_ids: list[str] | None = None,
        older_than: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        filters, local = self._filters(scope_prefix, categories, metadata_filter)
        if record_ids is None and older_than is None and not local:
            return self._delete_where(filters)
        if record_ids is not None and older_than is None and len(filters) == 1:
            return sum(self._delete_one(record_id) for record_id in record_ids)
        wanted = set(record_ids) if record_ids is not None else None
        doomed: list[str] = []
        for interaction in self._scan(scope_prefix, categories=categories,
                                      metadata_filter=metadata_filter):  # fmt: skip
            if wanted is not None and interaction.id not in wanted:
                continue
            record = self._record(interaction)
            if local and not all(record.metadata.get(k) == v for k, v in local.items()):
                continue
            if older_than is not None and record.created_at >= older_than:
                continue
            doomed.append(interaction.id)
        return sum(self._delete_one(record_id) for record_id in doomed)

    def _delete_one(self, record_id: str) -> int:
        self._dim = None
        try:
            interaction = self.client.interstate.get(record_id)
        except NotFoundError:
            return 0
        if not self._is_mine(interaction):
            return 0
        try:
            self.client.interactions.delete(record_id)
        except NotFoundError:
            return 0
        return 1

    def _delete_where(self, filters: dict[str, Any]) -> int:
        self._dim = None  # an emptied store takes any dimension again
        deleted = 0
        while True:
            answer = self.client.interstate.delete_where(**filters)
            deleted += int(answer.get("deleted", 0))
            if not answer.get("more"):
                return deleted

    def update(self, record: MemoryRecord) -> None:
        if record.embedding:
            self._check_dim(len(record.embedding))
        try:
            stored = self.client.interstate.get(record.id)
        except NotFoundError:
            stored = None
        if stored is None or not self._is_mine(stored):
            self.save([record])
            return
        if _input_text(stored) == record.content:
            # Same content: patch the metadata in place; the embedding stays unless replaced.
            old_meta = (stored.interstate.metadata if stored.interstate else {}).get("meta") or {}
            patch = self._metadata(record)
            patch["meta"] = {**{k: None for k in old_meta if k not in record.metadata},
                             **record.metadata}  # fmt: skip
            if record.embedding:
                patch["dim"] = len(record.embedding)
            self.client.interstate.update_metadata(record.id, patch)
            if record.embedding:
                self.client.interstate.embed({record.id: list(record.embedding)})
            return
        # New content: an interaction's input never changes, so the record is stored anew.
        embedding = list(record.embedding) if record.embedding else None
        if embedding is None and self.embedder is not None:
            embedding = list(self.embedder([record.content])[0])
        if embedding is None:
            log.warning("memory %s changed content without an embedding; it is not searchable",
                        record.id)  # fmt: skip
        self.client.interactions.delete(record.id)
        self.save([record.model_copy(update={"embedding": embedding})])

    def touch_records(self, record_ids: list[str]) -> None:
        now = _iso(datetime.utcnow())
        for record_id in record_ids:
            try:
                self.client.interstate.update_metadata(record_id, {"last_accessed": now})
            except NotFoundError:
                continue

    def get_record(self, record_id: str) -> MemoryRecord | None:
        try:
            interaction = self.client.interstate.get(record_id)
        except NotFoundError:
            return None
        return self._record(interaction) if self._is_mine(interaction) else None

    def list_records(
        self, scope_prefix: str | None = None, limit: int = 200, offset: int = 0
    ) -> list[MemoryRecord]:
        if limit <= 0 or offset < 0:
            return []
        filters, _ = self._filters(scope_prefix)
        out: list[MemoryRecord] = []
        while len(out) < limit:
            size = min(_PAGE, limit - len(out))
            page = self.client.interstate.search(**filters, top_k=size, offset=offset).results
            out += [self._record(hit.interaction) for hit in page]
            if len(page) < size:
                break
            offset += size
        return out

    def get_scope_info(self, scope: str) -> ScopeInfo:
        path = scope.rstrip("/") or "/"
        child_prefix = "/" if path == "/" else path + "/"
        count, categories, children = 0, set(), set()
        oldest: datetime | None = None
        newest: datetime | None = None
        for interaction in self._scan(path):
            record = self._record(interaction)
            count += 1
            categories.update(record.categories)
            if record.scope.startswith(child_prefix):
                first = record.scope[len(child_prefix) :].split("/", 1)[0]
                if first:
                    children.add(child_prefix + first)
            oldest = record.created_at if oldest is None else min(oldest, record.created_at)
            newest = record.created_at if newest is None else max(newest, record.created_at)
        return ScopeInfo(
            path=path, record_count=count, categories=sorted(categories),
            oldest_record=oldest, newest_record=newest, child_scopes=sorted(children),
        )  # fmt: skip

    def list_scopes(self, parent: str = "/") -> list[str]:
        return self.get_scope_info(parent).child_scopes

    def list_categories(self, scope_prefix: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for interaction in self._scan(scope_prefix):
            for category in self._record(interaction).categories:
                counts[category] = counts.get(category, 0) + 1
        return counts

    def count(self, scope_prefix: str | None = None) -> int:
        return sum(1 for _ in self._scan(scope_prefix))

    def reset(self, scope_prefix: str | None = None) -> None:
        filters, _ = self._filters(scope_prefix)
        self._delete_where(filters)

    def close(self) -> None:
        """Close the client this storage opened from ``url``; a ``client`` passed in (as
        ``enable`` does) belongs to whoever made it."""
        if self._owns_client:
            self._owns_client = False
            self.client.close()

    # -- async ----------------------------------------------------------------------------
    async def asave(self, records: list[MemoryRecord]) -> None:
        await asyncio.to_thread(self.save, records)

    async def asearch(
        self,
        query_embedding: list[float],
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 10,
        min_score: float = 0.0,
    ) -> list[tuple[MemoryRecord, float]]:
        return await asyncio.to_thread(
            self.search, query_embedding, scope_prefix, categories, metadata_filter, limit,
            min_score,
        )  # fmt: skip

    async def adelete(
        self,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        record_ids: list[str] | None = None,
        older_than: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        return await asyncio.to_thread(
            self.delete, scope_prefix, categories, record_ids, older_than, metadata_filter
        )
