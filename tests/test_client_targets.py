"""Target selection (Client.from_url), API keys from the environment, extension guard, and the
import purity of interstate.client."""

from __future__ import annotations

import os
import subprocess
import sys
import types
import httpx
import pytest

from interstate.client import AsyncClient, Client
from interstate.errors import ExtensionNotSupportedError

GOOGLE = "https://generativelanguage.googleapis.com"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INTERSTATE_URL", "INTERSTATE_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


class FakeEmbedded:
    """Stands in for interstate.server.embedded: records embedded_transport calls and requests."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"id": "v1_e", "status": "completed"})

    def embedded_transport(self, url: str, *, asynchronous: bool) -> httpx.MockTransport:
        self.calls.append((url, asynchronous))
        return httpx.MockTransport(self.handler)


@pytest.fixture
def fake_embedded(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedded:
    fake = FakeEmbedded()
    module = types.ModuleType("interstate.server.embedded")
    module.embedded_transport = fake.embedded_transport  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "interstate.server.embedded", module)
    return fake


def key_of(client: Client | AsyncClient) -> str | None:
    return client._headers.get("x-goog-api-key")


@pytest.mark.parametrize(
    "url",
    ["sqlite:///relative.db", "sqlite:////abs/path.db", "sqlite://:memory:", "memory://"],
)
def test_embedded_urls(fake_embedded: FakeEmbedded, url: str) -> None:
    client = Client.from_url(url)
    assert fake_embedded.calls == [(url, False)]
    assert client.target == "embedded"
    assert client.base_url == "http://interstate.embedded"
    assert client.supports_extensions and client.idempotent_create
    assert client.interactions.get("v1_e").id == "v1_e"
    request = fake_embedded.requests[-1]
    assert str(request.url) == "http://interstate.embedded/v1/interactions/v1_e?stream=false"
    client.close()
    assert client._http.is_closed  # the client made from the transport is ours to close


async def test_async_embedded_url(fake_embedded: FakeEmbedded) -> None:
    async with AsyncClient.from_url("memory://") as client:
        assert (await client.interactions.get("v1_e")).id == "v1_e"
    assert fake_embedded.calls == [("memory://", True)]
    assert client.target == "embedded"


def test_default_url_is_the_home_database(fake_embedded: FakeEmbedded) -> None:
    Client.from_url()
    expected = "sqlite:///" + os.path.abspath(os.path.expanduser("~/.interstate/interstate.db"))
    assert fake_embedded.calls == [(expected, False)]
    assert expected.startswith("sqlite:////")


def test_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERSTATE_URL", "http://10.0.0.5:8000/")
    monkeypatch.setenv("INTERSTATE_API_KEY", "local-key")
    client = Client.from_url()
    assert (client.target, client.base_url) == ("http", "http://10.0.0.5:8000")
    assert key_of(client) == "local-key"
    assert client.idempotent_create is True and client.supports_extensions


def test_http_target_and_options() -> None:
    client = Client.from_url("https://interstate.example.com/api", api_key="k", max_retries=1,
                             api_version="v1beta", idempotent_create=False)
    assert client.target == "http"
    assert client.base_url == "https://interstate.example.com/api"
    assert (client.max_retries, client.api_version, client.idempotent_create) == (1, "v1beta", False)
    assert key_of(client) == "k"


@pytest.mark.parametrize("url", ["google", "GOOGLE", GOOGLE, GOOGLE + "/"])
def test_google_target(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("INTERSTATE_API_KEY", "not-for-google")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    client = Client.from_url(url)
    assert (client.target, client.base_url) == ("google", GOOGLE)
    assert client.supports_extensions is False
    assert client.idempotent_create is False
    assert key_of(client) == "google-key"
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    assert key_of(Client.from_url(url)) == "gemini-key"


def test_no_key_anywhere() -> None:
    assert key_of(Client.from_url("http://localhost:8000")) is None


def test_unknown_scheme_names_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="sqlite:///.*interstate serve"):
        Client.from_url("ftp://example.com")
    with pytest.raises(ValueError):
        AsyncClient.from_url("just-a-path.db")


def test_missing_embedded_module_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "interstate.server.embedded", None)  # makes import fail
    with pytest.raises(ImportError, match="interstate serve"):
        Client.from_url("sqlite:///x.db")


def test_extension_guard() -> None:
    google = Client.from_url("google")
    with pytest.raises(ExtensionNotSupportedError, match="interstate serve") as info:
        google._require_extensions("Listing interactions")
    assert "sqlite:///" in str(info.value)
    assert info.value.feature == "Listing interactions"
    Client.from_url("http://localhost:1")._require_extensions("Listing interactions")


def test_request_hook_for_extensions() -> None:
    """Extension resources reuse client._request: URL, headers, retries and errors included."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"interactions": []})

    client = Client(api_key="k", base_url="http://x",
                    http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    response = client._request("GET", "interstate/interactions", params={"label": "a", "all": True})
    assert response.json() == {"interactions": []}
    assert str(seen[0].url) == "http://x/v1/interstate/interactions?label=a&all=true"
    assert seen[0].headers["x-goog-api-key"] == "k"


def test_import_is_pure() -> None:
    code = (
        "import interstate.client, sys; "
        "bad = sorted(m for m in sys.modules if m.startswith(('interstate.server', 'langgraph', "
        "'langchain', 'crewai', 'autogen', 'google'))); "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("interstate.server") is None,
    reason="the embedded server is not installed",
)
def test_real_embedded_server_smoke() -> None:
    """End to end through the real in-process transport: an unknown id is a 404."""
    from interstate.errors import NotFoundError

    with Client.from_url("memory://") as client:
        with pytest.raises(NotFoundError):
            client.interactions.get("v1_does_not_exist")
