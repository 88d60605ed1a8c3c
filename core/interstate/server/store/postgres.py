"""PostgreSQL store (psycopg 3, async): the SQLite store's semantics on a database that several
``interstate serve`` processes can share.

* Schema: migrations in ``MIGRATIONS``, applied in order under an advisory lock and recorded in
  ``interstate_migrations`` (one row per applied version), so concurrent starts are safe.
* Types: request/response payloads are ``json`` (kept as written, key order included); labels
  and metadata, which queries filter on, are ``jsonb`` with GIN indexes; timestamps are
  ``double precision`` seconds like the other stores; ids are ``text COLLATE "C"`` so ordering
  and page tokens compare bytes, exactly as SQLite does.
* Concurrency: job claims take rows with ``FOR UPDATE SKIP LOCKED`` (two servers never claim the
  same turn); status changes are guarded single ``UPDATE``s; metadata merges lock their row;
  deletes and batches, which reason about parents and children, hold a per-tenant advisory lock
  for their transaction.
* Vectors: embeddings are L2-normalised little-endian float32 ``bytea``, as in SQLite; search
  is an exact cosine scan of the candidates the filters leave, scored in Python with numpy
  (no pgvector, no approximate index).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterator

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Json, set_json_dumps

from interstate.server.store import batch, generations, postgres_ops
from interstate.server.store.postgres_here import Blocking, SyncPool
from interstate.server.store.postgres_listen import NOTIFY_SQL, Listener
from interstate.server.store.base import (
    KIND_MODEL,
    InteractionRecord,
    ListQuery,
    Store,
    StoredEvent,
    VectorQuery,
)
from interstate.server.store.ops import DeleteOp, MetadataOp
from interstate.server.store.postgres_ops import (
    POSTGRES,
    SELECT,
    PostgresBatchDb,
    record_params,
    to_record,
)
from interstate.server.store.sql import (
    COLUMNS,
    chain_sql,
    descendants_sql,
    list_sql,
    update_status_sql,
)
from interstate.server.store.sqlite import _dumps

#: Ordered migrations: version ``n`` is ``MIGRATIONS[n]``; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE interactions (
        id              text COLLATE "C" PRIMARY KEY,
        tenant          text COLLATE "C" NOT NULL,
        kind            text NOT NULL,
        status          text NOT NULL,
        created         double precision NOT NULL,
        updated         double precision NOT NULL,
        parent_id       text COLLATE "C",
        root_id         text COLLATE "C" NOT NULL,
        depth           integer NOT NULL,
        model           text,
        agent           text,
        config          json NOT NULL,
        input           json NOT NULL,
        steps           json NOT NULL,
        usage           json,
        errors          json,
        labels          jsonb NOT NULL,
        metadata        jsonb NOT NULL,
        background      boolean NOT NULL,
        idempotency_key text,
        attempts        integer NOT NULL DEFAULT 0,
        lease_owner     text,
        lease_until     double precision,
        provider_state  json,
        deleted         boolean NOT NULL DEFAULT false
    );
    CREATE INDEX interactions_by_tenant ON interactions (tenant, created, id);
    CREATE INDEX interactions_by_parent ON interactions (parent_id);
    CREATE INDEX interactions_by_root ON interactions (tenant, root_id, depth);
    CREATE UNIQUE INDEX interactions_by_idempotency_key
        ON interactions (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX interactions_unfinished ON interactions (created, id)
        WHERE status IN ('queued', 'in_progress');
    CREATE INDEX interactions_by_labels ON interactions USING gin (labels jsonb_path_ops);
    CREATE INDEX interactions_by_metadata ON interactions USING gin (metadata jsonb_path_ops);
    CREATE TABLE events (
        interaction_id text COLLATE "C" NOT NULL,
        seq            bigint NOT NULL,
        data           json NOT NULL,
        PRIMARY KEY (interaction_id, seq)
    );
    CREATE TABLE embeddings (
        interaction_id text COLLATE "C" PRIMARY KEY
            REFERENCES interactions (id) ON DELETE CASCADE,
        dim            integer NOT NULL,
        vector         bytea NOT NULL
    );
    CREATE TABLE refs (
        tenant         text COLLATE "C" NOT NULL,
        name           text COLLATE "C" NOT NULL,
        interaction_id text COLLATE "C" NOT NULL,
        order_key      text COLLATE "C",
        metadata       json NOT NULL,
        updated        double precision NOT NULL,
        PRIMARY KEY (tenant, name)
    );
    """,
    # Chain generations, bumped by every delete (store/generations.py, server/history.py).
    """
    CREATE TABLE chain_generations (
        tenant     text COLLATE "C" NOT NULL,
        root_id    text COLLATE "C" NOT NULL,
        generation bigint NOT NULL,
        PRIMARY KEY (tenant, root_id)
    );
    """,
    # Index-backed lists (issue 12): a root's or a parent's rows in created order, and
    # ``interaction_tags`` as on SQLite (sqlite_schema.py): a GIN index finds a label's or a
    # metadata value's rows but not in created order, so a page of them sorted all of them.
    """
    DROP INDEX interactions_by_parent;
    DROP INDEX interactions_by_root;
    CREATE INDEX interactions_by_parent ON interactions (parent_id, created, id);
    CREATE INDEX interactions_by_root ON interactions (tenant, root_id, created, id);
    CREATE TABLE interaction_tags (
        tenant  text COLLATE "C" NOT NULL,
        field   text COLLATE "C" NOT NULL,
        key     text COLLATE "C" NOT NULL,
        value   jsonb NOT NULL,
        created double precision NOT NULL,
        id      text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, field, key, value, created, id)
    );
    CREATE INDEX interaction_tags_by_id ON interaction_tags (id);
    CREATE FUNCTION interstate_tag_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM interaction_tags WHERE id = OLD.id;
        END IF;
        IF TG_OP <> 'DELETE' AND NOT NEW.deleted THEN
            INSERT INTO interaction_tags
                SELECT NEW.tenant, 'l', j.key, j.value, NEW.created, NEW.id
                FROM jsonb_each(NEW.labels) j WHERE TAGGED ON CONFLICT DO NOTHING;
            INSERT INTO interaction_tags
                SELECT NEW.tenant, 'm', j.key, j.value, NEW.created, NEW.id
                FROM jsonb_each(NEW.metadata) j WHERE TAGGED ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER interactions_tags
        AFTER INSERT OR DELETE OR UPDATE OF labels, metadata, deleted, created ON interactions
        FOR EACH ROW EXECUTE FUNCTION interstate_tag_rows();
    INSERT INTO interaction_tags
        SELECT i.tenant, 'l', j.key, j.value, i.created, i.id
        FROM interactions i, jsonb_each(i.labels) j WHERE NOT i.deleted AND TAGGED
        ON CONFLICT DO NOTHING;
    INSERT INTO interaction_tags
        SELECT i.tenant, 'm', j.key, j.value, i.created, i.id
        FROM interactions i, jsonb_each(i.metadata) j WHERE NOT i.deleted AND TAGGED
        ON CONFLICT DO NOTHING;
    """.replace("TAGGED", "(jsonb_typeof(j.value) IN ('number', 'boolean') OR"
                " (jsonb_typeof(j.value) = 'string' AND length(j.value #>> '{}') <= 256))"
                " AND length(j.key) <= 256"),
]

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

#: Connections a store opens at most (each request borrows one for a statement or transaction).
DEFAULT_POOL_SIZE = 4
#: Written out, not a parameter, so that the planner uses the partial index on these rows.
_UNFINISHED = "status IN ('queued', 'in_progress')"
_LIVE = "tenant = %s AND NOT deleted"


class _Pool:
    """A few autocommit connections, opened on demand and reused; a broken one, or one left
    inside a transaction (e.g. by a cancelled request), is closed instead of reused."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo = conninfo
        self.size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection[dict[str, Any]]] = []
        self._closed = False

    async def _connect(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        conn = await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, row_factory=dict_row
        )
        set_json_dumps(_dumps, conn)
        return conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        if self._closed:
            raise RuntimeError("the PostgreSQL store is closed")
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            finally:
                if (self._closed or conn.broken or conn.closed
                        or conn.info.transaction_status != TransactionStatus.IDLE):  # fmt: skip
                    await conn.close()
                else:
                    self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._idle.pop().close()


class PostgresStore(Store):
    """``Store`` on PostgreSQL; open it with ``await PostgresStore.open("postgresql://...")``."""

    #: ``here()`` runs batches, ref reads and reads of interactions in the calling thread.
    serves_here = True
    #: Each event is committed (without waiting for its flush to disk: a lost event is
    #: harmless, a resumed turn restarts its stream) and notified as it comes.
    writes_each_event = True

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._sync = SyncPool(pool.conninfo, _dumps, pool.size)
        self._here = threading.local()
        self._listener: Listener | None = None

    async def listen(self, wake: Callable[[str], None]) -> None:
        """Wake on other servers' events too (``postgres_listen``)."""
        if self._listener is None:
            self._listener = Listener(self._pool.conninfo, wake)
            await self._listener.start()

    @contextlib.contextmanager
    def here(self) -> Iterator[None]:
        """Within this block, batches, ref reads and reads of interactions called from this
        thread run in it, on a blocking connection (``postgres_here``), never suspending: the
        embedded server drives them without its loop (``EmbeddedServer.serve_here``)."""
        self._here.active = True
        try:
            yield
        finally:
            self._here.active = False

    def _is_here(self) -> bool:
        return bool(getattr(self._here, "active", False))

    @classmethod
    async def open(cls, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> "PostgresStore":
        """Connect to the database a libpq URL names and bring its schema up to date."""
        store = cls(_Pool(url, pool_size))
        try:
            await store._migrate()
        except BaseException:
            await store.close()
            raise
        return store

    @contextlib.asynccontextmanager
    async def _transaction(
        self, lock_tenant: str | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        """One transaction; with ``lock_tenant``, serialised with the tenant's other deletes
        and batches (in every process on the database)."""
        async with self._pool.connection() as conn, conn.transaction():
            if lock_tenant is not None:
                await conn.execute(_LOCK, ("interstate:tenant:" + lock_tenant,))  # type: ignore[arg-type]
            yield conn

    async def _migrate(self) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('interstate:migrations', 0))"
            )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS interstate_migrations (v integer PRIMARY KEY)"
            )
            rows = await postgres_ops.fetch(conn, "SELECT max(v) AS v FROM interstate_migrations")
            version = -1 if rows[0]["v"] is None else rows[0]["v"]
            for v in range(version + 1, len(MIGRATIONS)):
                await conn.execute(MIGRATIONS[v])  # type: ignore[arg-type]
                await conn.execute("INSERT INTO interstate_migrations (v) VALUES (%s)", (v,))

    async def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        if self._is_here():
            with self._sync.connection() as blocking:
                return blocking.execute(sql, params).fetchall()  # type: ignore[arg-type]
        async with self._pool.connection() as conn:
            return await postgres_ops.fetch(conn, sql, params)

    async def _records(self, sql: str, params: Any = ()) -> list[InteractionRecord]:
        return [to_record(row) for row in await self._rows(sql, params)]

    async def _write(self, sql: str, params: Any = ()) -> int:
        async with self._pool.connection() as conn:
            return (await conn.execute(sql, params)).rowcount  # type: ignore[arg-type]

    # -- interactions -------------------------------------------------------------------
    async def insert(self, record: InteractionRecord) -> None:
        await self.insert_many([record])

    async def insert_many(self, records: list[InteractionRecord]) -> None:
        marks = ", ".join(["%s"] * len(COLUMNS))
        try:
            async with self._transaction() as conn, conn.cursor() as cursor:
                await cursor.executemany(
                    f"INSERT INTO interactions ({SELECT}) VALUES ({marks})",
                    [record_params(r) for r in records],
                )
        except psycopg.errors.UniqueViolation as exc:
            raise KeyError(str(exc)) from exc

    async def get(self, tenant: str, interaction_id: str) -> InteractionRecord | None:
        rows = await self._records(
            f"SELECT {SELECT} FROM interactions WHERE id = %s AND {_LIVE}", (interaction_id, tenant)
        )
        return rows[0] if rows else None

    async def get_by_idempotency_key(self, tenant: str, key: str) -> InteractionRecord | None:
        rows = await self._records(
            f"SELECT {SELECT} FROM interactions WHERE idempotency_key = %s AND {_LIVE}",
            (key, tenant),
        )
        return rows[0] if rows else None

    async def chain(self, tenant: str, interaction_id: str) -> list[InteractionRecord]:
        return await self._records(chain_sql(POSTGRES, SELECT), (interaction_id, tenant, tenant))

    async def chain_generation(self, tenant: str, root_id: str) -> int | None:
        rows = await self._rows(generations.read_sql(POSTGRES), (tenant, root_id))
        return int(rows[0]["generation"]) if rows else 0

    async def descendants(self, tenant: str, interaction_id: str) -> list[InteractionRecord]:
        statement = descendants_sql(POSTGRES, SELECT)
        return await self._records(statement, (interaction_id, tenant, tenant))

    async def list(self, tenant: str, query: ListQuery) -> list[InteractionRecord]:
        return await self._records(*list_sql(POSTGRES, SELECT, tenant, query))

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
        outputs = {"steps": steps, "usage": usage, "errors": errors,
                   "provider_state": provider_state}  # fmt: skip
        statement, params = update_status_sql(
            POSTGRES, interaction_id, status, time.time(), only_if, outputs, release_lease
        )
        async with self._transaction() as conn:
            changed = (await conn.execute(statement, params)).rowcount > 0
            if changed and events:
                await self._append_events_in(conn, interaction_id, events)
            if changed:
                await conn.execute(NOTIFY_SQL, (interaction_id,))
        return changed

    async def merge_metadata(
        self, tenant: str, interaction_id: str, patch: dict[str, Any]
    ) -> InteractionRecord | None:
        op = MetadataOp(interaction_id, patch, missing_ok=True)
        async with self._transaction() as conn:
            found = (await batch.metadata(PostgresBatchDb(conn), tenant, op))["found"]
        return await self.get(tenant, interaction_id) if found else None

    async def delete(self, tenant: str, interaction_id: str) -> bool:
        async with self._transaction(lock_tenant=tenant) as conn:
            result = await batch.delete(PostgresBatchDb(conn), tenant, DeleteOp([interaction_id]))
        return bool(result["deleted"] or result["tombstoned"])

    # -- events -------------------------------------------------------------------------
    async def append_events(self, interaction_id: str, events: list[StoredEvent]) -> None:
        async with self._transaction() as conn:
            await conn.execute("SET LOCAL synchronous_commit = off")
            await self._append_events_in(conn, interaction_id, events)
            await conn.execute(NOTIFY_SQL, (interaction_id,))

    @staticmethod
    async def _append_events_in(
        conn: psycopg.AsyncConnection[Any], interaction_id: str, events: list[StoredEvent]
    ) -> None:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO events (interaction_id, seq, data) VALUES (%s, %s, %s)"
                " ON CONFLICT (interaction_id, seq) DO UPDATE SET data = EXCLUDED.data",
                [(interaction_id, e.seq, Json(e.data)) for e in events],
            )

    async def events_after(self, interaction_id: str, seq: int) -> list[StoredEvent]:
        rows = await self._rows(
            "SELECT seq, data FROM events WHERE interaction_id = %s AND seq > %s ORDER BY seq",
            (interaction_id, seq),
        )
        return [StoredEvent(row["seq"], row["data"]) for row in rows]

    async def clear_events(self, interaction_id: str, *, before: int) -> None:
        await self._write(
            "DELETE FROM events WHERE interaction_id = %s AND seq < %s", (interaction_id, before)
        )

    # -- background jobs ----------------------------------------------------------------
    async def unfinished_owners(self) -> set[str]:
        rows = await self._rows(
            "SELECT DISTINCT lease_owner FROM interactions"
            f" WHERE {_UNFINISHED} AND lease_owner IS NOT NULL",
        )
        return {row["lease_owner"] for row in rows}

    async def claim_jobs(
        self, owner: str, *, now: float, lease_seconds: float, limit: int, dead_owners: set[str]
    ) -> list[InteractionRecord]:
        # SKIP LOCKED: a row another server is claiming right now is left to it; one it has
        # claimed and committed no longer passes the lease test when re-checked under the lock.
        returning = ", ".join(f"i.{name}" for name in COLUMNS)
        records = await self._records(
            f"""
            WITH picked AS (
                SELECT id FROM interactions
                WHERE {_UNFINISHED} AND NOT deleted AND kind = %s
                  AND (lease_owner IS NULL OR lease_until < %s OR lease_owner = ANY(%s))
                ORDER BY created, id LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE interactions i SET lease_owner = %s, lease_until = %s, attempts = i.attempts + 1
            FROM picked WHERE i.id = picked.id
            RETURNING {returning}
            """,
            (KIND_MODEL, now, sorted(dead_owners), limit, owner, now + lease_seconds),
        )
        return sorted(records, key=lambda r: (r.created, r.id))

    async def statuses(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = await self._rows(
            "SELECT id, status FROM interactions WHERE NOT deleted AND id = ANY(%s)", (ids,)
        )
        return {row["id"]: row["status"] for row in rows}

    async def renew_leases(self, owner: str, ids: list[str], until: float) -> None:
        if ids:
            await self._write(
                "UPDATE interactions SET lease_until = %s WHERE lease_owner = %s AND id = ANY(%s)",
                (until, owner, ids),
            )

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self._pool.close()
        self._sync.close()

    # -- vectors, atomic batches and refs (see postgres_ops) --------------------------
    async def put_embeddings(self, tenant: str, vectors: dict[str, list[float]]) -> list[str]:
        async with self._transaction() as conn:
            return await postgres_ops.put_embeddings(conn, tenant, vectors)

    async def search(
        self, tenant: str, query: VectorQuery
    ) -> list[tuple[InteractionRecord, float | None]]:
        async with self._pool.connection() as conn, conn.transaction():
            # One snapshot for ranking and for reading the records ranked.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return await postgres_ops.search(conn, tenant, query)

    async def apply_batch(self, tenant: str, ops: list[Any]) -> list[dict[str, Any]]:
        """One transaction. Only a batch that deletes takes the tenant's lock (deletes decide
        what becomes a tombstone from what else is there); the others lock rows: the parents
        and ref targets they name ``FOR SHARE`` (so a delete waits for the child, or the child
        finds its parent gone), the refs they change ``FOR UPDATE``, a ref they create by its
        name (``PostgresBatchDb.ref``): a tenant's threads write in parallel."""
        deletes = any(isinstance(op, DeleteOp) for op in ops)
        if self._is_here():
            with self._sync.connection() as blocking, blocking.transaction():
                if deletes:
                    blocking.execute(_LOCK, ("interstate:tenant:" + tenant,))  # type: ignore[arg-type]
                return await batch.apply_batch(PostgresBatchDb(Blocking(blocking)), tenant, ops)  # type: ignore[arg-type]
        async with self._transaction(lock_tenant=tenant if deletes else None) as conn:
            return await batch.apply_batch(PostgresBatchDb(conn), tenant, ops)

    async def get_refs(self, tenant: str, query: Any, *, resolve: bool = False) -> list[Any]:
        if self._is_here():
            with self._sync.connection() as blocking:
                return await postgres_ops.get_refs(Blocking(blocking), tenant, query, resolve)  # type: ignore[arg-type]
        async with self._pool.connection() as conn:
            return await postgres_ops.get_refs(conn, tenant, query, resolve)

    async def chain_json(self, tenant: str, interaction_id: str) -> str:
        if self._is_here():
            with self._sync.connection() as blocking:
                return await postgres_ops.chain_json(Blocking(blocking), tenant, interaction_id)  # type: ignore[arg-type]
        async with self._pool.connection() as conn:
            return await postgres_ops.chain_json(conn, tenant, interaction_id)
