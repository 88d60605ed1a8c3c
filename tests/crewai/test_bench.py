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
    assert len(stock) == 3 * per_task and runs["stock"].tasks == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    sent = {name: [[json.loads(b) for b in bodies] for bodies in runs[name].sent]
            for name in ("interstate", "google")}  # fmt: skip
    # one configuration root per agent (system prompt, tools), recorded before its first call
    roots = [bodies[0] for bodies in sent["interstate"] if len(bodies) == 2]
    assert [len(bodies) for bodies in sent["interstate"]] == [2] + [1] * 2 + [2] + [1] * 5
    assert all(r["input"] == [] and r["system_instruction"] for r in roots)
    assert all(len(bodies) == 1 for bodies in sent["google"])
    creates = [bodies[-1] for bodies in sent["interstate"]]
    # no call carries the system prompt or the tools: every chain starts under a root
    for i, body in enumerate(creates):
        first = i % per_task == 0
        assert body["previous_interaction_id"] and "system_instruction" not in body
        if not react:
            assert "tools" not in body
            assert [s["type"] for s in body["input"]] == (["user_input"] if first else ["function_result"])
    assert all("system_instruction" in bodies[0] for bodies in sent["google"])  # re-sent every turn
    # the earlier outputs reach every first call after the first task as quotes, not as text
    for task in (1, 2):
        content = creates[task * per_task]["input"][0]["content"]
        assert [b["type"] for b in content].count("interstate_quote") == task
        assert "Findings for task 0" not in json.dumps(content)
    assert "Findings for task 0" in json.dumps(sent["google"][per_task])
    total = {name: sum(len(b) for bodies in runs[name].sent for b in bodies)
             for name in ("interstate", "google")}  # fmt: skip
    assert total["interstate"] < total["google"] < sum(stock)
    # flat: a later call costs the same whatever its position in the task
    later = [len(runs["interstate"].sent[i][0]) for i in range(len(stock)) if i % per_task]
    assert max(later) - min(later) < 100 and max(later) < min(stock[i] for i in range(1, 9, 3))
    assert len({o.raw for o in outputs.values()}) == 1
    # accounting: the quotes and the dividers between them are the context, the rest of the
    # prompt is the same as what goes to Google; the floor is below what interstate sent
    parts = bench.breakdowns(runs, outputs)
    assert 0 < parts["interstate"].context < parts["google"].context // 2
    assert parts["interstate"].user == parts["google"].user
    assert parts["interstate"].results <= bench.floor_bytes(runs, outputs, parts["interstate"]) < total["interstate"]
