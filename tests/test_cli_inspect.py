"""``interstate show`` and ``interstate threads`` on an embedded database."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from interstate.cli import app
from interstate.client import Client
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
