"""An autogen-agentchat team served as ``agent="NAME"`` (``interstate.server.agents``).

Input: the turn's text is the team's task. Output: what ``run_stream`` yields, as it comes —
agents' text messages as ``model_output``, thoughts as ``thought``, tool call requests and
results as ``function_call`` / ``function_result`` steps (the state store's own mapping,
``_convert.chat_to_steps``); the task itself is not repeated.

State: a ``TeamStateStore`` on the serving store, one key per turn
(``interstate-agent:{name}:{interaction id}``). A turn loads its parent turn's state (``load``),
then saves under its own key after the parent's transcript (``fork_to``: messages stored once,
the parent's checkpoint kept), so a continuation continues the team and a second continuation
of the same turn forks it. The team object is shared, so its turns run one at a time. After a
crash, a turn starts over from its parent's state (docs/agents.md).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from autogen_agentchat.base import TaskResult, Team
from autogen_core import CancellationToken

from interstate.server.agents import Agent, AgentContext
from interstate.server.providers.base import Finish, ProviderItem, step_items

from . import _convert as cv
from .state import TeamStateStore

__all__ = ["AutoGenAgent"]

#: Message and event types whose steps are the turn's output.
_SHOWN = {"TextMessage", "ToolCallRequestEvent", "ToolCallExecutionEvent", "ToolCallSummaryMessage",
          "HandoffMessage", "StopMessage"}  # fmt: skip


def _task(steps: list[dict[str, Any]]) -> str:
    parts = []
    for step in steps:
        if step.get("type") != "user_input":
            raise ValueError(f"{step.get('type')} input steps are not supported by AutoGen "
                             "agents yet; send the task as text")  # fmt: skip
        for content in step.get("content") or []:
            if content.get("type") != "text":
                raise ValueError(f"{content.get('type')} content is not supported by AutoGen agents yet")
            parts.append(str(content.get("text", "")))
    if not parts:
        raise ValueError("the input has no text; send the team's task")
    return "\n".join(parts)


def output_steps(item: Any) -> list[dict[str, Any]]:
    """The output steps of one item of ``run_stream`` (none for the task, chunks, results)."""
    kind = type(item).__name__
    if kind == "ThoughtEvent":
        return [{"type": "thought", "summary": [{"type": "text", "text": str(item.content)}]}]
    if kind not in _SHOWN or getattr(item, "source", None) == "user":
        return []
    return [dict(step) for step in cv.chat_to_steps(item.dump())[0]]


async def _cancellable(store: TeamStateStore, team: Team, task: str) -> AsyncIterator[Any]:
    """``store.run_stream(team, task)``, stopped by a cancel of the caller within moments.

    A team's ``run_stream`` waits, as it closes, for its runtime to go idle, i.e. for the agent
    that is working to finish (which may take minutes): cancelling the consumer alone would wait
    as long. So each item is awaited shielded, and a cancel first cancels the team's
    ``CancellationToken``, which stops the working agent, then lets the stream close."""
    token = CancellationToken()
    items = store.run_stream(team, task=task, cancellation_token=token).__aiter__()
    while True:
        pending = asyncio.ensure_future(items.__anext__())
        try:
            item = await asyncio.shield(pending)
        except StopAsyncIteration:
            return
        except asyncio.CancelledError:
            token.cancel()
            await asyncio.gather(pending, return_exceptions=True)
            await items.aclose()
            raise
        yield item


class AutoGenAgent(Agent):
    kind = "autogen"

    def __init__(self, name: str, team: Any) -> None:
        if not isinstance(team, Team):
            raise ValueError(
                f"{type(team).__name__} is an AutoGen chat agent, not a team; register a team "
                "holding it, e.g. RoundRobinGroupChat([agent], max_turns=1)"
            )
        super().__init__(name, team)
        self.team = team
        self._lock = asyncio.Lock()

    def check_input(self, steps: list[dict[str, Any]], parent_state: dict[str, Any] | None) -> None:
        _task(steps)

    def _parent_key(self, context: AgentContext) -> str | None:
        parent = (context.parent_state or {}).get("autogen")
        if isinstance(parent, dict) and parent.get("agent") == self.name and parent.get("key"):
            return str(parent["key"])
        return None

    async def run(self, steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[ProviderItem]:
        task = _task(steps)
        key = f"interstate-agent:{self.name}:{context.interaction_id}"
        async with self._lock, context.client() as client:
            await self.team.reset()
            parent = self._parent_key(context)
            store = TeamStateStore(parent or key, client=client)
            if parent is not None:
                if not await store.load(self.team):
                    raise LookupError(f"the team state of the parent turn ({parent}) is gone")
                store.fork_to(key)
            async for item in _cancellable(store, self.team, task):
                if isinstance(item, TaskResult):
                    continue
                for step in output_steps(item):
                    for provider_item in step_items(step):
                        yield provider_item
        yield Finish(provider_state={"autogen": {"agent": self.name, "key": key}})
