"""Storage for interactions and their events, behind one interface (``Store``)."""

from interstate.server.store.base import (
    InteractionRecord,
    ListQuery,
    Store,
    StoredEvent,
)

__all__ = [
    "InteractionRecord", "ListQuery", "Store", "StoredEvent", "database_url", "open_store",
    "store_scheme",
]

#: URL schemes of the stores; ``postgres`` needs the ``postgres`` extra (psycopg).
_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}


def store_scheme(url: str) -> str | None:
    """``"sqlite"`` or ``"postgres"`` for a database URL (a bare path is SQLite), else None."""
    return _SCHEMES.get(url.partition("://")[0].lower()) if "://" in url else "sqlite"


def database_url(value: str) -> str:
    """A ``--db`` value as a store URL: a database URL as it is, a bare path as SQLite's."""
    return value if value.startswith("sqlite:") or "://" in value else f"sqlite:///{value}"


async def open_store(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///path.db``, ``sqlite://:memory:``, a bare path
    (SQLite), or ``postgresql://user:password@host:port/database?...`` (any libpq URL)."""
    flavour = store_scheme(url)
    if flavour == "postgres":
        try:
            from interstate.server.store.postgres import PostgresStore
        except ImportError as exc:
            raise ValueError(
                f"PostgreSQL URLs need psycopg ({exc}); install interstate[postgres]"
            ) from None
        return await PostgresStore.open(url)
    if flavour != "sqlite":
        raise ValueError(
            f"No store for {url.partition('://')[0]}:// URLs; use sqlite:///path.db or "
            "postgresql://user:password@host/database"
        )
    from interstate.server.store.sqlite import SqliteStore

    return await SqliteStore.open(url)
