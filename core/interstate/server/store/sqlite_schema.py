"""SQLite's schema (ordered migrations) and the options a SQLite URL carries."""

from __future__ import annotations

from urllib.parse import parse_qsl

__all__ = ["MIGRATIONS", "SYNCHRONOUS", "TAG_MAX", "sqlite_path", "sqlite_synchronous"]

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
    # Chain generations, bumped by every delete (store/generations.py, server/history.py).
    """
    CREATE TABLE chain_generations (
        tenant     TEXT NOT NULL,
        root_id    TEXT NOT NULL,
        generation INTEGER NOT NULL,
        PRIMARY KEY (tenant, root_id)
    ) WITHOUT ROWID;
    """,
    # Index-backed lists (issue 12): lists of a root's or a parent's interactions in created
    # order, and ``interaction_tags``, the live rows' labels and short scalar metadata values
    # (``TAGGED``), kept by triggers, so a label or metadata list walks an index in created
    # order instead of scanning the tenant's rows.
    """
    DROP INDEX interactions_by_parent;
    DROP INDEX interactions_by_root;
    CREATE INDEX interactions_by_parent ON interactions (parent_id, created, id);
    CREATE INDEX interactions_by_root ON interactions (tenant, root_id, created, id);
    CREATE TABLE interaction_tags (
        tenant  TEXT NOT NULL,
        field   TEXT NOT NULL,
        key     TEXT NOT NULL,
        value   NOT NULL,
        created REAL NOT NULL,
        id      TEXT NOT NULL,
        PRIMARY KEY (tenant, field, key, value, created, id)
    ) WITHOUT ROWID;
    CREATE INDEX interaction_tags_by_id ON interaction_tags (id);
    CREATE TRIGGER interactions_tag_insert AFTER INSERT ON interactions WHEN NEW.deleted = 0
    BEGIN
        INSERT OR IGNORE INTO interaction_tags
            SELECT NEW.tenant, 'l', j.key, j.value, NEW.created, NEW.id
            FROM json_each(NEW.labels) j WHERE TAGGED;
        INSERT OR IGNORE INTO interaction_tags
            SELECT NEW.tenant, 'm', j.key, j.value, NEW.created, NEW.id
            FROM json_each(NEW.metadata) j WHERE TAGGED;
    END;
    CREATE TRIGGER interactions_tag_update
        AFTER UPDATE OF labels, metadata, deleted, created ON interactions
    BEGIN
        DELETE FROM interaction_tags WHERE id = OLD.id;
        INSERT OR IGNORE INTO interaction_tags
            SELECT NEW.tenant, 'l', j.key, j.value, NEW.created, NEW.id
            FROM json_each(NEW.labels) j WHERE NEW.deleted = 0 AND TAGGED;
        INSERT OR IGNORE INTO interaction_tags
            SELECT NEW.tenant, 'm', j.key, j.value, NEW.created, NEW.id
            FROM json_each(NEW.metadata) j WHERE NEW.deleted = 0 AND TAGGED;
    END;
    CREATE TRIGGER interactions_tag_delete AFTER DELETE ON interactions
    BEGIN
        DELETE FROM interaction_tags WHERE id = OLD.id;
    END;
    INSERT OR IGNORE INTO interaction_tags
        SELECT i.tenant, 'l', j.key, j.value, i.created, i.id
        FROM interactions i, json_each(i.labels) j WHERE i.deleted = 0 AND TAGGED;
    INSERT OR IGNORE INTO interaction_tags
        SELECT i.tenant, 'm', j.key, j.value, i.created, i.id
        FROM interactions i, json_each(i.metadata) j WHERE i.deleted = 0 AND TAGGED;
    """.replace("TAGGED", "(j.type IN ('integer', 'real', 'true', 'false') OR (j.type = 'text'"
                " AND length(j.value) <= 256)) AND length(j.key) <= 256"),
]

#: The longest metadata string value (and key) ``interaction_tags`` holds: a filter on a longer
#: one, or on an object, array or null, reads the rows' JSON instead.
TAG_MAX = 256


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
