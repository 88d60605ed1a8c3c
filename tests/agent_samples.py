"""Agents the agent tests register (in process, and by ``--agent NAME=agent_samples:attr`` in an
``interstate serve`` child whose PYTHONPATH holds this directory). No network, no model."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, AsyncIterator, TypedDict

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt

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
#: The same graph with a checkpointer of its own, which the server then uses.
own_saver = InMemorySaver()
own_checkpointer_graph = chat_builder.compile(checkpointer=own_saver)


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


async def wait_long(state: MessagesState) -> dict[str, Any]:
    await asyncio.sleep(60)  # cancel stops it
    return {"messages": [AIMessage("never")]}


_slow = StateGraph(MessagesState)
_slow.add_node("respond", respond)
_slow.add_node("wait_long", wait_long)
_slow.add_edge(START, "respond")
_slow.add_edge("respond", "wait_long")
_slow.add_edge("wait_long", END)
#: Answers, then works for a minute.
slow_graph = _slow.compile()


def approve(state: MessagesState) -> dict[str, Any]:
    answer = interrupt({"question": f"approve {state['messages'][-1].content}?"})
    return {"messages": [AIMessage(f"approved: {answer}")]}


_approval = StateGraph(MessagesState)
_approval.add_node("approve", approve)
_approval.add_edge(START, "approve")
_approval.add_edge("approve", END)
#: Asks a human (``interrupt``) before it answers.
approval_graph = _approval.compile()


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


# -- a run that is killed mid-way (tests/conformance/test_agents_durability.py) ---------------


def _log(line: str) -> int:
    """Append ``line`` to $AGENT_SAMPLES_LOG; how many times it is there now."""
    path = os.environ["AGENT_SAMPLES_LOG"]
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")
    with open(path, encoding="utf-8") as log:
        return log.read().splitlines().count(line)


def first_step(state: MessagesState) -> dict[str, Any]:
    _log("first")
    return {"messages": [AIMessage("first done")]}


def second_step(state: MessagesState) -> dict[str, Any]:
    if _log("second") == 1:
        time.sleep(600)  # the first time, the test kills the server meanwhile
    return {"messages": [AIMessage("second done")]}


_two = StateGraph(MessagesState)
_two.add_node("first_step", first_step)
_two.add_node("second_step", second_step)
_two.add_edge(START, "first_step")
_two.add_edge("first_step", "second_step")
_two.add_edge("second_step", END)
two_steps = _two.compile()


async def slow_once(input_steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[str]:
    """Works for ten minutes the first time it runs (the test kills the server meanwhile)."""
    yield "working"
    if _log("function") == 1:
        await asyncio.sleep(600)
    yield f"done (resumed: {context.resumed})"


# -- AutoGen ------------------------------------------------------------------------------------

from autogen_agentchat.agents import BaseChatAgent  # noqa: E402
from autogen_agentchat.base import Response  # noqa: E402
from autogen_agentchat.messages import TextMessage, ThoughtEvent  # noqa: E402
from autogen_agentchat.teams import RoundRobinGroupChat  # noqa: E402


class Counter(BaseChatAgent):
    """Answers with every task it was given so far: its state, saved and loaded with the team."""

    def __init__(self, name: str = "counter") -> None:
        super().__init__(name, "counts the tasks it heard")
        self.heard: list[str] = []

    @property
    def produced_message_types(self) -> tuple[type, ...]:
        return (TextMessage,)

    async def on_messages(self, messages: Any, cancellation_token: Any) -> Response:
        self.heard += [m.to_text() for m in messages if m.source == "user"]
        return Response(
            chat_message=TextMessage(content=f"heard {len(self.heard)}: " + " | ".join(self.heard), source=self.name),
            inner_messages=[ThoughtEvent(content="counting", source=self.name)],
        )

    async def on_reset(self, cancellation_token: Any) -> None:
        self.heard = []

    async def save_state(self) -> dict[str, Any]:
        return {"heard": list(self.heard)}

    async def load_state(self, state: Any) -> None:
        self.heard = list(state["heard"])


#: A team of one agent that remembers the tasks of the turns before.
counter_team = RoundRobinGroupChat([Counter()], max_turns=1)
#: A chat agent alone (a team is needed: refused at registration).
lone_agent = Counter("lone")


async def asks_the_caller(input_steps: list[dict[str, Any]], context: AgentContext) -> list[Any]:
    """Calls a function it does not answer itself: the caller must (requires_action)."""
    if context.previous_interaction_id is None:
        return ["let me check", {"type": "function_call", "id": "ask-1", "name": "confirm", "arguments": {}}]
    result = next(s for s in input_steps if s["type"] == "function_result")
    return f"confirmed: {result['result']}"


async def bad_output(input_steps: list[dict[str, Any]], context: AgentContext) -> Any:
    return {"type": "no_such_step"}


class Sleeper(BaseChatAgent):
    """Works for a minute (cancel stops it); with $AGENT_SAMPLES_LOG set, only the first time."""

    def __init__(self, name: str = "sleeper") -> None:
        super().__init__(name, "sleeps")

    @property
    def produced_message_types(self) -> tuple[type, ...]:
        return (TextMessage,)

    async def on_messages(self, messages: Any, cancellation_token: Any) -> Response:
        if "AGENT_SAMPLES_LOG" not in os.environ or _log("sleeper") == 1:
            work = asyncio.ensure_future(asyncio.sleep(600))
            cancellation_token.link_future(work)  # as AutoGen's model clients do: cancel stops it
            await work
        return Response(chat_message=TextMessage(content="woke up", source=self.name))

    async def on_reset(self, cancellation_token: Any) -> None:
        return None


class LoggedCounter(Counter):
    async def on_messages(self, messages: Any, cancellation_token: Any) -> Response:
        _log("counter")
        return await super().on_messages(messages, cancellation_token)


#: Counts, then sleeps: for cancel.
slow_team = RoundRobinGroupChat([Counter(), Sleeper()], max_turns=2)
#: Counts (logged), then sleeps the first time: for kill -9.
crash_team = RoundRobinGroupChat([LoggedCounter(), Sleeper()], max_turns=2)
