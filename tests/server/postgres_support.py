"""A PostgreSQL server for the tests: ``pgserver`` (PostgreSQL binaries shipped in a wheel,
started in a temporary directory) once per session, and a fresh schema per test.

``INTERSTATE_TEST_POSTGRES_URL=postgresql://...`` uses an existing server instead (its schemas
``interstate_test_*`` are left behind). Nothing here skips: if PostgreSQL cannot be started, the
tests that need it fail.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

_names = itertools.count()
#: Durability a throw-away test server does without (the whole cluster is deleted afterwards).
_FAST = ("fsync", "synchronous_commit", "full_page_writes")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server, for the block's duration."""
    external = os.environ.get("INTERSTATE_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (harmless)
        warnings.simplefilter("ignore")
        import pgserver  # the dev extra installs it; a missing one is an error, not a skip

    root = Path(tempfile.mkdtemp(prefix="interstate-pg-"))
    try:
        server = pgserver.get_server(root / "data", cleanup_mode="delete")
    except Exception as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pgserver could not start PostgreSQL in {root}: {exc!r}") from exc
    try:
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            for setting in _FAST:
                conn.execute(f"ALTER SYSTEM SET {setting} = off")  # type: ignore[arg-type]
            conn.execute("SELECT pg_reload_conf()")
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def create_schema(url: str) -> str:
    """Create an empty schema on the server; the URL of a connection that works in it alone."""
    name = f"interstate_test_{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')  # type: ignore[arg-type]
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={name}"))
    return urlunsplit(parts._replace(query=urlencode(query)))
