"""``kill -9`` of ``interstate serve`` in the middle of an agent run: the restarted server
resumes the run from the framework's last checkpoint, so finished LangGraph nodes do not run
again (``tests/agent_samples.py::two_steps`` logs each node it starts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from google.genai import interactions as gi

from harness import ServerProcess, Target, wait_until

TESTS = Path(__file__).resolve().parents[1]


def texts(interaction: Any) -> list[str]:
    return [c.text for s in interaction.steps if isinstance(s, gi.ModelOutputStep) for c in s.content or []]


def test_a_killed_server_resumes_agent_runs_langgraph_ones_without_rerunning_finished_nodes(tmp_path: Path) -> None:
    log = tmp_path / "nodes.log"
    log.touch()
    path = os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {"PYTHONPATH": path, "AGENT_SAMPLES_LOG": str(log)}
    args = ["--no-auth", "--provider", "scripted", "--agent", "two=agent_samples:two_steps",
            "--agent", "fn=agent_samples:slow_once", "--agent", "team=agent_samples:crash_team"]  # fmt: skip
    db = tmp_path / "interstate.db"
    first = ServerProcess(db, args, tmp_path / "server1.log", env=env).start()
    try:
        sdk = Target("http", first.base_url, "any", auth=False).sdk()
        started = sdk.interactions.create(agent="two", input="go", background=True)
        function = sdk.interactions.create(agent="fn", input="go", background=True)
        team = sdk.interactions.create(agent="team", input="go", background=True)
        # The first node is checkpointed, the function and the team's second agent are sleeping.
        wait_until(lambda: {"second", "function", "sleeper"} <= set(log.read_text().split()))
        assert first.proc is not None
        first.proc.kill()  # SIGKILL: no shutdown, the lease stays with a dead process
        first.proc.wait()
    finally:
        first.stop()
    second = ServerProcess(db, args, tmp_path / "server2.log", env=env).start()
    try:
        target = Target("http", second.base_url, "any", auth=False)
        client = target.sdk()
        done = wait_until(lambda: (i := client.interactions.get(started.id)).status not in
                          ("queued", "in_progress") and i)  # fmt: skip
        assert done.status == "completed", done
        assert texts(done) == ["first done", "second done"]
        lines = log.read_text().split()
        assert [x for x in lines if x in ("first", "second")] == ["first", "second", "second"]  # first ran once
        # A function agent has no checkpoints: it ran again from the start, and knew it.
        restarted = wait_until(lambda: (i := client.interactions.get(function.id)).status not in
                               ("queued", "in_progress") and i)  # fmt: skip
        assert restarted.status == "completed" and lines.count("function") == 2
        assert texts(restarted) == ["working", "done (resumed: True)"]  # the new run's steps only
        # An AutoGen team starts over from its parent's state (none here): its first agent
        # answers again.
        team_done = wait_until(lambda: (i := client.interactions.get(team.id)).status not in
                               ("queued", "in_progress") and i)  # fmt: skip
        assert team_done.status == "completed"
        assert texts(team_done) == ["heard 1: go", "woke up"]
        assert log.read_text().split().count("counter") == 2
        again = client.interactions.create(agent="two", input="more", previous_interaction_id=started.id)
        assert again.status == "completed"
        target.close()
    finally:
        second.stop()
