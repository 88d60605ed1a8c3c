"""The official google-genai SDK, unmodified, against an interstate server — two ways.

* ``http``: ``interstate serve`` as a subprocess on 127.0.0.1 (a free port, a tmp database, a
  script file, two API keys of two tenants), shared by the whole session.
* ``embedded``: the same Starlette app in-process (``EmbeddedServer``), no socket: the SDK is
  handed ``httpx.Client`` / ``httpx.AsyncClient`` objects whose transports are
  ``EmbeddedTransport`` / ``AsyncEmbeddedTransport`` (``HttpOptions.httpx_client`` and
  ``httpx_async_client``; the SDK detects the injected clients as plain httpx and uses them).

Every test that takes the ``target`` fixture runs once per mode, so both run the identical suite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from google import genai

from harness import (
    EMBEDDED_KEY,
    KEY_A,
    KEY_B,
    SCRIPT,
    SMALL_BODY_BYTES,
    TENANT_A,
    TENANT_B,
    ServerProcess,
    Target,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance: the official google-genai SDK against interstate (HTTP and embedded)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.conformance)


# -- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def script_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("script") / "rules.json"
    path.write_text(json.dumps({"rules": SCRIPT}), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def http_server(
    tmp_path_factory: pytest.TempPathFactory, script_file: Path
) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("http")
    server = ServerProcess(
        db=work / "interstate.db",
        log=work / "server.log",
        args=[
            "--provider", "scripted", "--script", str(script_file),
            "--api-key", f"{KEY_A}:{TENANT_A}", "--api-key", f"{KEY_B}:{TENANT_B}",
        ],  # fmt: skip
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small_body_server(
    tmp_path_factory: pytest.TempPathFactory, script_file: Path
) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("small")
    server = ServerProcess(
        db=work / "interstate.db",
        log=work / "server.log",
        args=[
            "--provider", "scripted", "--script", str(script_file),
            "--api-key", f"{KEY_A}:{TENANT_A}", "--max-body-bytes", str(SMALL_BODY_BYTES),
        ],  # fmt: skip
    )
    server.start()
    yield server
    server.stop()


# -- the embedded server --------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from interstate.server.embedded import EmbeddedServer
    from interstate.server.providers import ProviderRegistry, ScriptedProvider

    scripted = ScriptedProvider({"rules": SCRIPT})
    path = tmp_path_factory.mktemp("embedded") / "interstate.db"
    server = EmbeddedServer.start(
        "sqlite:///" + str(path),
        providers=ProviderRegistry([("scripted*", scripted)], default=scripted),
    )
    yield server
    server.close()


# -- targets --------------------------------------------------------------------------------


def _http_target(server: ServerProcess) -> Target:
    return Target("http", server.base_url, KEY_A, auth=True)


def _embedded_target(server: Any) -> Target:
    from interstate.server.embedded import AsyncEmbeddedTransport, EmbeddedTransport

    return Target(
        "embedded",
        "http://interstate.embedded",
        EMBEDDED_KEY,
        auth=False,
        sync_transport=lambda: EmbeddedTransport(server),
        async_transport=lambda: AsyncEmbeddedTransport(server),
    )


@pytest.fixture(params=["http", "embedded"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "http":
        made = _http_target(request.getfixturevalue("http_server"))
    else:
        made = _embedded_target(request.getfixturevalue("embedded_server"))
    yield made
    made.close()


@pytest.fixture
def http_target(http_server: ServerProcess) -> Iterator[Target]:
    made = _http_target(http_server)
    yield made
    made.close()


@pytest.fixture
def client(target: Target) -> genai.Client:
    """The SDK client of tenant A on the current target (sync and ``.aio`` both work)."""
    return target.sdk()


@pytest.fixture
async def aclient(target: Target) -> Any:
    """Like ``client``, closing its async side inside the test's event loop."""
    sdk = target.sdk()
    yield sdk
    await sdk.aio.aclose()
    async_client = sdk._api_client._http_options.httpx_async_client
    if async_client is not None:
        await async_client.aclose()


