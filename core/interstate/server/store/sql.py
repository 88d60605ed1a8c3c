"""The statements both SQL stores build the same way, written once.

A ``Flavour`` supplies what differs: the placeholder, the literal for false, how a JSON column
value is passed, a test of a JSON value, and membership in a list. The flavours live beside
their stores (``sqlite.SQLITE``, ``postgres_ops.POSTGRES``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from interstate.server.store.base import InteractionRecord, ListQuery, VectorQuery
from interstate.server.store.ops import Ref, RefQuery

COLUMNS = tuple(f.name for f in fields(InteractionRecord))


@dataclass(frozen=True)
class Flavour:
    #: The parameter placeholder (``?`` or ``%s``).
    mark: str
    #: The literal that ``deleted`` equals on a live row.
    false: str
    #: A JSON column value as a parameter.
    json: Callable[[Any], Any]
    #: ``(column, key, value, params)`` -> SQL true when ``column``'s top-level ``key`` equals
    #: ``value`` (parameters appended to ``params``).
    json_equals: Callable[[str, str, Any, list[Any]], str]
    #: ``(column, values, params)`` -> SQL true when ``column`` is one of ``values``.
    any_of: Callable[[str, Sequence[Any], list[Any]], str]


def chain_sql(f: Flavour, columns: str) -> str:
    """A record and its ancestors, root first; parameters ``(id, tenant, tenant)``."""
    m = f.mark
    return f"""
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM interactions WHERE id = {m} AND tenant = {m}
            UNION ALL
            SELECT i.id, i.parent_id FROM interactions i JOIN up ON i.id = up.parent_id
            WHERE i.tenant = {m}
        )
        SELECT {columns} FROM interactions WHERE id IN (SELECT id FROM up) ORDER BY depth
        """


def descendants_sql(f: Flavour, columns: str) -> str:
    """The live records below one, parents first; parameters ``(id, tenant, tenant)``."""
    m = f.mark
    return f"""
        WITH RECURSIVE down(id) AS (
            SELECT id FROM interactions WHERE parent_id = {m} AND tenant = {m}
            UNION ALL
            SELECT i.id FROM interactions i JOIN down ON i.parent_id = down.id
            WHERE i.tenant = {m}
        )
        SELECT {columns} FROM interactions
        WHERE id IN (SELECT id FROM down) AND deleted = {f.false} ORDER BY depth, created, id
        """


def list_sql(f: Flavour, columns: str, tenant: str, query: ListQuery) -> tuple[str, list[Any]]:
    m = f.mark
    where = [f"tenant = {m}", f"deleted = {f.false}"]
    params: list[Any] = [tenant]
    for column in ("labels", "metadata"):
        for key, value in getattr(query, column).items():
            where.append(f.json_equals(column, key, value, params))
    for column in ("status", "parent_id", "root_id"):
        if getattr(query, column) is not None:
            where.append(f"{column} = {m}")
            params.append(getattr(query, column))
    if query.leaves_only:
        where.append(
            "NOT EXISTS (SELECT 1 FROM interactions c"
            f" WHERE c.parent_id = interactions.id AND c.deleted = {f.false})"
        )
    order = "DESC" if query.descending else "ASC"
    if query.after is not None:
        where.append(f"(created, id) {'<' if query.descending else '>'} ({m}, {m})")
        params += list(query.after)
    params.append(query.limit)
    sql = (f"SELECT {columns} FROM interactions WHERE {' AND '.join(where)}"
           f" ORDER BY created {order}, id {order} LIMIT {m}")  # fmt: skip
    return sql, params


def update_status_sql(
    f: Flavour,
    interaction_id: str,
    status: str,
    now: float,
    only_if: frozenset[str] | None,
    outputs: Mapping[str, Any],
    release_lease: bool,
) -> tuple[str, list[Any]]:
    """The guarded ``UPDATE`` of ``Store.update_status``; ``outputs`` maps JSON columns to
    values (``None``: left as they are)."""
    m = f.mark
    sets = [f"status = {m}", f"updated = {m}"]
    params: list[Any] = [status, now]
    for column, value in outputs.items():
        if value is not None:
            sets.append(f"{column} = {m}")
            params.append(f.json(value))
    if release_lease:
        sets.append("lease_owner = NULL, lease_until = NULL")
    sql = f"UPDATE interactions SET {', '.join(sets)} WHERE id = {m} AND deleted = {f.false}"
    params.append(interaction_id)
    if only_if is not None:
        sql += " AND " + f.any_of("status", sorted(only_if), params)
    return sql, params


def newest_sql(
    f: Flavour, where: str, params: list[Any], query: VectorQuery
) -> tuple[str, list[Any]]:
    """A page of the interactions ``i`` matching ``where`` (its ``params``), newest first."""
    m = f.mark
    columns = ", ".join(f"i.{name}" for name in COLUMNS)
    sql = (f"SELECT {columns} FROM interactions i WHERE {where}"
           f" ORDER BY i.created DESC, i.id DESC LIMIT {m} OFFSET {m}")  # fmt: skip
    return sql, [*params, query.limit, query.offset]


def like_prefix(prefix: str) -> str:
    """A ``LIKE ... ESCAPE '\\'`` pattern matching the names that start with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def refs_sql(f: Flavour, tenant: str, query: RefQuery, resolve: bool) -> tuple[str, list[Any]]:
    """Refs in name order; with ``resolve``, their live targets' columns prefixed ``i_``."""
    m = f.mark
    where, params = [f"r.tenant = {m}"], [tenant]
    if query.names:
        where.append(f.any_of("r.name", query.names, params))
    if query.prefix is not None:
        where.append(f"r.name LIKE {m} ESCAPE '\\'")
        params.append(like_prefix(query.prefix))
    if query.after is not None:
        where.append(f"r.name > {m}")
        params.append(query.after)
    columns = ", ".join(f"i.{name} AS i_{name}" for name in COLUMNS)
    join = (
        " LEFT JOIN interactions i ON i.id = r.interaction_id AND i.tenant = r.tenant"
        f" AND i.deleted = {f.false}"
    )
    sql = (
        "SELECT r.name, r.interaction_id, r.order_key, r.metadata, r.updated"
        + (f", {columns} FROM refs r{join}" if resolve else " FROM refs r")
        + f" WHERE {' AND '.join(where)} ORDER BY r.name LIMIT {m}"
    )
    return sql, [*params, query.limit]


def refs_from_rows(
    rows: list[Any],
    resolve: bool,
    load: Callable[[Any], Any],
    to_record: Callable[[dict[str, Any]], InteractionRecord],
) -> list[tuple[Ref, InteractionRecord | None]]:
    """``(Ref, record or None)`` pairs from the rows of ``refs_sql`` (mappings by column name);
    ``load`` decodes a stored metadata value, ``to_record`` a record's columns."""
    out: list[tuple[Ref, InteractionRecord | None]] = []
    for row in rows:
        ref = Ref(
            row["name"], row["interaction_id"], row["order_key"], load(row["metadata"]),
            row["updated"],
        )  # fmt: skip
        record = None
        if resolve and row["i_id"] is not None:
            record = to_record({name: row[f"i_{name}"] for name in COLUMNS})
        out.append((ref, record))
    return out
