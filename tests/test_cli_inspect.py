"""``interstate show`` and ``interstate threads`` on an embedded database."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from rich.console import Console
from typer.testing import CliRunner

from interstate.cli import app
from interstate.client import Client
from interstate.inspect import show, threads
from interstate.server.auth import TENANT_HEADER, key_tenant
from interstate.server.embedded import EmbeddedServer


def test_show_and_threads(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    try:
        with Client.from_url(url) as client:
            root = client.interactions.create(model="scripted", input="hello there")
            child = client.interactions.create(model="scripted", input="second", previous_interaction_id=root.id)
            fork = client.interactions.create(model="scripted", input="other branch", previous_interaction_id=root.id)
            call = client.interstate.record(
                previous_interaction_id=child.id, status="requires_action", labels={"thread": "t1"},
                steps=[{"type": "function_call", "id": "c1", "name": "lookup", "arguments": {"q": "x"}}],
            )  # fmt: skip
        runner = CliRunner()
        shown = runner.invoke(app, ["show", child.id, "--url", url], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        out = shown.output
        for expected in (root.id, child.id, fork.id, call.id, "echo: hello there", "echo: second"):
            assert expected in out
        assert "other branch" not in out  # another branch's steps stay folded
        listed = runner.invoke(app, ["threads", "--url", url], env={"COLUMNS": "200"})
        assert listed.exit_code == 0, listed.output
        assert call.id in listed.output and fork.id in listed.output and root.id not in listed.output
        only = runner.invoke(app, ["threads", "--url", url, "--label", "thread=t1"], env={"COLUMNS": "200"})
        assert call.id in only.output and fork.id not in only.output
        missing = runner.invoke(app, ["show", "v1_missing", "--url", url])
        assert missing.exit_code == 1 and "not found" in missing.output.lower()
    finally:
        EmbeddedServer.start(url).close()


def _long_chain(client: Client) -> tuple[list[str], list[str], str]:
    """Twelve turns, each user message recorded twice in a row the way LangGraph's checkpoints
    store a turn's input (an "input" checkpoint, then the first step's), one tool call, and a
    fork off the fourth turn. Returns the chain's ids, how its user messages start and the fork's id."""
    ids: list[str] = []
    messages: list[str] = []
    previous = None
    for n in range(12):
        text = f"question {n}: what happens to the weather in Paris over the next few days, and why?"
        user = [{"type": "user_input", "content": [{"type": "text", "text": text}]}]
        first = client.interstate.record(previous_interaction_id=previous, model="langgraph", input=user)
        again = client.interstate.record(previous_interaction_id=first.id, model="langgraph", input=user)
        answer = [{"type": "model_output", "content": [{"type": "text", "text": f"answer {n}"}]}]
        turn = client.interstate.record(previous_interaction_id=again.id, model="scripted", steps=answer)
        ids += [first.id, again.id, turn.id]
        messages.append(f"question {n}:")  # wrapped lines keep it whole
        previous = turn.id
    fork = client.interactions.create(model="scripted", input="a detour", previous_interaction_id=ids[11])
    return ids, messages, fork.id


def test_show_and_threads_read_at_80_columns(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/wide.db"
    try:
        with Client.from_url(url) as client:
            ids, messages, fork = _long_chain(client)
            console = Console(width=80, record=True)
            show(client, ids[-1], console)
            shown = console.export_text()
            console = Console(width=80, record=True)
            threads(client, console, limit=20)
            listed = console.export_text()
    finally:
        EmbeddedServer.start(url).close()
    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(line for line in lines if len(line) > 80)
    for turn_id in [*ids, fork]:  # every id whole, on one line
        assert any(turn_id in line for line in lines), turn_id
    for start in messages:  # each user message once, however often it was recorded
        assert shown.count(start) == 1, (start, shown)
    assert "a detour" not in shown  # the other branch is folded
    # flat: the chain's turns start at the margin (no staircase); only the fork indents
    after_fork = ids[12:]
    starts = {turn_id: next(line for line in lines if turn_id in line) for turn_id in ids}
    assert all(starts[i].startswith(i) for i in ids[:12]), [starts[i] for i in ids[:12]]
    assert len({len(starts[i]) - len(starts[i].lstrip("│├└─ ")) for i in after_fork}) == 1
    assert len(lines) < 4 * len(ids), shown  # a few lines per turn, not a staircase
    listed_lines = listed.splitlines()
    assert all(len(line) <= 80 for line in listed_lines), listed
    assert any(line.startswith(ids[-1]) for line in listed_lines) and any(line.startswith(fork) for line in listed_lines)
    assert len(listed_lines) <= 1 + 3 * 2, listed  # a thread takes a line or two, not a column per word


@pytest.fixture(params=["sqlite", "postgres"])
def server_database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The URL of a database as `interstate serve` leaves it: rows of two tenants of its keys
    (``k1:alice`` and a key without a tenant, stored as its digest), none of ``default``."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/server.db"
        return
    from server.postgres_support import create_schema, postgres_server  # tests/server

    with postgres_server() as admin:
        yield create_schema(admin)


def test_threads_and_show_say_which_tenant_they_read(server_database: str) -> None:
    url = server_database
    runner = CliRunner()
    env = {"COLUMNS": "80"}
    digest = key_tenant("a-raw-key")
    try:
        with Client.from_url(url, headers={TENANT_HEADER: "alice"}) as alice:
            mine = alice.interactions.create(model="scripted", input="alice's question")
        with Client.from_url(url, headers={TENANT_HEADER: digest}) as other:
            for n in range(2):
                other.interactions.create(model="scripted", input=f"question {n}")
        empty = runner.invoke(app, ["threads", "--url", url], env=env)
        assert empty.exit_code == 0, empty.output
        out = " ".join(empty.output.split())
        assert "No interactions stored yet" not in out
        assert "tenant 'default'" in out and f"{digest} (2), alice (1)" in out and "--tenant NAME" in out, out
        assert "INTERSTATE_TENANT" in out
        listed = runner.invoke(app, ["threads", "--url", url, "--tenant", "alice"], env=env)
        assert listed.exit_code == 0 and mine.id in listed.output and "tenant 'alice'" in listed.output, listed.output
        assert "question 0" not in listed.output
        by_env = runner.invoke(app, ["threads", "--url", url], env={**env, "INTERSTATE_TENANT": digest})
        assert by_env.exit_code == 0 and "question 1" in by_env.output and mine.id not in by_env.output
        elsewhere = runner.invoke(app, ["show", mine.id, "--url", url], env=env)
        assert elsewhere.exit_code == 1 and "Traceback" not in elsewhere.output
        lines = [line for line in elsewhere.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "belongs to tenant 'alice'" in lines[0] and "--tenant alice" in lines[0], lines
        shown = runner.invoke(app, ["show", mine.id, "--url", url, "--tenant", "alice"], env=env)
        assert shown.exit_code == 0 and "alice's question" in shown.output, shown.output
        missing = runner.invoke(app, ["show", "v1_missing", "--url", url], env=env)
        assert missing.exit_code == 1 and "not found" in missing.output.lower()
    finally:
        EmbeddedServer.start(url).close()


def test_tenant_is_for_embedded_databases_only() -> None:
    result = CliRunner().invoke(app, ["threads", "--url", "http://127.0.0.1:9", "--tenant", "alice"])
    assert result.exit_code == 1 and result.output.startswith("error: --tenant") and "--api-key" in result.output


def test_only_the_embedded_server_takes_the_tenant_header() -> None:
    from starlette.requests import Request

    from interstate.server.auth import LOCAL_TENANT, Auth

    def request(**headers: str) -> Request:
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": raw})

    picked = request(**{TENANT_HEADER: "alice"})
    assert Auth.embedded().tenant_for(picked) == "alice"
    assert Auth.embedded().tenant_for(request()) == LOCAL_TENANT
    assert Auth.disabled().tenant_for(picked) == LOCAL_TENANT  # interstate serve --no-auth
    keyed = request(**{TENANT_HEADER: "alice", "x-goog-api-key": "k"})
    assert Auth.from_specs(["k:bob"]).tenant_for(keyed) == "bob"
