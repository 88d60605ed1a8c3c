"""SQLite's schema (ordered migrations) and the options a SQLite URL carries."""

from __future__ import annotations

from urllib.parse import parse_qsl

__all__ = ["MIGRATIONS", "SYNCHRONOUS", "sqlite_path", "sqlite_synchronous"]

#: Ordered migrations; the database's ``user_version`` is the count already applied.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE interactions (
        id              TEXT PRIMARY KEY,
        tenant          TEXT NOT NULL,
        kind            TEXT NOT NULL,
        status          TEXT NOT NULL,
        created         REAL NOT NULL,
        updated         REAL NOT NULL,
        parent_id       TEXT,
        root_id         TEXT NOT NULL,
        depth           INTEGER NOT NULL,
        model           TEXT,
        agent           TEXT,
        config          TEXT NOT NULL,
        input           TEXT NOT NULL,
        steps           TEXT NOT NULL,
        usage           TEXT,
        errors          TEXT,
        labels          TEXT NOT NULL,
        metadata        TEXT NOT NULL,
        background      INTEGER NOT NULL,
        idempotency_key TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        lease_owner     TEXT,
        lease_until     REAL,
        provider_state  TEXT,
        deleted         INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX interactions_by_tenant ON interactions (tenant, created, id);
    CREATE INDEX interactions_by_parent ON interactions (parent_id);
    CREATE INDEX interactions_by_root ON interactions (tenant, root_id, depth);
    CREATE UNIQUE INDEX interactions_by_idempotency_key
        ON interactions (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX interactions_unfinished ON interactions (status)
        WHERE status IN ('queued', 'in_progress');
    CREATE TABLE events (
        interaction_id TEXT NOT NULL,
        seq            INTEGER NOT NULL,
        data           TEXT NOT NULL,
        PRIMARY KEY (interaction_id, seq)
    ) WITHOUT ROWID;
    """,
    # interstate extension: one embedding per interaction, for vector search (search.py).
    """
    CREATE TABLE embeddings (
        interaction_id TEXT PRIMARY KEY REFERENCES interactions (id) ON DELETE CASCADE,
        dim            INTEGER NOT NULL,
        vector         BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX embeddings_by_dim ON embeddings (dim);
    """,
    # interstate extension: refs, named movable pointers to interactions (refs.py, sqlite_ops).
    """
    CREATE TABLE refs (
        tenant         TEXT NOT NULL,
        name           TEXT NOT NULL,
        interaction_id TEXT NOT NULL,
        order_key      TEXT,
        metadata       TEXT NOT NULL,
        updated        REAL NOT NULL,
        PRIMARY KEY (tenant, name)
    ) WITHOUT ROWID;
    """,
]


#: ``PRAGMA synchronous`` levels a URL may ask for (``?synchronous=full``); NORMAL by default.
SYNCHRONOUS = ("off", "normal", "full", "extra")


def sqlite_path(url: str) -> str:
    """``sqlite:///rel.db`` → ``rel.db``, ``sqlite:////abs.db`` → ``/abs.db``, ``:memory:``
    (options after ``?`` are ``sqlite_synchronous``'s)."""
    if url.startswith("sqlite://"):
        rest = url[len("sqlite://") :].partition("?")[0]
        if rest in ("", ":memory:", "/:memory:"):
            return ":memory:"
        return rest[1:] if rest.startswith("/") else rest
    return url


def sqlite_synchronous(url: str) -> str:
    """The ``PRAGMA synchronous`` a SQLite URL asks for: ``sqlite:///app.db?synchronous=full``
    fsyncs every commit (a power cut loses nothing committed); the default ``normal`` fsyncs
    at checkpoints only (WAL: a process crash loses nothing, a power cut the last commits)."""
    query = url.partition("?")[2] if url.startswith("sqlite://") else ""
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"synchronous"})
    if unknown:
        raise ValueError(f"Unknown SQLite URL option(s) {', '.join(unknown)}; the only one is "
                         f"synchronous={'|'.join(SYNCHRONOUS)}")  # fmt: skip
    level = options.get("synchronous", "normal").lower()
    if level not in SYNCHRONOUS:
        raise ValueError(f"synchronous={level!r} in {url!r}: use one of {', '.join(SYNCHRONOUS)}")
    return level
