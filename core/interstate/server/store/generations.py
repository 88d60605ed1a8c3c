"""Chain generations: a counter per ``(tenant, root)`` that every delete of a record in that
tree bumps, in the delete's own transaction.

They let a server process that caches what a model is shown of a chain (``history``) tell, with
one point read, whether anything in the chain may have been deleted (or tombstoned, or removed
and its id recorded again) since it read the chain: nothing else changes a finished record's
input, output or parent. A counter only grows, so 0 (no row) is a safe lower bound for any tree.
Rows are never deleted (a removed tree's counter must not start again at 0): one small row per
tree that ever had a delete.
"""

from __future__ import annotations

from interstate.server.store.sql import Flavour

_UPSERT = (
    " ON CONFLICT (tenant, root_id) DO UPDATE SET generation = chain_generations.generation + 1"
)


def read_sql(f: Flavour) -> str:
    """The generation of one tree (no row: 0); parameters ``(tenant, root_id)``."""
    return f"SELECT generation FROM chain_generations WHERE tenant = {f.mark} AND root_id = {f.mark}"


def bump_sql(f: Flavour) -> str:
    """Bump one tree's generation; parameters ``(tenant, root_id)``."""
    return (
        "INSERT INTO chain_generations (tenant, root_id, generation)"
        f" VALUES ({f.mark}, {f.mark}, 1){_UPSERT}"
    )

