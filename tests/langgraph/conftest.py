"""Fixtures for the LangGraph adapter: an interstate server reached two ways.

* ``embedded``: ``EmbeddedServer`` on a temporary SQLite file, in process (no socket);
* ``http``: ``interstate serve --no-auth --provider scripted`` as a subprocess on 127.0.0.1 (a free
  port, a temporary database), shared by the session and checked through ``/healthz``.

Tests that take ``url`` run once per mode. Both serve the same scripted model (``SCRIPT``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from interstate.server.embedded import EmbeddedServer

from lg_support import SCRIPT, scripted_registry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``interstate serve`` on 127.0.0.1 in a subprocess."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        script = self.work / "rules.json"
        script.write_text(json.dumps({"rules": SCRIPT}), encoding="utf-8")
        for _ in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            command = [
                sys.executable, "-c", "from interstate.cli import main; main()", "serve",
                "--no-auth", "--provider", "scripted", "--script", str(script),
                "--host", "127.0.0.1", "--port", str(self.port), "--db", str(self.work / "lg.db"),
                "--log-level", "warning",
            ]  # fmt: skip
            with open(self.work / "server.log", "ab") as log:
                self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.TransportError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError("interstate serve did not start:\n" + (self.work / "server.log").read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("lg-http")).start()
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
