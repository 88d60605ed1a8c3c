"""What the command line checks before it starts: the database (a usable SQLite file, a
reachable PostgreSQL server, the extra installed) and the listening port.

Each check raises ``ValueError`` (or ``DatabaseUnavailableError``) with one line saying what is wrong and what to do; the CLI
prints it (redacted) and exits non-zero, instead of a traceback from deep inside the server.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path


__all__ = ["bind", "check_sqlite_file", "probe_database", "read_only_target"]

_SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(path: Path, *, must_exist: bool) -> None:
    """A path a SQLite database can be opened at: an existing SQLite file, or (unless
    ``must_exist``) a new file whose parent is, or can become, a directory."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a database file; pass a file path such as {path / 'interstate.db'}")
    if path.exists():
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
        if header and header != _SQLITE_HEADER:
            raise ValueError(f"{path} exists but is not an SQLite database; pass another file path")
        return
    if must_exist:
        raise ValueError(
            f"No interstate database at {path} (nothing was created: this command only reads); "
            "check --url / INTERSTATE_URL"
        )
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"{parent} is a file, so {path} cannot be created; pass a path in a directory")


def _sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for other URLs and in-memory databases)."""
    from interstate.server.store import store_scheme
    from interstate.server.store.sqlite_schema import sqlite_path

    if store_scheme(url) != "sqlite":
        return None
    path = sqlite_path(url)
    return None if path == ":memory:" else Path(path).expanduser().resolve()


def read_only_target(url: str | None) -> None:
    """For ``show`` / ``threads``: an embedded SQLite target must exist already (a mistyped
    path must not leave an empty database or directories behind); a PostgreSQL one must be
    reachable. The default database (no ``--url``, no ``INTERSTATE_URL``) is not a typo: it
    opens as usual, so a first ``interstate threads`` lists nothing."""
    from interstate.client._config import resolve_target
    from interstate.server.store import store_scheme

    if url is None and not os.environ.get("INTERSTATE_URL"):
        return
    target = resolve_target(url)
    if target.kind != "embedded":
        return
    path = _sqlite_file(target.url)
    if path is not None:
        check_sqlite_file(path, must_exist=True)
    elif store_scheme(target.url) == "postgres":
        probe_database(target.url)


async def _open_and_close(url: str) -> None:
    from interstate.server.store import open_store

    store = await open_store(url)
    await store.close()


def probe_database(url: str) -> None:
    """Open and close the store at ``url``; an unusable one raises ``ValueError`` (a path that
    cannot be a database, a bad URL) or ``DatabaseUnavailableError``."""
    from interstate.errors import DatabaseUnavailableError

    path = _sqlite_file(url)
    if path is not None:
        check_sqlite_file(path, must_exist=False)
    try:
        asyncio.run(_open_and_close(url))
    except ValueError:
        raise
    except Exception as exc:  # psycopg / sqlite3 / OS errors: one line, not a traceback
        raise DatabaseUnavailableError(url, exc) from None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` for uvicorn (a port in use is a clear error)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ValueError(f"Cannot listen on {host}:{port}: {exc}; check --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ValueError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
            "(or stop what is using it)"
        ) from None
    return sock
