"""examples/crewai_crew.py runs offline and shows memory recalled on the second run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import OFFLINE_ENV

EXAMPLE = Path(__file__).parents[2] / "examples" / "crewai_crew.py"


def test_example_runs_offline_and_recalls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/example.db"
    env = {**os.environ, **OFFLINE_ENV}
    env.pop("INTERSTATE_URL", None)
    result = subprocess.run([sys.executable, str(EXAMPLE), url], capture_output=True, text=True,
                            timeout=300, env=env, cwd=str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "memories stored before: 0" in out
    assert "run 1: researcher was given memories from earlier runs: no" in out
    assert "run 2: researcher was given memories from earlier runs: yes" in out
    assert "run 2: Report: Paris is the capital of France." in out
    assert "/crew/geography-crew/agent/geography-researcher/geography  The capital of France is Paris." in out
