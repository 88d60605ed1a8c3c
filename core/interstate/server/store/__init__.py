"""Storage for interactions and their events, behind one interface (``Store``)."""

from interstate.server.store.base import InteractionRecord, ListQuery, Store, StoredEvent

__all__ = ["InteractionRecord", "ListQuery", "Store", "StoredEvent", "open_store"]


async def open_store(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///path.db``, ``sqlite://:memory:`` or a bare path."""
    from interstate.server.store.sqlite import SqliteStore

    return await SqliteStore.open(url)
