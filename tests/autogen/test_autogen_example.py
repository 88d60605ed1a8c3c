"""examples/autogen_group_chat.py runs offline: stopped in one process, resumed in another."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "autogen_group_chat.py"


def test_example_stops_and_resumes_in_a_second_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERSTATE_")}
    env["INTERSTATE_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert (tmp_path / "interstate.db").exists()  # the embedded default database
    first, second = out.split("phase 2:")
    pids = re.findall(r"\[process (\d+)\]", out)
    assert len(set(pids)) == 2  # two processes
    assert "Draft: Lisbon is a mid-sized capital." in first
    assert "Porto has 232,000 people" in second
    assert "Final: Lisbon is about twice the size of Porto. TERMINATE" in second
    # The resumed process continues the chains the first one stored.
    resumed_calls = re.findall(r"call by (\w+): sent (\d+) of (\d+) messages \((.*?)\)", second)
    assert [c[0] for c in resumed_calls] == ["researcher", "researcher", "writer"]
    assert all(c[3].startswith("continues") for c in resumed_calls)
    assert all(int(sent) <= 2 < int(total) for _, sent, total, _ in resumed_calls)
