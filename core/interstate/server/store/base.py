"""The store interface: what the service needs from a database, and nothing more.

Implementations keep every field of ``InteractionRecord``; JSON-valued fields are plain Python
values here and the store chooses how to encode them. Every read and write is scoped by tenant:
a record of another tenant is indistinguishable from a missing one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable

#: Kinds of interaction: ``model`` turns run a provider; ``record`` turns were stored as given.
KIND_MODEL = "model"
KIND_RECORD = "record"


@dataclass
class InteractionRecord:
    id: str
    tenant: str
    kind: str
    status: str
    created: float
    updated: float
    parent_id: str | None = None
    root_id: str = ""
    depth: int = 0
    model: str | None = None
    agent: str | None = None
    #: Echoed request configuration (system_instruction, tools, generation_config, ...).
    config: dict[str, Any] = field(default_factory=dict)
    input: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: interstate extension: small framework bookkeeping, never sent to a model.
    metadata: dict[str, Any] = field(default_factory=dict)
    background: bool = False
    idempotency_key: str | None = None
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    #: What the provider keeps per turn (e.g. the upstream interaction id in mirror mode).
    provider_state: dict[str, Any] | None = None
    #: A deleted interaction that still has children is kept as a tombstone (see service).
    deleted: bool = False

    def __post_init__(self) -> None:
        if not self.root_id:
            self.root_id = self.id


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    data: dict[str, Any]


@dataclass
class ListQuery:
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str | None = None
    parent_id: str | None = None
    #: Children of any of these parents (``previous_interaction_id`` repeated).
    parent_ids: tuple[str, ...] = ()
    root_id: str | None = None
    #: Only interactions no other (live) interaction names as its parent.
    leaves_only: bool = False
    #: Newest first when True.
    descending: bool = True
    limit: int = 50
    #: Resume after this (created, id) position, as produced by the previous page.
    after: tuple[float, str] | None = None


@dataclass
class VectorQuery:
    """A filtered (and, with ``vector``, similarity-ranked) query over interactions.

    Filters: ``labels`` (exact), ``metadata`` (equality of a value at a dotted key path),
    ``metadata_prefix`` (a string value equals the prefix or starts with ``prefix + "/"``; a
    prefix of ``"/"`` or ``""`` matches everything), ``metadata_any`` (the value, or one element
    of an array value, equals one of the given values). With ``vector`` only interactions that
    have an embedding of the same dimension are candidates, ranked by cosine similarity and kept
    when ``>= min_score``; without it, every match, newest first.
    """

    vector: list[float] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    metadata_prefix: dict[str, str] = field(default_factory=dict)
    metadata_any: dict[str, list[Any]] = field(default_factory=dict)
    min_score: float | None = None
    limit: int = 10
    offset: int = 0


class Store(abc.ABC):
    """Persistence for interactions, their SSE events, and background-job leases."""

    #: Whether ``here()`` (a context manager) runs batches, ref reads and reads of interactions
    #: in the calling thread without suspending (``EmbeddedServer.serve_here``).
    serves_here = False
    #: Whether a running turn writes each event at once (readers in other processes then get
    #: it promptly, see ``listen``) rather than in batches at the end of each step.
    writes_each_event = False

    async def listen(self, wake: Callable[[str], None]) -> None:
        """Call ``wake(interaction_id)`` whenever any process stores events of the interaction
        or changes its status, until ``close``; stores that cannot tell do nothing (followers
        then poll)."""
        return None

    # -- interactions -------------------------------------------------------------------
    @abc.abstractmethod
    async def insert(self, record: InteractionRecord) -> None:
        """Insert a new record; raises ``KeyError`` if the id or idempotency key exists."""

    @abc.abstractmethod
    async def insert_many(self, records: list[InteractionRecord]) -> None:
        """Insert records atomically (all or none); ``KeyError`` on an existing id."""

    @abc.abstractmethod
    async def get(self, tenant: str, interaction_id: str) -> InteractionRecord | None:
        """The live (not deleted) record, or None."""

    @abc.abstractmethod
    async def get_by_idempotency_key(self, tenant: str, key: str) -> InteractionRecord | None: ...

    @abc.abstractmethod
    async def chain(self, tenant: str, interaction_id: str) -> list[InteractionRecord]:
        """The record and its ancestors, root first, tombstones included (callers skip them)."""

    async def chain_generation(self, tenant: str, root_id: str) -> int | None:
        """How many deletes the tree of ``root_id`` has had (``store.generations``; 0 before the
        first); None when the store does not count them (then nothing caches its chains)."""
        return None

    @abc.abstractmethod
    async def descendants(self, tenant: str, interaction_id: str) -> list[InteractionRecord]:
        """Every live record below ``interaction_id`` (not itself), parents before children."""

    @abc.abstractmethod
    async def list(self, tenant: str, query: ListQuery) -> list[InteractionRecord]: ...

    @abc.abstractmethod
    async def update_status(
        self,
        interaction_id: str,
        status: str,
        *,
        only_if: frozenset[str] | None = None,
        steps: list[dict[str, Any]] | None = None,
        usage: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
        release_lease: bool = False,
        events: list[StoredEvent] | None = None,
        provider_state: dict[str, Any] | None = None,
    ) -> bool:
        """Set the status (and final output) if the current status is in ``only_if``.

        ``events`` are appended in the same transaction, so a reader never sees a finished
        interaction whose closing events are missing. Returns False, changing nothing, when the
        guard fails (e.g. the turn was cancelled meanwhile).
        """

    @abc.abstractmethod
    async def merge_metadata(
        self, tenant: str, interaction_id: str, patch: dict[str, Any]
    ) -> InteractionRecord | None:
        """Merge ``patch`` into metadata (a ``None`` value removes a key); None if not found."""

    @abc.abstractmethod
    async def delete(self, tenant: str, interaction_id: str) -> bool:
        """Delete a record and its events; one with live children becomes a tombstone."""

    # -- events -------------------------------------------------------------------------
    @abc.abstractmethod
    async def append_events(self, interaction_id: str, events: list[StoredEvent]) -> None: ...

    @abc.abstractmethod
    async def events_after(self, interaction_id: str, seq: int) -> list[StoredEvent]: ...

    @abc.abstractmethod
    async def clear_events(self, interaction_id: str, *, before: int) -> None:
        """Drop the interaction's events numbered below ``before`` (a resumed turn's earlier
        run: see ``runner.TurnRunner.run``)."""

    # -- background jobs ----------------------------------------------------------------
    @abc.abstractmethod
    async def claim_jobs(
        self, owner: str, *, now: float, lease_seconds: float, limit: int, dead_owners: set[str]
    ) -> list[InteractionRecord]:
        """Lease unfinished model turns that nobody holds (queued, expired or dead owner)."""

    @abc.abstractmethod
    async def unfinished_owners(self) -> set[str]:
        """Lease owners of unfinished turns (so the caller can tell which ones are dead)."""

    @abc.abstractmethod
    async def statuses(self, ids: list[str]) -> dict[str, str]:
        """Current status of each live id (any tenant); deleted ids are absent."""

    @abc.abstractmethod
    async def renew_leases(self, owner: str, ids: list[str], until: float) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- vectors (interstate extension: vector search for memories) ----------------------
    # Not abstract, so stores written before vector search keep working (without it).
    async def put_embeddings(self, tenant: str, vectors: dict[str, list[float]]) -> list[str]:
        """Store (or replace) one embedding per interaction id; returns the ids not found
        (nothing is written then). An embedding goes when its interaction is deleted."""
        raise NotImplementedError(f"{type(self).__name__} does not support vector search")

    async def search(
        self, tenant: str, query: VectorQuery
    ) -> list[tuple[InteractionRecord, float | None]]:
        """Live interactions matching ``query`` with their cosine similarity (None without a
        vector), best first."""
        raise NotImplementedError(f"{type(self).__name__} does not support vector search")

    # -- atomic batches and refs (interstate extension, see store/ops.py) ------------------
    # Not abstract, so stores written before batches keep working (without them).
    async def apply_batch(self, tenant: str, ops: list[Any]) -> list[dict[str, Any]]:
        """Apply ``store.ops`` operations atomically, in order; one result dict per operation.
        Raises a ``ServiceError`` (and writes nothing) when one of them fails."""
        raise NotImplementedError(f"{type(self).__name__} does not support batches and refs")

    async def get_refs(self, tenant: str, query: Any, *, resolve: bool = False) -> list[Any]:
        """``(Ref, target record or None)`` pairs matching a ``RefQuery``, in name order; the
        record is looked up only with ``resolve`` (None when the target is gone)."""
        raise NotImplementedError(f"{type(self).__name__} does not support batches and refs")

    async def chain_json(self, tenant: str, interaction_id: str) -> str:
        """The live record and its live ancestors, root first, as a JSON array (text) of
        abbreviated interactions (``sql.chain_json_sql``): what a reader rebuilding state from a
        chain needs, built by the database and passed on as it is, nothing decoded per row
        (``[]`` if the record is not there)."""
        raise NotImplementedError(f"{type(self).__name__} does not support batches and refs")
