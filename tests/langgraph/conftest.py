"""Fixtures for the LangGraph adapter: an interstate server reached two ways.

* ``embedded``: ``EmbeddedServer`` on a temporary SQLite file, in process (no socket);
* ``http``: ``interstate serve --no-auth --provider scripted`` as a subprocess on 127.0.0.1 (a free
  port, a temporary database), shared by the session and checked through ``/healthz``.

Tests that take ``url`` run once per mode. Both serve the same scripted model (``SCRIPT``).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from interstate.testing import ServerProcess

from interstate.server.embedded import EmbeddedServer

from lg_support import SCRIPT, scripted_registry


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("lg-http")
    script = work / "rules.json"
    script.write_text(json.dumps({"rules": SCRIPT}), encoding="utf-8")
    args = ["--no-auth", "--provider", "scripted", "--script", str(script)]
    server = ServerProcess(work / "lg.db", args, work / "server.log").start()
    yield server
    server.stop()


@pytest.fixture
def embedded_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/lg.db"
    server = EmbeddedServer.start(url, providers=scripted_registry())
    yield url
    server.close()


@pytest.fixture(params=["embedded", "http"])
def url(request: pytest.FixtureRequest) -> str:
    """An interstate server URL: embedded (in process) or HTTP (a subprocess)."""
    if request.param == "embedded":
        return request.getfixturevalue("embedded_url")
    return request.getfixturevalue("http_server").url


@pytest.fixture
def thread_id() -> str:
    return f"thread-{uuid.uuid4()}"
