"""Storage for interactions and their events, behind one interface (``Store``)."""

from interstate.server.store.base import InteractionRecord, ListQuery, Store, StoredEvent

__all__ = ["InteractionRecord", "ListQuery", "Store", "StoredEvent", "open_store"]


async def open_store(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///path.db``, ``sqlite://:memory:`` or a bare path."""
    scheme = url.partition("://")[0].lower() if "://" in url else "sqlite"
    if scheme != "sqlite":
        raise ValueError(
            f"No store for {scheme}:// URLs in this version of interstate; use a "
            "sqlite:///path.db URL (PostgreSQL support is planned, not shipped)"
        )
    from interstate.server.store.sqlite import SqliteStore

    return await SqliteStore.open(url)
