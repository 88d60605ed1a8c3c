"""PostgreSQL side of the extensions: rows <-> records, JSON filters, vector search, refs, and
``batch.BatchDb`` over an ``AsyncConnection`` (``PostgresStore`` holds the transaction)."""

from __future__ import annotations

from typing import Any, Iterable

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Json, Jsonb

from interstate.server import vectors as vec
from interstate.server.store import generations, sql
from interstate.server.store.base import InteractionRecord, VectorQuery
from interstate.server.store.batch import Lineage
from interstate.server.store.ops import Ref, RefQuery
from interstate.server.store.sql import COLUMNS, Flavour
from interstate.server.store.sqlite_schema import TAG_MAX

SELECT = ", ".join(COLUMNS)
_JSON = frozenset({"config", "input", "steps", "usage", "errors", "provider_state"})
_JSONB = frozenset({"labels", "metadata"})
Conn = psycopg.AsyncConnection[dict[str, Any]]


def record_params(record: InteractionRecord) -> list[Any]:
    """A record's values in ``COLUMNS`` order, JSON fields wrapped for their column type."""
    values = []
    for name in COLUMNS:
        value = getattr(record, name)
        if value is not None and name in _JSON:
            value = Json(value)
        elif name in _JSONB:
            value = Jsonb(value)
        values.append(value)
    return values


def to_record(row: dict[str, Any], prefix: str = "") -> InteractionRecord:
    return InteractionRecord(**{name: row[prefix + name] for name in COLUMNS})


async def fetch(conn: Conn, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    return await (await conn.execute(sql, params)).fetchall()  # type: ignore[arg-type]


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value  # type: ignore[no-any-return]


def json_path_equals(column: str, path: list[str], value: Any, params: list[Any]) -> str:
    """SQL testing that the value at ``path`` in a jsonb column equals ``value`` (parameters
    appended to ``params``). A scalar is a containment test (served by the GIN index); an object
    or array must also be equal, not merely contained; ``None`` never matches."""
    if value is None:
        return "false"
    params.append(Jsonb(_nest(path, value)))
    if not isinstance(value, (dict, list)):
        return f"{column} @> %s"
    params += [path, Jsonb(value)]
    return f"({column} @> %s AND {column} #> %s = %s)"


def _any_of(column: str, values: Any, params: list[Any]) -> str:
    params.append(list(values))
    return f"{column} = ANY(%s)"


def _tagged(key: str, value: Any) -> bool:
    """Whether ``interaction_tags`` holds this label / metadata value (see the migration)."""
    if len(key) > TAG_MAX or value is None or isinstance(value, (dict, list)):
        return False
    return not isinstance(value, str) or len(value) <= TAG_MAX


POSTGRES = Flavour(
    mark="%s",
    false="false",
    json=Json,
    json_equals=lambda column, key, value, params: json_path_equals(column, [key], value, params),
    any_of=_any_of,
    tagged=_tagged,
    tag_value=Jsonb,
)


def _key_path(key: str) -> list[str]:
    vec.json_path(key)  # raises ValueError for a malformed key
    return key.split(".")


def filter_sql(tenant: str, query: VectorQuery, *, table: str) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) for the filters of ``query`` on ``table``: the
    semantics of ``vectors.filter_sql`` with jsonb operators. Raises ``ValueError`` for a
    malformed key."""
    t = table
    where, params = [f"{t}.tenant = %s", f"NOT {t}.deleted"], [tenant]
    if query.labels:
        where.append(f"{t}.labels @> %s")
        params.append(Jsonb(query.labels))
    for key, value in query.metadata.items():
        if value is None:  # the key is absent
            where.append(f"{t}.metadata #> %s IS NULL")
            params.append(_key_path(key))
        else:
            where.append(json_path_equals(f"{t}.metadata", _key_path(key), value, params))
    for key, prefix in query.metadata_prefix.items():
        stem = prefix.rstrip("/")
        if not stem:
            continue
        path = _key_path(key)
        where.append(f"({t}.metadata #> %s = %s OR starts_with({t}.metadata #>> %s, %s))")
        params += [path, Jsonb(stem), path, stem + "/"]
    for key, values in query.metadata_any.items():
        wanted = [Jsonb(v) for v in values if v is not None]
        if not wanted:
            where.append("false")
            continue
        where.append(
            f"EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof({t}.metadata #> %s)"
            f" WHEN 'array' THEN {t}.metadata #> %s ELSE jsonb_build_array({t}.metadata #> %s) END)"
            " AS e(v) WHERE e.v = ANY(%s::jsonb[]))"
        )
        params += [_key_path(key)] * 3 + [wanted]
    return " AND ".join(where), params


#: Embeddings read per round trip while ranking.
_BATCH = 2000


async def search(
    conn: Conn, tenant: str, query: VectorQuery
) -> list[tuple[InteractionRecord, float | None]]:
    """Run ``query`` in the caller's (repeatable read) transaction. With a vector, every
    candidate's embedding is scored here, as SQLite's store does (``vectors.dot``: numpy when
    installed), and only the page's records are read."""
    where, params = filter_sql(tenant, query, table="i")
    if query.vector is None:
        return [(to_record(row), None) for row in await fetch(conn, *sql.newest_sql(
            POSTGRES, where, params, query))]  # fmt: skip
    target = vec.pack(query.vector)
    min_score = -2.0 if query.min_score is None else query.min_score
    ranked: list[tuple[float, float, str]] = []
    async with conn.cursor("interstate_search", binary=True, row_factory=tuple_row) as cursor:
        await cursor.execute(
            "SELECT i.id, i.created, e.vector FROM interactions i"
            f" JOIN embeddings e ON e.interaction_id = i.id WHERE {where} AND e.dim = %s",
            [*params, len(query.vector)],
        )
        while rows := await cursor.fetchmany(_BATCH):
            for interaction_id, created, blob in rows:
                score = vec.dot(blob, target)
                if score is not None and score >= min_score:
                    ranked.append((score, created, interaction_id))
    ranked.sort(reverse=True)  # score, then created, then id, all descending
    page = ranked[query.offset : query.offset + query.limit]
    rows = await fetch(
        conn, f"SELECT {SELECT} FROM interactions WHERE id = ANY(%s)", ([i for *_, i in page],)
    )
    records = {row["id"]: to_record(row) for row in rows}
    return [(records[i], score) for score, _, i in page]


async def put_embeddings(conn: Conn, tenant: str, vectors: dict[str, list[float]]) -> list[str]:
    """Store the embeddings (in the caller's transaction) unless an id is not found."""
    ids = list(vectors)
    rows = await fetch(
        conn,  # FOR KEY SHARE: a concurrent delete waits until the embeddings are written
        "SELECT id FROM interactions WHERE tenant = %s AND NOT deleted AND id = ANY(%s)"
        " FOR KEY SHARE",
        (tenant, ids),
    )
    found = {row["id"] for row in rows}
    missing = [i for i in ids if i not in found]
    if not missing:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO embeddings (interaction_id, dim, vector) VALUES (%s, %s, %s)"
                " ON CONFLICT (interaction_id) DO UPDATE"
                " SET dim = EXCLUDED.dim, vector = EXCLUDED.vector",
                [(i, len(v), vec.pack(v)) for i, v in vectors.items()],
            )
    return missing


async def get_refs(
    conn: Conn, tenant: str, query: RefQuery, resolve: bool
) -> list[tuple[Ref, InteractionRecord | None]]:
    rows = await fetch(conn, *sql.refs_sql(POSTGRES, tenant, query, resolve))
    return sql.refs_from_rows(rows, resolve, lambda metadata: metadata, to_record)


#: One abbreviated interaction as JSON (``sql.chain_json_sql``).
_WIRE_JSON = (
    "json_build_object('id', id, 'previous_interaction_id', parent_id, 'status', status,"
    " 'labels', labels, 'input', input, 'steps', steps, 'interstate', json_build_object("
    "'kind', kind, 'root_interaction_id', root_id, 'depth', depth, 'metadata', metadata))"
)


async def chain_json(conn: Conn, tenant: str, interaction_id: str) -> str:
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute(sql.chain_json_sql(POSTGRES, _WIRE_JSON + "::text"),
                         (interaction_id, tenant, tenant))  # fmt: skip
    return "[" + ",".join(row[0] for row in await cursor.fetchall()) + "]"


_TOMBSTONE = (
    "UPDATE interactions SET deleted = true, input = '[]', steps = '[]', config = '{}',"
    " metadata = '{}', labels = '{}', usage = NULL, errors = NULL, idempotency_key = NULL,"
    " lease_owner = NULL, lease_until = NULL WHERE id = ANY(%s)"
)


class PostgresBatchDb:
    """``batch.BatchDb`` on a psycopg connection (the caller holds the transaction)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def records(self, tenant: str, ids: Iterable[str]) -> dict[str, InteractionRecord]:
        rows = await fetch(
            self.conn,
            f"SELECT {SELECT} FROM interactions WHERE tenant = %s AND NOT deleted AND id = ANY(%s)"
            " ORDER BY id FOR UPDATE",  # a delete locks its rows before it looks for children
            (tenant, list(dict.fromkeys(ids))),
        )
        return {row["id"]: to_record(row) for row in rows}

    async def lineage(self, tenant: str, ids: Iterable[str]) -> dict[str, Lineage]:
        rows = await fetch(
            self.conn,
            "SELECT id, status, root_id, depth FROM interactions"
            " WHERE tenant = %s AND NOT deleted AND id = ANY(%s) ORDER BY id FOR SHARE",
            (tenant, list(dict.fromkeys(ids))),
        )
        return {row["id"]: Lineage(row["status"], row["root_id"], row["depth"]) for row in rows}

    async def insert(self, record: InteractionRecord) -> bool:
        marks = ", ".join(["%s"] * len(COLUMNS))
        cursor = await self.conn.execute(
            f"INSERT INTO interactions ({SELECT}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            record_params(record),
        )
        return cursor.rowcount > 0

    async def metadata(self, tenant: str, interaction_id: str) -> dict[str, Any] | None:
        rows = await fetch(
            self.conn,
            "SELECT metadata FROM interactions WHERE id = %s AND tenant = %s AND NOT deleted"
            " FOR UPDATE",
            (interaction_id, tenant),
        )
        return rows[0]["metadata"] if rows else None

    async def set_metadata(
        self, tenant: str, interaction_id: str, metadata: dict[str, Any]
    ) -> None:
        await self.conn.execute(
            "UPDATE interactions SET metadata = %s WHERE id = %s AND tenant = %s",
            (Jsonb(metadata), interaction_id, tenant),
        )

    async def children(self, ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in await fetch(
            self.conn, "SELECT id, parent_id FROM interactions WHERE parent_id = ANY(%s)", (ids,)
        ):
            out.setdefault(row["parent_id"], []).append(row["id"])
        return out

    async def parents(self, ids: list[str]) -> set[str]:
        rows = await fetch(
            self.conn,
            "SELECT parent_id FROM interactions WHERE id = ANY(%s) AND parent_id IS NOT NULL",
            (ids,),
        )
        return {row["parent_id"] for row in rows}

    async def remove(self, ids: list[str]) -> None:
        await self.conn.execute("DELETE FROM interactions WHERE id = ANY(%s)", (ids,))
        await self.conn.execute("DELETE FROM events WHERE interaction_id = ANY(%s)", (ids,))

    async def tombstone(self, ids: list[str]) -> None:
        await self.conn.execute(_TOMBSTONE, (ids,))
        await self.conn.execute("DELETE FROM events WHERE interaction_id = ANY(%s)", (ids,))
        # Search never shows a tombstone, so its embedding would only take space.
        await self.conn.execute("DELETE FROM embeddings WHERE interaction_id = ANY(%s)", (ids,))

    async def bump_generations(self, tenant: str, root_ids: list[str]) -> None:
        async with self.conn.cursor() as cursor:
            await cursor.executemany(
                generations.bump_sql(POSTGRES), [(tenant, root_id) for root_id in root_ids]
            )

    async def orphan_tombstones(self, ids: list[str]) -> list[tuple[str, str | None]]:
        rows = await fetch(
            self.conn,
            "SELECT id, parent_id FROM interactions i WHERE id = ANY(%s) AND deleted"
            " AND NOT EXISTS (SELECT 1 FROM interactions c WHERE c.parent_id = i.id)",
            (ids,),
        )
        return [(row["id"], row["parent_id"]) for row in rows]

    async def ref(self, tenant: str, name: str) -> tuple[str | None, dict[str, Any]] | None:
        """The ref, locked until the transaction ends; a missing one, its name locked (two
        batches creating one ref take turns: the second finds the first's)."""
        select = "SELECT order_key, metadata FROM refs WHERE tenant = %s AND name = %s FOR UPDATE"
        rows = await fetch(self.conn, select, (tenant, name))
        if not rows:
            await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                                    (f"interstate:ref:{tenant}:{name}",))  # fmt: skip
            rows = await fetch(self.conn, select, (tenant, name))
        return (rows[0]["order_key"], rows[0]["metadata"]) if rows else None

    async def insert_ref(self, tenant: str, ref: Ref) -> None:
        await self.conn.execute(
            "INSERT INTO refs (tenant, name, interaction_id, order_key, metadata, updated)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (tenant, ref.name, ref.interaction_id, ref.order_key, Json(ref.metadata), ref.updated),
        )

    async def update_ref(self, tenant: str, name: str, values: dict[str, Any]) -> None:
        if "metadata" in values:
            values = {**values, "metadata": Json(values["metadata"])}
        await self.conn.execute(
            f"UPDATE refs SET {', '.join(f'{column} = %s' for column in values)}"
            " WHERE tenant = %s AND name = %s",
            (*values.values(), tenant, name),
        )

    async def delete_refs(self, tenant: str, names: list[str], prefix: str | None) -> int:
        deleted = 0
        if names:
            deleted += (await self.conn.execute(
                "DELETE FROM refs WHERE tenant = %s AND name = ANY(%s)", (tenant, names)
            )).rowcount  # fmt: skip
        if prefix is not None:
            deleted += (await self.conn.execute(
                "DELETE FROM refs WHERE tenant = %s AND name LIKE %s ESCAPE '\\'",
                (tenant, sql.like_prefix(prefix)),
            )).rowcount  # fmt: skip
        return deleted
