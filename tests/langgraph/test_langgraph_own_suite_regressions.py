"""What LangGraph's own test suite found (tests/langgraph_suite/run.py), as tests of ours, each
failing on the saver before the fix: reads that handed out live objects, channel values the
message storage did not expect, writes sent before their checkpoint, ids drawn from the
caller's ``uuid.uuid4``. Run embedded and over HTTP (``url``), sync and async."""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any
from unittest import mock

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import START, MessagesState, StateGraph
from typing_extensions import TypedDict

from interstate.langgraph import AsyncInteractionsSaver, InteractionsSaver


def _tool_call_graph(made: list[AIMessage]) -> StateGraph:
    def agent(state: MessagesState) -> dict[str, Any]:
        message = AIMessage("", id=f"ai-{len(made)}",
                            tool_calls=[{"name": "search", "args": {"query": "query"}, "id": "c1"}])  # fmt: skip
        made.append(message)
        return {"messages": [message]}

    return StateGraph(MessagesState).add_node(agent).add_edge(START, "agent")


def _args(state_or_values: Any) -> dict[str, Any]:
    return state_or_values["messages"][-1].tool_calls[0]["args"]


def test_reads_hand_out_copies_the_caller_may_edit(url: str, thread_id: str) -> None:
    made: list[AIMessage] = []
    config = {"configurable": {"thread_id": thread_id}}
    with InteractionsSaver.from_url(url) as saver:
        graph = _tool_call_graph(made).compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("hi")]}, config)
        # The node's own object is not what the cache holds: editing it changes nothing stored.
        made[0].tool_calls[0]["args"]["query"] = "edited by the node's owner"
        state = graph.get_state(config)
        assert _args(state.values) == {"query": "query"}
        assert state.values["messages"][-1] is not made[0]
        # Every read is a fresh copy: get_state, get_tuple, list, history.
        _args(state.values)["query"] = "edited after get_state"
        state.values["messages"][0].content = "edited too"
        latest = saver.get_tuple(config)
        assert latest is not None
        _args(latest.checkpoint["channel_values"])["query"] = "edited after get_tuple"
        for item in saver.list(config):
            for message in item.checkpoint["channel_values"].get("messages", []):
                message.content = "edited after list"
        for snapshot in graph.get_state_history(config):
            snapshot.values.get("messages", []).clear()
        again = graph.get_state(config)
        assert _args(again.values) == {"query": "query"}
        assert again.values["messages"][0].content == "hi"
        # ... and an edit handed to update_state is stored, without changing the older state.
        edited = again.values["messages"][-1]
        _args({"messages": [edited]})["query"] = "a different query"
        graph.update_state(config, {"messages": [edited]})
        assert _args(graph.get_state(config).values) == {"query": "a different query"}
        history = list(graph.get_state_history(config))
        assert _args(history[1].values) == {"query": "query"}
    # What another process reads is what was stored, not what was edited here.
    with InteractionsSaver.from_url(url) as cold:
        stored = cold.get_tuple(config)
        assert stored is not None
        assert _args(stored.checkpoint["channel_values"]) == {"query": "a different query"}


async def test_async_reads_hand_out_copies(url: str, thread_id: str) -> None:
    made: list[AIMessage] = []
    config = {"configurable": {"thread_id": thread_id}}
    async with AsyncInteractionsSaver.from_url(url) as saver:
        graph = _tool_call_graph(made).compile(checkpointer=saver)
        await graph.ainvoke({"messages": [HumanMessage("hi")]}, config)
        made[0].tool_calls[0]["args"]["query"] = "edited"
        state = await graph.aget_state(config)
        assert _args(state.values) == {"query": "query"}
        _args(state.values)["query"] = "edited after aget_state"
        async for item in saver.alist(config):
            for message in item.checkpoint["channel_values"].get("messages", []):
                message.content = "edited after alist"
        again = await graph.aget_state(config)
        assert _args(again.values) == {"query": "query"}
        assert again.values["messages"][0].content == "hi"


def test_json_channel_values_are_not_aliased(url: str, thread_id: str) -> None:
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    value = {"nested": {"n": 1}, "items": [1, 2]}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"data": value}
    checkpoint["channel_versions"] = {"data": 1}
    with InteractionsSaver.from_url(url) as saver:
        saver.put(config, checkpoint, {"source": "input", "step": -1}, {"data": 1})
        value["nested"]["n"] = 2  # the caller's object, after put
        read = saver.get_tuple(config)
        assert read is not None and read.checkpoint["channel_values"]["data"] == {"nested": {"n": 1}, "items": [1, 2]}
        read.checkpoint["channel_values"]["data"]["items"].append(3)
        again = saver.get_tuple(config)
        assert again is not None and again.checkpoint["channel_values"]["data"]["items"] == [1, 2]


class NotMessages(TypedDict):
    # A channel named like the message channel, holding things that are not messages.
    messages: Annotated[list, operator.add]


def test_a_messages_channel_of_other_values_round_trips(url: str, thread_id: str) -> None:
    def step(state: NotMessages) -> dict[str, Any]:
        return {"messages": [{"n": len(state["messages"])}, "text", 3]}

    config = {"configurable": {"thread_id": thread_id}}
    graph = StateGraph(NotMessages).add_node(step).add_edge(START, "step")
    with InteractionsSaver.from_url(url) as saver:
        app = graph.compile(checkpointer=saver)
        app.invoke({"messages": ["start"]}, config)
        app.invoke({"messages": [HumanMessage("now a message", id="h1")]}, config)
        values = app.get_state(config).values["messages"]
    assert values[:4] == ["start", {"n": 1}, "text", 3]
    assert values[4] == HumanMessage("now a message", id="h1")
    assert values[5:] == [{"n": 5}, "text", 3]
    with InteractionsSaver.from_url(url) as cold:
        assert StateGraph(NotMessages).add_node(step).add_edge(START, "step").compile(
            checkpointer=cold
        ).get_state(config).values["messages"] == values


def _new_checkpoint_id() -> str:
    return str(uuid.uuid1())  # time-based, like LangGraph's uuid6 ids; unique per test


def _restore(saver: InteractionsSaver, thread_id: str) -> dict[str, Any]:
    """A migration's order: the writes of a checkpoint first, then the checkpoint."""
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": "",
                               "checkpoint_id": _new_checkpoint_id()}}  # fmt: skip
    checkpoint = empty_checkpoint()
    checkpoint["id"] = config["configurable"]["checkpoint_id"]
    checkpoint["channel_values"] = {"messages": [HumanMessage("restored", id="h1")]}
    checkpoint["channel_versions"] = {"messages": 1}
    saver.put_writes(config, [("messages", [AIMessage("pending", id="a1")]), ("other", 1)], "task-1")
    parentless = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    saver.put(parentless, checkpoint, {"source": "loop", "step": 0}, {"messages": 1})
    return config


def test_writes_before_their_checkpoint_are_kept(url: str, thread_id: str) -> None:
    with InteractionsSaver.from_url(url) as saver:
        config = _restore(saver, thread_id)
        found = saver.get_tuple(config)
        assert found is not None
        assert [(t, c) for t, c, _ in found.pending_writes] == [("task-1", "messages"), ("task-1", "other")]
        assert found.pending_writes[0][2] == [AIMessage("pending", id="a1")]
    with InteractionsSaver.from_url(url) as cold:  # stored, not only remembered here
        found = cold.get_tuple(config)
        assert found is not None and len(found.pending_writes) == 2


async def test_async_writes_before_their_checkpoint_are_kept(url: str, thread_id: str) -> None:
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": "",
                               "checkpoint_id": _new_checkpoint_id()}}  # fmt: skip
    checkpoint = empty_checkpoint()
    checkpoint["id"] = config["configurable"]["checkpoint_id"]
    async with AsyncInteractionsSaver.from_url(url) as saver:
        await saver.aput_writes(config, [("x", 1)], "task-1")
        await saver.aput({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}, checkpoint,
                         {"source": "loop", "step": 0}, {})  # fmt: skip
        found = await saver.aget_tuple(config)
        assert found is not None and found.pending_writes == [("task-1", "x", 1)]


def test_the_saver_never_draws_from_uuid4(url: str, thread_id: str) -> None:
    """LangGraph's tests hand out deterministic ids through ``uuid.uuid4``: a saver (and the
    embedded server it starts) must not take any of them."""
    made: list[AIMessage] = []
    config = {"configurable": {"thread_id": thread_id}}
    with mock.patch("uuid.uuid4", side_effect=AssertionError("the saver drew from uuid.uuid4")):
        with InteractionsSaver.from_url(url) as saver:
            graph = _tool_call_graph(made).compile(checkpointer=saver)
            graph.invoke({"messages": [HumanMessage("hi", id="h1")]}, config)
            _restore(saver, f"{thread_id}-restored")
            assert len(graph.get_state(config).values["messages"]) == 2
    assert uuid.uuid4() != uuid.uuid4()
