"""A compiled LangGraph graph served as ``agent="NAME"`` (``interstate.server.agents``).

Input (docs/agents.md): the turn's text; a JSON object text is the graph's input dict, any
other text a ``HumanMessage`` on the ``messages`` channel (refused with a 400 for a graph
without one); ``function_result`` steps answer the interrupts the parent turn ended with
(``Command(resume=...)``). An ``interrupt()`` ends the turn ``requires_action`` with a
``function_call`` step named ``interrupt`` whose ``arguments.value`` is the interrupt's value. Output: each node's update as it finishes (``stream_mode="updates"``), its AI
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
from langgraph.types import Command

from interstate.server.agents import Agent, AgentContext
from interstate.server.providers.base import Finish, ProviderItem, step_items

from ._messages import message_to_steps
from .aio import AsyncInteractionsSaver

__all__ = ["LangGraphAgent"]

#: Checkpoint metadata key naming the interaction whose run wrote the checkpoint.
RUN_KEY = "interstate_interaction_id"
#: The update key of LangGraph's pending interrupts, and the function name they are called by.
INTERRUPT = "__interrupt__"
INTERRUPT_CALL = "interrupt"


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


def _interrupt_calls(interrupts: Any) -> list[dict[str, Any]]:
    """A ``function_call`` step named ``interrupt`` per pending ``interrupt()``: the turn ends
    ``requires_action``, and a ``function_result`` with its ``call_id`` resumes the graph."""
    calls = []
    for pending in interrupts if isinstance(interrupts, (list, tuple)) else [interrupts]:
        value = json.loads(json.dumps(getattr(pending, "value", None), default=str))
        calls.append({"type": "function_call", "id": str(getattr(pending, "id", "")),
                      "name": INTERRUPT_CALL, "arguments": {"value": value}})  # fmt: skip
    return calls


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
        """What ``astream`` gets for this turn's input (module docstring); ``ValueError`` for
        input the graph cannot take."""
        results = [s for s in steps if s.get("type") == "function_result"]
        if results:  # answers to the interrupts the parent turn ended with
            if len(results) != len(steps):
                raise ValueError("send either function_result steps (answering the graph's "
                                 "interrupts) or text, not both")  # fmt: skip
            if len(results) == 1:
                return Command(resume=results[0].get("result"))
            return Command(resume={s.get("call_id"): s.get("result") for s in results})
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

    def check_input(self, steps: list[dict[str, Any]], parent_state: dict[str, Any] | None) -> None:
        if isinstance(self.graph_input(steps), Command) and self._parent(parent_state) is None:
            raise ValueError("function_result input answers the interrupts of the turn it "
                             "continues, and that turn did not end in an interrupt of this graph")  # fmt: skip

    def _parent(self, parent_state: dict[str, Any] | None) -> dict[str, Any] | None:
        """This agent's checkpoint of the parent turn, if it has one."""
        parent = (parent_state or {}).get("langgraph")
        if isinstance(parent, dict) and parent.get("agent") == self.name and parent.get("thread_id"):
            return parent
        return None

    def _thread(self, context: AgentContext) -> dict[str, Any]:
        """The ``configurable`` of this turn: the parent turn's checkpoint of this agent, else a
        new thread named after this (first agent) turn's chain root."""
        parent = self._parent(context.parent_state)
        if parent is not None:
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

    async def _answering(self, graph: Any, config: dict[str, Any], command: Command) -> Command:
        """Resume the parent turn's interrupts on a copy of its checkpoint (``config`` is moved
        to it): the checkpoint keeps the writes of the first answer, with which LangGraph
        would replay that answer again, so answering an interrupt twice would not fork."""
        if "checkpoint_id" not in config["configurable"]:
            raise ValueError(f"agent {self.name!r} got function_result input, but the turn it "
                             "continues did not end in an interrupt of this graph")  # fmt: skip
        copied = await graph.aupdate_state(config, None, as_node="__copy__")
        config["configurable"] = dict(copied["configurable"])
        return command

    async def run(self, steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[ProviderItem]:
        graph_input: Any = self.graph_input(steps)
        config: dict[str, Any] = {"configurable": self._thread(context),
                                  "metadata": {RUN_KEY: context.interaction_id}}  # fmt: skip
        async with self._graph(context) as graph:
            resumed, replayed = await self._resume_point(graph, config, context)
            last: dict[str, Any] | None = None
            if resumed is None and isinstance(graph_input, Command):
                graph_input = await self._answering(graph, config, graph_input)
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
                    if node == INTERRUPT:
                        for step in _interrupt_calls(update):
                            answered = True
                            for item in step_items(step):
                                yield item
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
