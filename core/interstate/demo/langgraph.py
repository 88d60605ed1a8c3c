"""LangGraph in the demo: a tool-calling ReAct agent whose thread lives on the server.

interstate: ``create_react_agent(ChatInteractions(...), tools, checkpointer=InteractionsSaver(...))``
— every checkpoint is an Interaction, each message is stored once, and each model call sends
only the new messages. Stock: the same agent on ``InMemorySaver`` with ``FullHistoryChat``, a
stateless model that sends the whole conversation on every call.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import ConfigDict

from interstate.client import Client
from interstate.demo._script import LANGGRAPH
from interstate.demo._section import Baseline, Phase, Run, excerpt
from interstate.langgraph import ChatInteractions, InteractionsSaver

STOCK_STORE = "InMemorySaver"


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "21 degrees C and sunny" if city == "Paris" else "12 degrees C and raining"


@tool
def to_fahrenheit(celsius: float) -> float:
    """Convert degrees Celsius to Fahrenheit."""
    return round(celsius * 9 / 5 + 32, 1)


def _agent(model: BaseChatModel, checkpointer: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent also lives in langchain.agents now
        from langgraph.prebuilt import create_react_agent

        return create_react_agent(model, [get_weather, to_fahrenheit], checkpointer=checkpointer)


def _config(key: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": key}}


def _ask(agent: Any, key: str, questions: Sequence[str]) -> list[BaseMessage]:
    result: dict[str, Any] = {}
    for question in questions:
        result = agent.invoke({"messages": [HumanMessage(question)]}, _config(key))
    return list(result["messages"])


def _line(message: BaseMessage) -> str:
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = ", ".join(f"{c['name']}({c['args']})" for c in message.tool_calls)
        return f"ai    → {calls}"
    kind = {HumanMessage: "user", ToolMessage: "tool"}.get(type(message), "ai")
    return f"{kind:<5} {excerpt(message.text)}"


def _interstate_agent(run: Run) -> Any:
    client = run.server.client(run.meter)
    return _agent(ChatInteractions(client=client, model=run.model), InteractionsSaver(client))


def first(run: Run) -> Phase:
    messages = _ask(_interstate_agent(run), run.key, LANGGRAPH.first)
    return Phase(turns=len(LANGGRAPH.first), lines=[_line(m) for m in messages])


def resume(run: Run) -> Phase:
    agent = _interstate_agent(run)
    before = agent.get_state(_config(run.key)).values["messages"]
    messages = _ask(agent, run.key, LANGGRAPH.resumed)
    return Phase(turns=len(LANGGRAPH.resumed), lines=[_line(m) for m in messages[len(before) :]],
                 restored=f"{len(before)} messages of thread {run.key}")  # fmt: skip


def stock(run: Run) -> Baseline:
    saver = InMemorySaver()
    agent = _agent(FullHistoryChat(client=run.server.client(run.meter), model=run.model), saver)
    _ask(agent, run.key, LANGGRAPH.first + LANGGRAPH.resumed)
    return Baseline(turns=len(LANGGRAPH.first + LANGGRAPH.resumed), stored=_saved_bytes(saver))


def _saved_bytes(saver: InMemorySaver) -> int:
    """What ``InMemorySaver`` holds, serialized as it stores it (and as a ``SqliteSaver`` writes
    it): checkpoints, their metadata, channel blobs and pending writes."""
    total = sum(len(blob[1]) for blob in saver.blobs.values())
    for namespaces in saver.storage.values():
        for checkpoints in namespaces.values():
            total += sum(len(c[1]) + len(m[1]) for c, m, _ in checkpoints.values())
    for writes in saver.writes.values():
        total += sum(len(write[2][1]) for write in writes.values())
    return total


class FullHistoryChat(BaseChatModel):
    """A stateless chat model on the Interactions API: every call sends the whole conversation
    as steps, with the system prompt and tools — what LangChain's stock chat models do."""

    client: Client
    model: str

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return "interstate-demo-full-history"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        functions = [convert_to_openai_tool(t)["function"] for t in tools]
        return self.bind(tools=[{"type": "function", **f} for f in functions], **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:  # fmt: skip
        system = "\n\n".join(m.text for m in messages if m.type == "system")
        params: dict[str, Any] = {
            "model": self.model, "input": [s for m in messages if m.type != "system" for s in _steps(m)],
        }  # fmt: skip
        if system:
            params["system_instruction"] = system
        if kwargs.get("tools"):
            params["tools"] = kwargs["tools"]
        interaction = self.client.interactions.create(**params)
        calls = [{"name": s.name, "args": s.arguments or {}, "id": s.id, "type": "tool_call"}
                 for s in interaction.steps or [] if s.type == "function_call"]  # fmt: skip
        message = AIMessage(content=interaction.output_text or "", tool_calls=calls)
        return ChatResult(generations=[ChatGeneration(message=message)])


def _steps(message: BaseMessage) -> list[dict[str, Any]]:
    """A message as Interactions steps (text, tool calls, tool results)."""
    steps: list[dict[str, Any]] = []
    if isinstance(message, ToolMessage):
        return [{"type": "function_result", "call_id": message.tool_call_id, "name": message.name,
                 "result": message.text}]  # fmt: skip
    kind = "model_output" if isinstance(message, AIMessage) else "user_input"
    if message.text:
        steps.append({"type": kind, "content": [{"type": "text", "text": message.text}]})
    for call in getattr(message, "tool_calls", None) or []:
        steps.append({"type": "function_call", "id": call["id"], "name": call["name"],
                      "arguments": call["args"]})  # fmt: skip
    return steps
