"""Which tenant ``interstate show`` / ``threads`` read in an embedded database, and which tenants
hold rows there.

A server's database holds the rows of every tenant of its keys (``KEY:TENANT`` names one;
``KEY`` alone is ``key-<digest>``, see ``interstate.server.auth``), while an embedded reader is
tenant ``default`` unless it names another (``--tenant`` / ``INTERSTATE_TENANT``, sent as
``TENANT_HEADER``). So "nothing here" must say whose rows were read and whose are there. The
counts are read with the database's own driver (read-only for SQLite), not through the server,
which never lists tenants.
"""

from __future__ import annotations

import contextlib
import shlex
import sqlite3
from typing import Any

from interstate.server.auth import LOCAL_TENANT

__all__ = ["foreign_owner", "no_rows_note", "tenant_counts", "wrong_tenant_hint"]

_COUNTS = "SELECT tenant, count(*) FROM interactions WHERE NOT deleted GROUP BY tenant ORDER BY 2 DESC, 1"
_OWNER = "SELECT tenant FROM interactions WHERE id = ? AND NOT deleted"


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) on the database of an embedded URL; none for an
    in-memory one."""
    from interstate._cli_checks import _sqlite_file
    from interstate.server.store import store_scheme

    scheme = store_scheme(url)
    if scheme == "sqlite":
        path = _sqlite_file(url)
        if path is None or not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            return conn.execute(sql, params).fetchall()
    if scheme == "postgres":
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]
    return []


def tenant_counts(url: str) -> dict[str, int]:
    """Tenant → interactions stored, most first."""
    return {tenant: count for tenant, count in _query(url, _COUNTS)}


def foreign_owner(url: str, interaction_id: str, tenant: str) -> str | None:
    """The tenant holding ``interaction_id`` if it is not ``tenant``."""
    rows = _query(url, _OWNER, (interaction_id,))
    owner = rows[0][0] if rows else None
    return owner if owner != tenant else None


def no_rows_note(url: str, tenant: str) -> str:
    """Why an embedded read of ``tenant`` found nothing: which tenants hold rows, and how to
    read one of them."""
    others = tenant_counts(url)
    if not others:
        return "No interactions stored yet."
    held = ", ".join(f"{name} ({count})" for name, count in others.items())
    return (f"No interactions of tenant {tenant!r} (the tenant read) in this database; it holds "
            f"those of: {held}. Read them with --tenant NAME (or INTERSTATE_TENANT=NAME).")  # fmt: skip


def wrong_tenant_hint(url: str, interaction_id: str, tenant: str) -> str | None:
    """For an id not found as ``tenant``: the one line saying whose it is, if another tenant's."""
    owner = foreign_owner(url, interaction_id, tenant)
    if owner is None:
        return None
    return (f"{interaction_id} belongs to tenant {owner!r}, not {tenant!r} (the tenant read); "
            f"pass --tenant {shlex.quote(owner)} (or INTERSTATE_TENANT={shlex.quote(owner)})")
