"""CrewAI tests: offline switches (set before CrewAI is imported), a socket guard, and the two
ways of reaching a server (embedded in-process, and ``interstate serve`` over HTTP on loopback).

Every test in this folder runs with the guard on: a connection (or name lookup) to anything but
loopback or a local socket is refused *and* fails the test at teardown, even if CrewAI swallowed
the error. Tests that take ``target`` run once per mode.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

#: CrewAI's network switches (shared/reference/crewai.md §1), set before anything imports it.
OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "CREWAI_TESTING": "true",
}
os.environ.update(OFFLINE_ENV)

import pytest  # noqa: E402

from interstate.testing import ServerProcess  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from crewai_script import RULES  # noqa: E402

HERE = Path(__file__).parent


# -- the socket guard -------------------------------------------------------------------------


def is_local(address: Any) -> bool:
    """Whether a socket address (or host name) is loopback or a local (AF_UNIX) socket."""
    if isinstance(address, (str, bytes)) and not isinstance(address, tuple):
        host = address.decode() if isinstance(address, bytes) else address
        if host.startswith("/") or host.startswith("\0") or host == "":
            return True  # AF_UNIX path
    else:
        host = address[0] if address else ""
    if host in (None, "", "localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class SocketGuard:
    def __init__(self) -> None:
        self.violations: list[str] = []

    def check(self, what: str, address: Any) -> None:
        if not is_local(address):
            self.violations.append(f"{what} {address!r}")
            raise ConnectionRefusedError(f"socket guard: {what} to {address!r} is not loopback")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_create = socket.create_connection
        real_getaddrinfo = socket.getaddrinfo
        guard = self

        def connect(self: socket.socket, address: Any) -> Any:
            if self.family != getattr(socket, "AF_UNIX", None):
                guard.check("connect", address)
            return real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> Any:
            if self.family != getattr(socket, "AF_UNIX", None):
                guard.check("connect_ex", address)
            return real_connect_ex(self, address)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
            guard.check("create_connection", address)
            return real_create(address, *args, **kwargs)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            guard.check("getaddrinfo", (host,))
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def socket_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[SocketGuard]:
    guard = SocketGuard()
    guard.install(monkeypatch)
    yield guard
    assert not guard.violations, f"non-loopback network use: {guard.violations}"


# -- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("crewai-http")
    script = work / "rules.json"
    script.write_text(json.dumps({"rules": RULES}), encoding="utf-8")
    args = ["--no-auth", "--provider", "scripted", "--script", str(script)]
    server = ServerProcess(work / "interstate.db", args, work / "server.log").start()
    yield server
    server.stop()


@dataclass
class Target:
    mode: str
    url: str

    def client(self) -> Any:
        from interstate.client import Client

        return Client.from_url(self.url)


def scripted_registry() -> Any:
    from interstate.server.providers import ProviderRegistry, ScriptedProvider

    scripted = ScriptedProvider(RULES)
    return ProviderRegistry([("scripted*", scripted)], default=scripted)


@pytest.fixture(params=["embedded", "http"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "http":
        yield Target("http", request.getfixturevalue("http_server").url)
        return
    from interstate.server.embedded import EmbeddedServer

    url = f"sqlite:///{tmp_path}/interstate.db"
    server = EmbeddedServer.start(url, providers=scripted_registry())
    try:
        yield Target("embedded", url)
    finally:
        server.close()


@pytest.fixture
def interstate_on(target: Target) -> Iterator[Any]:
    """``interstate.crewai.enable()`` on the target, with a memory store of this test's own."""
    import interstate.crewai as icrew

    handle = icrew.enable(client=target.client(), store=f"t-{uuid.uuid4().hex[:12]}")
    try:
        yield handle
    finally:
        icrew.disable()
