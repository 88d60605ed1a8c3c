"""Memory saved and a flow run in this process are recalled/resumed by another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from conftest import OFFLINE_ENV
from flows import counter_flow
from test_crews import sequential_crew

HERE = Path(__file__).parent


def test_memory_and_flow_state_survive_the_process(target: Any, interstate_on: Any) -> None:
    handle = interstate_on
    name = f"xproc {uuid.uuid4().hex[:6]}"
    sequential_crew(handle, name).kickoff(inputs={"country": "France"})
    saved = handle.storage.count()
    assert saved >= 1

    flow = counter_flow()
    flow.kickoff()
    flow_id = flow.state.id
    assert (flow.state.turns, flow.state.log) == (1, ["turn 1"])
    # the state is on the server, as a chain of snapshots
    assert handle.flow_persistence.load_state(flow_id)["turns"] == 1
    assert [h["method"] for h in handle.flow_persistence.history(flow_id)] == ["bump", "note"]

    env = {**os.environ, **OFFLINE_ENV}
    result = subprocess.run(
        [sys.executable, str(HERE / "child.py"), target.url, handle.storage.store, name, flow_id],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(HERE),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["records_before"] == saved
    assert answer["recalled"] is True
    assert answer["flow_id"] == flow_id
    assert (answer["turns"], answer["log"]) == (2, ["turn 1", "turn 2"])

    # back here: the resumed flow's new state, and reset clears memory on the server
    assert handle.flow_persistence.load_state(flow_id)["turns"] == 2
    handle.storage.reset()
    assert handle.storage.count() == 0
    assert handle.client.interstate.search(labels=handle.storage.labels).results == []
