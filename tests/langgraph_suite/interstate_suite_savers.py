"""Checkpointer fixtures that LangGraph's own test suite runs with (see ``run.py``).

``run.py`` appends ``from interstate_suite_savers import *`` to the downloaded suite's
``tests/conftest.py``; the two fixtures below then replace the suite's ``sync_checkpointer`` and
``async_checkpointer``. ``INTERSTATE_SUITE_SAVERS`` picks the savers, comma-separated:

* ``sqlite`` / ``sqlite_aio`` — LangGraph's stock savers, exactly as the suite builds them;
* ``interstate`` / ``interstate_aio`` — ``InteractionsSaver`` / ``AsyncInteractionsSaver`` on
  a fresh embedded SQLite file per test (``sqlite:///...``);
* ``interstate_pg`` / ``interstate_pg_aio`` — the same on a fresh database per test (as the
  suite's own PostgreSQL fixtures do: its tests reuse thread ids) of the server that
  ``INTERSTATE_SUITE_PG_URL`` names (``run.py --postgres`` starts one with pgserver).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from interstate.langgraph import AsyncInteractionsSaver, InteractionsSaver

_CHOSEN = [s.strip() for s in os.environ.get("INTERSTATE_SUITE_SAVERS", "interstate").split(",")]
SYNC_PARAMS = [s for s in _CHOSEN if not s.endswith("_aio")]
ASYNC_PARAMS = [s for s in _CHOSEN if s.endswith("_aio")]


@contextlib.contextmanager
def _url(name: str) -> Iterator[str]:
    """A fresh store for one test: a SQLite file, or a PostgreSQL database (dropped after)."""
    if not name.startswith("interstate_pg"):
        with tempfile.TemporaryDirectory(prefix="lg-suite-") as directory:
            yield f"sqlite:///{Path(directory) / 'interstate.db'}"
        return
    import psycopg

    admin = os.environ["INTERSTATE_SUITE_PG_URL"]
    database = f"suite_{uuid.UUID(bytes=os.urandom(16)).hex[:16]}"  # not uuid4: tests patch it
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{database}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture(params=SYNC_PARAMS)
def sync_checkpointer(request: pytest.FixtureRequest) -> Iterator[object]:
    name = request.param
    if not name.startswith("interstate"):
        from tests import conftest_checkpointer as stock

        with getattr(stock, f"_checkpointer_{name}")() as saver:
            yield saver
        return
    with _url(name) as url, InteractionsSaver.from_url(url) as saver:
        yield saver


@pytest.fixture(params=ASYNC_PARAMS)
async def async_checkpointer(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    name = request.param
    if not name.startswith("interstate"):
        from tests import conftest_checkpointer as stock

        async with getattr(stock, f"_checkpointer_{name}")() as saver:
            yield saver
        return
    with _url(name) as url:
        async with AsyncInteractionsSaver.from_url(url) as saver:
            yield saver


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Only the checkpointer-parametrized tests run (the rest do not involve a saver)."""
    keep, drop = [], []
    for item in items:
        names = getattr(item, "fixturenames", ())
        (keep if "sync_checkpointer" in names or "async_checkpointer" in names else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
