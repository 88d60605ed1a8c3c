"""Fixtures of the property/fuzz suite: an ``interstate serve`` on loopback (scripted model, no
network) over a SQLite file or a PostgreSQL database, and a fingerprint of everything stored.

The number of examples is ``INTERSTATE_FUZZ_EXAMPLES`` (default ``CI_EXAMPLES``, sized for CI on
two cores); the issue's full run is ``INTERSTATE_FUZZ_EXAMPLES=50 python -m pytest tests/fuzz``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from interstate.testing import ServerProcess, throwaway_postgres

#: Examples per operation (and per property test) in the default run.
CI_EXAMPLES = 15
API_KEY = "fuzz-key"


def examples() -> int:
    """Examples per operation: ``$INTERSTATE_FUZZ_EXAMPLES`` or ``CI_EXAMPLES``."""
    return int(os.environ.get("INTERSTATE_FUZZ_EXAMPLES", CI_EXAMPLES))


@pytest.fixture(scope="session")
def fuzz_postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL server (or ``$INTERSTATE_TEST_POSTGRES_URL``'s server)."""
    with throwaway_postgres("INTERSTATE_TEST_POSTGRES_URL", fast=True) as admin:
        yield admin


@pytest.fixture(scope="module")
def fuzz_postgres(fuzz_postgres_server: str) -> Iterator[str]:
    """A database of its own for each test module (the API fuzz's rows never reach the store
    property tests), dropped afterwards."""
    import psycopg

    admin = fuzz_postgres_server
    name = f"interstate_fuzz_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield urlunsplit(urlsplit(admin)._replace(path="/" + name))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@dataclass
class Served:
    """A running server and a way to read what its database holds."""

    server: ServerProcess
    db: str  # a SQLite path or a postgresql:// URL

    @property
    def url(self) -> str:
        return self.server.url

    def fingerprint(self) -> str:
        """A digest of every row of every table (the fuzz databases stay small)."""
        if self.db.startswith("postgresql://"):
            return _postgres_fingerprint(self.db)
        return _sqlite_fingerprint(self.db)

    def settled_fingerprint(self, timeout: float = 10.0) -> str:
        """The fingerprint once no turn is queued or running (background turns of earlier,
        accepted requests finish on their own time and must not count as a later one's write)."""
        deadline = time.monotonic() + timeout
        while self._unfinished() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.fingerprint()

    def _unfinished(self) -> int:
        query = "SELECT count(*) FROM interactions WHERE status IN ('queued', 'in_progress')"
        if self.db.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(self.db) as conn:
                return int(conn.execute(query).fetchone()[0])  # type: ignore[index]
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            return int(conn.execute(query).fetchone()[0])


def _sqlite_fingerprint(path: str) -> str:
    digest = hashlib.sha256()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
            digest.update(f"{table}:{len(rows)}:{hashlib.sha256(''.join(rows).encode()).hexdigest()}".encode())
    finally:
        conn.close()
    return digest.hexdigest()


def _postgres_fingerprint(url: str) -> str:
    import psycopg

    digest = hashlib.sha256()
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]  # fmt: skip
        for table in tables:
            row = conn.execute(
                f'SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{table}" t'  # type: ignore[arg-type]
            ).fetchone()
            digest.update(f"{table}:{row}".encode())
    return digest.hexdigest()


def serve(db: str, log: Path) -> ServerProcess:
    args = ["--provider", "scripted", "--api-key", f"{API_KEY}:fuzz"]
    return ServerProcess(db, args, log).start()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``interstate serve`` on loopback over a fresh SQLite file, then over PostgreSQL."""
    work = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    db = str(work / "fuzz.db") if request.param == "sqlite" else request.getfixturevalue("fuzz_postgres")
    server = serve(db, work / "server.log")
    try:
        yield Served(server, db)
    finally:
        server.stop()
