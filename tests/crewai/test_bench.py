"""bench/crewai.py on a small crew: its like-for-like checks hold, and interstate's savings show.

No timing: byte counts only, which are deterministic.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "crewai.py"


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location("interstate_bench_crewai", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        logging.disable(logging.NOTSET)  # the bench silences warnings on import


@pytest.mark.parametrize("react", [False, True], ids=["native", "react"])
def test_small_crew(bench: Any, react: bool) -> None:
    script = bench.Script(agents=2, tool_calls=2, result_bytes=400, answer_bytes=300, react=react)
    runs, outputs = bench.measure(script, tasks=3)  # asserts the three runs saw the same prompts
    per_task = 3
    stock = [len(b) for b in runs["stock"].received]
    sent = {name: [json.loads(b) for b in runs[name].sent] for name in ("interstate", "google")}
    assert len(stock) == 3 * per_task and runs["stock"].tasks == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # later calls of a task carry neither system prompt nor tools, only the new step(s)
    for i, body in enumerate(sent["interstate"]):
        first = i % per_task == 0
        assert ("previous_interaction_id" in body) != first
        assert ("system_instruction" in body) == first
        if not react:
            assert ("tools" in body) == first
            assert [s["type"] for s in body["input"]] == (["user_input"] if first else ["function_result"])
    assert all("system_instruction" in body for body in sent["google"])  # re-sent every turn
    # the quoted earlier outputs reach every first call after the first task
    assert "Findings for task 0" in json.dumps(sent["interstate"][per_task]["input"])
    total = {name: sum(len(b) for b in runs[name].sent) for name in ("interstate", "google")}
    assert total["interstate"] < total["google"] < sum(stock)
    # flat: a later call costs the same whatever its position in the task
    later = [len(runs["interstate"].sent[i]) for i in range(len(stock)) if i % per_task]
    assert max(later) - min(later) < 100 and max(later) < min(stock[i] for i in range(1, 9, 3))
    assert len({o.raw for o in outputs.values()}) == 1
