"""examples/langgraph_agent.py runs offline (embedded server, scripted model) and its second
process resumes the thread the first one started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "langgraph_agent.py"


def test_example_resumes_the_thread_in_a_second_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERSTATE_")}
    env["INTERSTATE_HOME"] = str(tmp_path)  # the embedded default: $INTERSTATE_HOME/interstate.db
    done = subprocess.run([sys.executable, str(EXAMPLE), "--thread", "t-example"], env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[process 1] thread t-example on embedded server"
    assert "  ai    It is 21 degrees C and sunny in Paris right now." in lines
    assert "[process 2] loaded 4 messages of thread t-example from the server" in lines
    assert "  ai    That is 69.8 degrees Fahrenheit." in lines
    assert lines[-1].startswith("[process 2] 8 messages, 10 checkpoints")
    assert (tmp_path / "interstate.db").exists()
