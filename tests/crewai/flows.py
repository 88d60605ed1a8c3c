"""A persisted flow used by the flow tests (built by the test process and by the child).

``@persist()`` resolves its default backend when it decorates, so the class is made by a
function called after ``interstate.crewai.enable()``.
"""

from __future__ import annotations

from typing import Any

from crewai.flow import Flow, listen, persist, start
from crewai.flow.runtime import FlowState
from pydantic import Field


class CounterState(FlowState):
    turns: int = 0
    log: list[str] = Field(default_factory=list)


def counter_flow() -> Any:
    @persist()  # no backend named: the default, which interstate.crewai.enable() installs
    class CounterFlow(Flow[CounterState]):
        @start()
        def bump(self) -> int:
            self.state.turns += 1
            return self.state.turns

        @listen(bump)
        def note(self, turns: int) -> str:
            self.state.log.append(f"turn {turns}")
            return f"turn {turns}"

    return CounterFlow()
