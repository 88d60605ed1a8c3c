"""Registering agents (``interstate.server.agents``): kind detection, one-line errors at start-up
(Python, ``interstate serve``), and the listings (``GET /{v}/agents``, ``/{v}/interstate/agents``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from interstate.cli import app as cli
from interstate.errors import AgentRegistrationError
from interstate.server.agents import build_agents, detect_kind
from interstate.server.app import create_app
from interstate.server.auth import Auth
from interstate.server.service import InteractionService

from .conftest import registry

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def samples_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TESTS))


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("no-equals-sign", "is not NAME=module:attr"),
        ("x=agent_samples", "is not NAME=module:attr"),
        ("=agent_samples:echo", "is not NAME=module:attr"),
        ("x=no_such_module_anywhere:echo", "module 'no_such_module_anywhere' was not found"),
        ("x=agent_samples:missing", "has no attribute 'missing'"),
        ("x=agent_samples:chat_builder", "call .compile() on it"),
        ("x=agent_samples:sync_function", "make it async"),
        ("x=agent_samples:NOT_AN_AGENT", "is not an agent"),
        ("x=agent_samples:AgentContext", "is not an agent"),
        ("x=agent_samples:lone_agent", "not a team"),
    ],
)
def test_a_bad_entry_fails_with_one_line_naming_it(entry: str, expected: str) -> None:
    with pytest.raises(AgentRegistrationError) as caught:
        build_agents([entry])
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert entry.split("=")[0] in message or entry in message


def test_kinds_are_detected_through_subclasses_and_factories() -> None:
    import agent_samples

    class MyGraph(type(agent_samples.chat_graph)):  # a user subclass is still a graph
        pass

    mine = object.__new__(MyGraph)
    assert detect_kind(mine) == "langgraph"
    assert detect_kind(agent_samples.echo) == "function"
    assert detect_kind(agent_samples.tools) == "function"  # an async generator
    assert detect_kind(agent_samples.sync_function) is None
    agents = build_agents(["made=agent_samples:make_echo", "g=agent_samples:chat_graph"])
    assert agents.listing() == [{"name": "g", "kind": "langgraph"}, {"name": "made", "kind": "function"}]
    assert agents.resolve("made").target is agent_samples.echo


def test_a_name_registered_twice_is_refused() -> None:
    with pytest.raises(AgentRegistrationError, match="already registered"):
        build_agents("a=agent_samples:echo,a=agent_samples:tools")


def test_mapping_entries_take_objects_and_strings() -> None:
    import agent_samples

    agents = build_agents({"e": agent_samples.echo, "n": "agent_samples:number_graph"})
    assert [(a["name"], a["kind"]) for a in agents.listing()] == [("e", "function"), ("n", "langgraph")]
    with pytest.raises(AgentRegistrationError, match="'bad'.*is not an agent"):
        build_agents({"bad": 3})


def test_serve_refuses_a_bad_agent_with_exit_code_2() -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--no-auth", "--agent", "x=agent_samples:sync_function"]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: agent 'x=agent_samples:sync_function'")
    assert "Traceback" not in result.output


def test_serve_reads_agents_from_the_environment() -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--no-auth"],
        env={"INTERSTATE_AGENTS": "ok=agent_samples:echo,x=agent_samples:missing"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "has no attribute 'missing'" in result.output


async def test_the_listings_name_each_agent_and_its_kind(tmp_path: Path) -> None:
    service = await InteractionService.open(
        f"sqlite:///{tmp_path}/a.db", registry(),
        agents=["echo=agent_samples:echo", "chat=agent_samples:chat_graph"],
    )  # fmt: skip
    app = create_app(service, auth=Auth.disabled())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            own = (await http.get("/v1beta/interstate/agents")).json()
            assert own == {"agents": [{"name": "chat", "kind": "langgraph"},
                                      {"name": "echo", "kind": "function"}]}  # fmt: skip
            first = (await http.get("/v1beta/agents", params={"page_size": "1"})).json()
            assert [a["id"] for a in first["agents"]] == ["chat"]
            rest = (await http.get("/v1beta/agents", params={"page_token": first["next_page_token"]})).json()
            assert [a["id"] for a in rest["agents"]] == ["echo"] and "next_page_token" not in rest
            after = (await http.get("/v1beta/agents", params={"page_token": "d"})).json()  # a cursor
            assert [a["id"] for a in after["agents"]] == ["echo"]
            for params in ({"page_size": "0"}, {"page_size": "²"}, {"page_size": ""}):
                bad = await http.get("/v1beta/agents", params=params)
                assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_ARGUMENT"
    finally:
        await service.close()


async def test_a_server_without_agents_lists_none(tmp_path: Path) -> None:
    service = await InteractionService.open(f"sqlite:///{tmp_path}/a.db", registry())
    app = create_app(service, auth=Auth.disabled())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response: Any = await http.get("/v1/agents")
            assert response.json() == {"agents": []}
    finally:
        await service.close()


def test_the_embedded_server_refuses_a_bad_entry_before_it_starts(tmp_path: Path) -> None:
    from interstate.server.embedded import EmbeddedServer

    url = f"sqlite:///{tmp_path}/e.db"
    with pytest.raises(AgentRegistrationError, match="x=agent_samples:missing"):
        EmbeddedServer.start(url, providers=registry(), agents=["x=agent_samples:missing"])
    assert not (tmp_path / "e.db").exists()  # nothing was opened
    server = EmbeddedServer.start(url, providers=registry(), agents=["echo=agent_samples:echo"])
    try:
        assert server.service.agents.listing() == [{"name": "echo", "kind": "function"}]
        with pytest.raises(ValueError, match="other agents"):
            EmbeddedServer.start(url, providers=server.service.providers, agents=["e=agent_samples:echo"])
    finally:
        server.close()
