"""Fixtures for the AutoGen adapter tests: every server test runs embedded and over HTTP.

* ``embedded``: the in-process server on a fresh SQLite file per test, scripted model.
* ``http``: ``interstate serve --no-auth --provider scripted`` as a subprocess on 127.0.0.1,
  shared by the session (tests keep apart by unique task texts and state keys).

``target`` is for tests that use the server in this process; ``proc_target`` for cross-process
tests, whose sides run in subprocesses (``autogen_scenarios.py``), the embedded ones on the same
SQLite file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from interstate.testing import ServerProcess
from autogen_scenarios import ScenarioExit, start_embedded, write_script

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def script_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_script(tmp_path_factory.mktemp("autogen-script") / "rules.json")


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory, script_file: Path) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("autogen-http")
    args = ["--no-auth", "--provider", "scripted", "--script", str(script_file)]
    server = ServerProcess(work / "interstate.db", args, work / "server.log").start()
    yield server
    server.stop()


@dataclass
class Target:
    mode: str
    url: str
    script_file: Path
    tmp: Path

    def run(self, scenario: str, env: dict[str, str] | None = None, **args: Any) -> dict[str, Any]:
        """Run one side of a cross-process scenario in a new Python process."""
        import os

        command = [sys.executable, str(HERE / "autogen_scenarios.py"), scenario, self.url,
                   str(self.script_file), json.dumps(args)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **(env or {})})  # fmt: skip
        if done.returncode != 0:
            raise ScenarioExit(done.returncode, done.stdout, done.stderr)
        return json.loads(done.stdout.strip().splitlines()[-1])


def _target(request: Any, tmp_path: Path, script_file: Path, *, in_process: bool) -> Iterator[Target]:
    if request.param == "http":
        server = request.getfixturevalue("http_server")
        yield Target("http", server.url, script_file, tmp_path)
        return
    url = f"sqlite:///{tmp_path}/interstate.db"
    embedded = start_embedded(url) if in_process else None
    try:
        yield Target("embedded", url, script_file, tmp_path)
    finally:
        if embedded is not None:
            embedded.close()


@pytest.fixture(params=["embedded", "http"])
def target(request: Any, tmp_path: Path, script_file: Path) -> Iterator[Target]:
    yield from _target(request, tmp_path, script_file, in_process=True)


@pytest.fixture(params=["embedded", "http"])
def proc_target(request: Any, tmp_path: Path, script_file: Path) -> Iterator[Target]:
    yield from _target(request, tmp_path, script_file, in_process=False)


@pytest.fixture
def tag() -> str:
    """Unique text for task messages, so tests sharing the HTTP server never share content."""
    return uuid.uuid4().hex[:12]
