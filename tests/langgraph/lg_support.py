"""What the LangGraph tests (and their subprocesses) share: the scripted model's rules, tools,
a react agent and a graph that interrupts for a human."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from typing_extensions import TypedDict

from interstate.client import Client
from interstate.langgraph import ChatInteractions
from interstate.server.providers import ProviderRegistry, ScriptedProvider

#: Rules of the scripted model (first match wins; else it echoes).
SCRIPT: list[dict[str, Any]] = [
    # a failing model turn (the adapters must raise, not return an empty reply)
    {"when": {"model": "scripted-fail"}, "reply": {"error": {"status": 503, "message": "simulated outage"}}},
    {"when": {"contains": "weather", "tool": "get_weather", "after": "user_input"},
     "reply": {"function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
    {"when": {"contains": "weather", "after": "function_result"},
     "reply": {"text": "It is {result} in Paris."}},
    {"when": {"contains": "add", "tool": "add", "after": "user_input"},
     "reply": {"function_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}},
    {"when": {"contains": "add", "after": "function_result"}, "reply": {"text": "The sum is {result}."}},
    {"when": {"contains": "stream"}, "reply": {"text": "streamed reply in pieces", "chunk_size": 5}},
    {"when": {"contains": "think"}, "reply": {"thought": "let me see", "text": "thought it through"}},
]  # fmt: skip


def scripted_registry() -> ProviderRegistry:
    scripted = ScriptedProvider(SCRIPT)
    return ProviderRegistry([("scripted*", scripted)], default=scripted)


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny" if city == "Paris" else "rainy"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def react_agent(client: Client, checkpointer: Any, async_client: Any = None) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent moved to langchain.agents in 1.x
        from langgraph.prebuilt import create_react_agent

        model = ChatInteractions(client=client, async_client=async_client, model="scripted")
        return create_react_agent(model, [get_weather, add], checkpointer=checkpointer)


class ChatState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]
    approvals: Annotated[list[str], operator.add]


def approval_graph(client: Client, checkpointer: Any) -> Any:
    """chat -> review (interrupts for a human) -> END."""
    model = ChatInteractions(client=client, model="scripted")

    def chat(state: ChatState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def review(state: ChatState) -> dict[str, Any]:
        answer = interrupt({"question": "approve?", "draft": state["messages"][-1].content})
        return {"approvals": [answer], "messages": [AIMessage(f"reviewed: {answer}", id=f"review-{answer}")]}

    builder = StateGraph(ChatState)
    builder.add_node("chat", chat)
    builder.add_node("review", review)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=checkpointer)
