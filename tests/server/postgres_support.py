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
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from interstate.testing import throwaway_postgres

_names = itertools.count()


def postgres_server() -> "contextlib.AbstractContextManager[str]":
    """The URL of a PostgreSQL server, for the block's duration (fsyncs off on pgserver)."""
    return throwaway_postgres("INTERSTATE_TEST_POSTGRES_URL", fast=True)


def create_schema(url: str) -> str:
    """Create an empty schema on the server; the URL of a connection that works in it alone."""
    name = f"interstate_test_{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')  # type: ignore[arg-type]
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={name}"))
    return urlunsplit(parts._replace(query=urlencode(query)))
