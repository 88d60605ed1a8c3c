"""A compiled LangGraph graph served as ``agent="NAME"`` (``interstate.server.agents``).

Input (docs/agents.md): the turn's text; a JSON object text is the graph's input dict, any
other text a ``HumanMessage`` on the ``messages`` channel (refused with a 400 for a graph
without one). Output: each node's update as it finishes (``stream_mode="updates"``), its AI
messages as ``model_output`` + ``function_call`` steps and its tool messages as
``function_result`` steps; a run that adds no message answers with its final state as JSON.

State: the graph runs with a checkpointer on the serving store — its own if it was compiled
with one, else an ``AsyncInteractionsSaver`` on the same server — in a thread named after the
first agent turn of the chain. Each turn keeps ``{"thread_id", "checkpoint_id"}`` of the
checkpoint it ended on (its ``provider_state``); the next turn runs from exactly that
checkpoint, so continuing an older turn forks the thread there, as LangGraph's time travel does.
After a crash the resumed turn continues from the last checkpoint its earlier attempt wrote
(finished nodes are not run again).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, AsyncIterator

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from interstate.server.agents import Agent, AgentContext
from interstate.server.providers.base import Finish, ProviderItem, step_items

from ._messages import message_to_steps
from .aio import AsyncInteractionsSaver

__all__ = ["LangGraphAgent"]

#: Checkpoint metadata key naming the interaction whose run wrote the checkpoint.
RUN_KEY = "interstate_interaction_id"


def _text(steps: list[dict[str, Any]]) -> str:
    """The text of the turn's input; ``ValueError`` for input a graph cannot take."""
    parts: list[str] = []
    for step in steps:
        if step.get("type") != "user_input":
            raise ValueError(
                f"{step.get('type')} input steps are not supported by LangGraph agents yet; "
                "send text (user_input)"
            )
        for content in step.get("content") or []:
            if content.get("type") != "text":
                raise ValueError(f"{content.get('type')} content is not supported by LangGraph "
                                 "agents yet; send text")  # fmt: skip
            parts.append(str(content.get("text", "")))
    if not parts:
        raise ValueError("the input has no text; send the question, or a JSON object of inputs")
    return "\n".join(parts)


def _messages(update: Any) -> list[BaseMessage]:
    """The AI and tool messages a node's update adds to a ``messages`` channel."""
    found: list[BaseMessage] = []
    for part in update if isinstance(update, (list, tuple)) else [update]:
        if not isinstance(part, dict):
            continue
        value = part.get("messages")
        values = value if isinstance(value, (list, tuple)) else [value]
        found += [m for m in values if isinstance(m, (AIMessage, ToolMessage))]
    return found


class LangGraphAgent(Agent):
    kind = "langgraph"

    def __init__(self, name: str, graph: Any) -> None:
        super().__init__(name, graph)
        self.graph = graph
        self.has_messages = "messages" in (getattr(graph, "channels", None) or {})

    def graph_input(self, steps: list[dict[str, Any]]) -> Any:
        text = _text(steps)
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                value = json.loads(stripped)
            except ValueError:
                value = None
            if isinstance(value, dict):
                return value
        if not self.has_messages:
            raise ValueError(
                "this graph has no messages channel, so text cannot be its input; send a JSON "
                "object text of its input fields, e.g. '{\"question\": \"...\"}'"
            )
        return {"messages": [HumanMessage(content=text)]}

    def check_input(self, steps: list[dict[str, Any]]) -> None:
        self.graph_input(steps)

    def _thread(self, context: AgentContext) -> dict[str, Any]:
        """The ``configurable`` of this turn: the parent turn's checkpoint of this agent, else a
        new thread named after this (first agent) turn's chain root."""
        parent = (context.parent_state or {}).get("langgraph")
        if isinstance(parent, dict) and parent.get("agent") == self.name and parent.get("thread_id"):
            configurable = {"thread_id": parent["thread_id"]}
            if parent.get("checkpoint_id"):
                configurable["checkpoint_id"] = parent["checkpoint_id"]
            return configurable
        root = context.root_interaction_id if context.previous_interaction_id is None else context.interaction_id
        return {"thread_id": f"interstate-agent:{self.name}:{root}"}

    @contextlib.asynccontextmanager
    async def _graph(self, context: AgentContext) -> AsyncIterator[Any]:
        if self.graph.checkpointer not in (None, True, False):
            yield self.graph  # its own checkpointer (e.g. an InteractionsSaver of the user's)
            return
        async with context.client() as client:
            yield self.graph.copy(update={"checkpointer": AsyncInteractionsSaver(client)})

    async def _resume_point(self, graph: Any, config: dict[str, Any],
                            context: AgentContext) -> tuple[Any, list[BaseMessage]]:  # fmt: skip
        """After a crash: the state of the last checkpoint the earlier attempt of this turn
        wrote, and the AI / tool messages it had added (the restarted stream shows them
        again); ``(None, [])`` when there is nothing to resume."""
        if not context.resumed:
            return None, []
        thread = {"configurable": {"thread_id": config["configurable"]["thread_id"]}}
        written = [t async for t in graph.checkpointer.alist(thread, filter={RUN_KEY: context.interaction_id})]
        if not written:
            return None, []
        latest = await graph.aget_state(written[0].config)
        before = await graph.aget_state(written[-1].config)  # the run's input checkpoint
        seen = {m.id for m in (before.values or {}).get("messages", []) if isinstance(m, BaseMessage)}
        added = [m for m in (latest.values or {}).get("messages", [])
                 if isinstance(m, (AIMessage, ToolMessage)) and m.id not in seen]  # fmt: skip
        return latest, added

    async def run(self, steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[ProviderItem]:
        graph_input: Any = self.graph_input(steps)
        config: dict[str, Any] = {"configurable": self._thread(context),
                                  "metadata": {RUN_KEY: context.interaction_id}}  # fmt: skip
        async with self._graph(context) as graph:
            resumed, replayed = await self._resume_point(graph, config, context)
            last: dict[str, Any] | None = None
            if resumed is not None:  # go on from where the crashed attempt stopped
                config["configurable"] = dict(resumed.config["configurable"])
                graph_input, last = None, {"config": resumed.config, "values": resumed.values}
            for step in [s for m in replayed for s in message_to_steps(m)[0]]:
                for item in step_items(step):
                    yield item
            answered = bool(replayed)
            modes = ["updates", "checkpoints"]
            # durability="sync": each step's checkpoint is stored before the next step starts,
            # so a crash loses at most the step that was running.
            async for mode, chunk in graph.astream(graph_input, config, stream_mode=modes, durability="sync"):
                if mode == "checkpoints":
                    last = chunk
                    continue
                for node, update in (chunk or {}).items():
                    if node.startswith("__"):
                        continue
                    for message in _messages(update):
                        answered = True
                        for step in message_to_steps(message)[0]:
                            for item in step_items(step):
                                yield item
            values = dict((last or {}).get("values") or {})
            if not answered:
                shown = {k: v for k, v in values.items() if k != "messages"}
                text = json.dumps(shown, default=str, ensure_ascii=False)
                for item in step_items({"type": "model_output", "content": [{"type": "text", "text": text}]}):
                    yield item
            kept = ((last or {}).get("config") or config).get("configurable", {})
            yield Finish(provider_state={"langgraph": {
                "agent": self.name, "thread_id": kept.get("thread_id"),
                "checkpoint_id": kept.get("checkpoint_id")}})  # fmt: skip
