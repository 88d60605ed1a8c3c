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
    #: ``(key, value)`` -> whether ``interaction_tags`` holds that label / metadata value (a
    #: flavour without that table: None).
    tagged: Callable[[str, Any], bool] | None = None
    #: A tagged value as ``interaction_tags.value`` holds it.
    tag_value: Callable[[Any], Any] | None = None
    #: Put before a column, keeps the planner from using an index for that term (SQLite: +).
    unindexed: str = ""


def _walk_up(f: Flavour) -> str:
    """The ids from a record up to its root (``up``); parameters ``(id, tenant, tenant)``."""
    m = f.mark
    return f"""
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM interactions WHERE id = {m} AND tenant = {m}
            UNION ALL
            SELECT i.id, i.parent_id FROM interactions i JOIN up ON i.id = up.parent_id
            WHERE i.tenant = {m}
        )"""


def chain_sql(f: Flavour, columns: str) -> str:
    """A record and its ancestors, root first; parameters ``(id, tenant, tenant)``."""
    return (f"{_walk_up(f)} SELECT {columns} FROM interactions"
            " WHERE id IN (SELECT id FROM up) ORDER BY depth")  # fmt: skip


def chain_json_sql(f: Flavour, row_json: str) -> str:
    """A live record and its live ancestors, root first, each as one JSON object ``row_json``
    builds (an abbreviated interaction, see ``Store.chain_json``); parameters ``(id, tenant,
    tenant)``. Only the walk runs row by row; nothing is decoded per row."""
    return (f"{_walk_up(f)} SELECT {row_json} FROM interactions"
            f" WHERE id IN (SELECT id FROM up) AND deleted = {f.false} ORDER BY depth")  # fmt: skip


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
    """A page of ``query``, shaped so that an index serves it in created order: a root's or a
    parent's rows by their indexes, else (where the flavour keeps ``interaction_tags``) the rows
    of the first label or metadata filter the tags hold, else the tenant's rows."""
    m = f.mark
    selected = ", ".join(f"i.{name.strip()}" for name in columns.split(","))
    where = [f"i.tenant = {m}", f"i.deleted = {f.false}"]
    params: list[Any] = [tenant]
    source, order_by = "interactions i", "i"
    filters = [("l", k, v) for k, v in query.labels.items()]
    filters += [("m", k, v) for k, v in query.metadata.items()]
    driving = None
    if f.tagged is not None and query.parent_id is None and not query.parent_ids \
            and query.root_id is None:  # fmt: skip
        driving = next((flt for flt in filters if f.tagged(flt[1], flt[2])), None)
    if driving is not None:
        source, order_by = "interaction_tags t JOIN interactions i ON i.id = t.id", "t"
        where = [f"t.tenant = {m}", f"t.field = {m}", f"t.key = {m}", f"t.value = {m}",
                 f"i.deleted = {f.false}"]  # fmt: skip
        params = [tenant, driving[0], driving[1], f.tag_value(driving[2])]  # type: ignore[misc]
    for flt in filters:
        field_, key, value = flt
        if flt is driving:
            continue
        if driving is not None and f.tagged(key, value):  # type: ignore[misc]
            # the tags again (by id), not the JSON: a planner offered a JSON index for this
            # filter may scan all its rows and sort them instead of walking the driving tag
            where.append(f"EXISTS (SELECT 1 FROM interaction_tags t2 WHERE t2.id = i.id"
                         f" AND t2.field = {m} AND t2.key = {m} AND t2.value = {m})")  # fmt: skip
            params += [field_, key, f.tag_value(value)]  # type: ignore[misc]
        else:
            column = "i.labels" if field_ == "l" else "i.metadata"
            where.append(f.json_equals(column, key, value, params))
    for column in ("status", "parent_id", "root_id"):
        if getattr(query, column) is not None:
            where.append(f"i.{column} = {m}")
            params.append(getattr(query, column))
    if query.parent_ids:
        # Unary + keeps SQLite off the tenant index, whose order would spare it a sort of the
        # few children but cost a scan of the tenant's rows.
        where[0] = f"{f.unindexed}i.tenant = {m}"
        where.append(f.any_of("i.parent_id", query.parent_ids, params))
    if query.leaves_only:
        where.append(
            "NOT EXISTS (SELECT 1 FROM interactions c"
            f" WHERE c.parent_id = i.id AND c.deleted = {f.false})"
        )
    order = "DESC" if query.descending else "ASC"
    if query.after is not None:
        where.append(f"({order_by}.created, {order_by}.id) {'<' if query.descending else '>'} ({m}, {m})")
        params += list(query.after)
    params.append(query.limit)
    sql = (f"SELECT {selected} FROM {source} WHERE {' AND '.join(where)}"
           f" ORDER BY {order_by}.created {order}, {order_by}.id {order} LIMIT {m}")  # fmt: skip
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
