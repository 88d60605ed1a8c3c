"""Agents the agent tests register (in process, and by ``--agent NAME=agent_samples:attr`` in an
``interstate serve`` child whose PYTHONPATH holds this directory). No network, no model."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, TypedDict

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from interstate.server.agents import AgentContext


def input_text(steps: list[dict[str, Any]]) -> str:
    return " ".join(c.get("text", "") for s in steps for c in s.get("content") or [])


async def echo(input_steps: list[dict[str, Any]], context: AgentContext) -> str:
    """Answers with its input and where it sits in the chain."""
    return f"echo: {input_text(input_steps)} (after {context.previous_interaction_id})"


async def tools(input_steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[Any]:
    """Streams a tool call it answers itself, then the answer."""
    yield {"type": "thought", "summary": [{"type": "text", "text": "looking it up"}]}
    yield {"type": "function_call", "id": "call-1", "name": "lookup", "arguments": {"q": "x"}}
    yield {"type": "function_result", "call_id": "call-1", "name": "lookup", "result": "42"}
    yield f"the answer is 42 ({input_text(input_steps)})"


async def slow(input_steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[str]:
    """Says it started, then works for a minute (cancel stops it)."""
    yield "started"
    await asyncio.sleep(60)
    yield "finished"


async def broken(input_steps: list[dict[str, Any]], context: AgentContext) -> str:
    raise RuntimeError("the agent broke")


def make_echo() -> Any:
    """A zero-argument factory."""
    return echo


def sync_function(input_steps: list[dict[str, Any]], context: AgentContext) -> str:
    return "never"


NOT_AN_AGENT = 42


# -- LangGraph ----------------------------------------------------------------------------------


def respond(state: MessagesState) -> dict[str, Any]:
    """Answers with every human message of the thread so far (so continuations show)."""
    humans = [str(m.content) for m in state["messages"] if m.type == "human"]
    return {"messages": [AIMessage(f"heard {len(humans)}: " + " | ".join(humans))]}


chat_builder = StateGraph(MessagesState)
chat_builder.add_node("respond", respond)
chat_builder.add_edge(START, "respond")
chat_builder.add_edge("respond", END)
#: A message graph (text input becomes a HumanMessage).
chat_graph = chat_builder.compile()


def call_tool(state: MessagesState) -> dict[str, Any]:
    call = {"name": "lookup", "args": {"q": "weather"}, "id": "tc-1", "type": "tool_call"}
    return {"messages": [AIMessage("", tool_calls=[call])]}


def run_tool(state: MessagesState) -> dict[str, Any]:
    return {"messages": [ToolMessage("sunny", tool_call_id="tc-1", name="lookup")]}


def answer(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage(f"it is {state['messages'][-1].content}")]}


_tools = StateGraph(MessagesState)
for _name, _node in (("call_tool", call_tool), ("run_tool", run_tool), ("answer", answer)):
    _tools.add_node(_name, _node)
_tools.add_edge(START, "call_tool")
_tools.add_edge("call_tool", "run_tool")
_tools.add_edge("run_tool", "answer")
_tools.add_edge("answer", END)
tool_graph = _tools.compile()


class Numbers(TypedDict, total=False):
    n: int
    doubled: int


def double(state: Numbers) -> Numbers:
    return {"doubled": 2 * state["n"]}


_numbers = StateGraph(Numbers)
_numbers.add_node("double", double)
_numbers.add_edge(START, "double")
_numbers.add_edge("double", END)
#: No messages channel: its input is a JSON object text.
number_graph = _numbers.compile()
