"""PostgreSQL from the caller's thread, for the embedded server (``EmbeddedServer.serve_here``).

The async store runs every statement on the server's event-loop thread: a request from the
caller's thread hands over to that loop and back, and a batch awaits each of its statements
there. For the checkpointer's few-statement batches and reads, the hand-offs (each waiting for
the GIL) cost several times the statements. Under ``PostgresStore.here()`` those calls run in
the calling thread instead, on blocking psycopg connections of their own (``SyncPool``), through
the very same code as the async path: ``Blocking`` gives a blocking connection the awaitable
surface that code uses, so a coroutine over it never suspends and ``batch.run_sync`` drives it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps


class _Cursor:
    """A blocking cursor with the awaitable methods the store code calls."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def execute(self, query: Any, params: Any = None) -> "_Cursor":
        self._cursor.execute(query, params)
        return self

    async def executemany(self, query: Any, params_seq: Any) -> None:
        self._cursor.executemany(query, params_seq)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def __aenter__(self) -> "_Cursor":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._cursor.close()


class Blocking:
    """A blocking ``psycopg.Connection`` seen as the ``AsyncConnection`` the store code uses."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    async def execute(self, query: Any, params: Any = None) -> _Cursor:
        return _Cursor(self._conn.execute(query, params))

    def cursor(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._conn.cursor(*args, **kwargs))


class SyncPool:
    """At most ``size`` blocking autocommit connections (a caller beyond waits), opened on
    demand and shared by the callers' threads; one broken or left inside a transaction is
    closed instead of reused."""

    def __init__(self, conninfo: str, dumps: Any, size: int) -> None:
        self.conninfo = conninfo
        self._dumps = dumps
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._slots:
            yield from self._borrow()

    def _borrow(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the PostgreSQL store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = psycopg.Connection.connect(self.conninfo, autocommit=True, row_factory=dict_row)
            set_json_dumps(self._dumps, conn)
        try:
            yield conn
        finally:
            idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with self._lock:
                keep = not self._closed and not conn.broken and not conn.closed and idle
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
