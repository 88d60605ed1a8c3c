"""Real graphs on InteractionsSaver with the scripted model through ChatInteractions: the prebuilt
react agent with tools, interrupt and resume, a subgraph with its own checkpointer, forks and time
travel, all three durability modes, async and streaming, and a thread resumed in a new process."""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from interstate.client import AsyncClient, Client
from interstate.langgraph import AsyncInteractionsSaver, InteractionsSaver
from interstate.langgraph._codec import ref_name

from lg_support import SCRIPT, approval_graph, react_agent

HERE = Path(__file__).parent


def config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def thread_chain(client: Client, thread_id: str, ns: str = "") -> list[tuple[str, str, dict[str, Any]]]:
    """``(interaction id, kind, step)`` of every step on the head checkpoint's chain."""
    (ref,) = client.interstate.refs(names=[ref_name(thread_id, ns)]).refs
    out = []
    for turn in client.interstate.chain(ref.interaction_id):
        kind = turn.interstate.kind if turn.interstate else ""
        for step in [*(turn.input or []), *(turn.steps or [])]:  # type: ignore[misc]
            out.append((turn.id, kind, step.to_wire()))
    return out


def test_react_agent_with_tools_stores_each_message_once(url: str, thread_id: str) -> None:
    with Client.from_url(url) as client:
        agent = react_agent(client, InteractionsSaver(client))
        first = agent.invoke({"messages": [("user", "what is the weather in Paris?")]},
                             config(thread_id), durability="sync")  # fmt: skip
        assert first["messages"][-1].content == "It is sunny in Paris."
        second = agent.invoke({"messages": [("user", "now add 2 and 3")]}, config(thread_id),
                              durability="sync")  # fmt: skip
        assert [type(m).__name__ for m in second["messages"]] == [
            "HumanMessage", "AIMessage", "ToolMessage", "AIMessage"] * 2
        assert second["messages"][-1].content == "The sum is 5."
        chain = thread_chain(client, thread_id)
        # Walking previous_interaction_id replays the conversation, each message once.
        assert [step["type"] for _, _, step in chain] == [
            "user_input", "function_call", "function_result", "model_output"] * 2
        # The model's replies live in its own turns; those turns sent nothing the server held.
        model_turns = {iid for iid, kind, _ in chain if kind == "model"}
        assert len(model_turns) == 4
        for iid in model_turns:
            assert client.interstate.get(iid).input == []
        # A saver with nothing cached (a new process) reads the same state.
        with Client.from_url(url) as other:
            fresh = react_agent(other, InteractionsSaver(other))
            assert fresh.get_state(config(thread_id)).values == agent.get_state(config(thread_id)).values


def test_interrupt_and_resume_from_a_fresh_saver(url: str, thread_id: str) -> None:
    with Client.from_url(url) as client:
        graph = approval_graph(client, InteractionsSaver(client))
        paused = graph.invoke({"messages": [("user", "draft a reply")]}, config(thread_id))
        assert paused["__interrupt__"][0].value == {"question": "approve?", "draft": "echo: draft a reply"}
    with Client.from_url(url) as client:
        graph = approval_graph(client, InteractionsSaver(client))
        state = graph.get_state(config(thread_id))
        assert state.next == ("review",) and state.interrupts[0].value["question"] == "approve?"
        done = graph.invoke(Command(resume="yes"), config(thread_id))
        assert done["approvals"] == ["yes"]
        assert [m.content for m in done["messages"]] == ["draft a reply", "echo: draft a reply", "reviewed: yes"]
        assert graph.get_state(config(thread_id)).next == ()


class Inner(TypedDict):
    count: int
    log: Annotated[list[str], operator.add]


class Outer(TypedDict):
    runs: Annotated[list[int], operator.add]


def test_subgraph_with_its_own_checkpointer(url: str, thread_id: str) -> None:
    inner_builder = StateGraph(Inner)
    inner_builder.add_node("bump", lambda s: {"count": s.get("count", 0) + 1, "log": ["bump"]})
    inner_builder.add_edge(START, "bump")
    inner_builder.add_edge("bump", END)
    inner = inner_builder.compile(checkpointer=True)  # keeps its own state across outer runs

    def call_inner(state: Outer) -> dict[str, Any]:
        return {"runs": [inner.invoke({"log": ["start"]})["count"]]}

    with Client.from_url(url) as client:
        saver = InteractionsSaver(client)
        builder = StateGraph(Outer)
        builder.add_node("inner", call_inner)
        builder.add_edge(START, "inner")
        builder.add_edge("inner", END)
        outer = builder.compile(checkpointer=saver)
        assert outer.invoke({"runs": []}, config(thread_id))["runs"] == [1]
        assert outer.invoke({"runs": []}, config(thread_id))["runs"] == [1, 2]
        namespaces = {t.config["configurable"]["checkpoint_ns"] for t in saver.list(config(thread_id))}
        assert namespaces == {"", "inner"}
        inner_state = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": "inner"}})
        assert inner_state is not None
        assert inner_state.checkpoint["channel_values"]["log"] == ["start", "bump", "start", "bump"]
        saver.delete_thread(thread_id)
        assert list(saver.list(config(thread_id))) == []


def test_fork_update_state_and_replay(url: str, thread_id: str) -> None:
    with Client.from_url(url) as client:
        graph = approval_graph(client, InteractionsSaver(client))
        cfg = config(thread_id)
        graph.invoke({"messages": [("user", "one")]}, cfg)
        graph.invoke(Command(resume="ok"), cfg)
        history = list(graph.get_state_history(cfg))
        ids = [s.config["configurable"]["checkpoint_id"] for s in history]
        assert ids == sorted(ids, reverse=True)
        # Time travel: the checkpoint before the model answered, replayed.
        before_chat = next(s for s in history if s.next == ("chat",))
        replayed = graph.invoke(None, before_chat.config)
        assert "__interrupt__" in replayed
        assert [m.content for m in graph.get_state(cfg).values["messages"]] == ["one", "echo: one"]
        # Fork: a different question from the same point, then update_state by hand.
        forked_from = before_chat.parent_config
        graph.invoke({"messages": [("user", "two")]}, forked_from)
        fork_state = graph.get_state(cfg)
        assert [m.content for m in fork_state.values["messages"]][-2:] == ["two", "echo: two"]
        patched = graph.update_state(fork_state.config, {"messages": [AIMessage("patched", id="patched")]},
                                     as_node="review")  # fmt: skip
        state = graph.get_state(cfg)
        assert state.config["configurable"]["checkpoint_id"] == patched["configurable"]["checkpoint_id"]
        assert state.metadata["source"] == "update" and state.values["messages"][-1].content == "patched"
        # Every branch stays readable, from its own checkpoint.
        first_branch = graph.get_state(history[0].config)
        assert [m.content for m in first_branch.values["messages"]] == ["one", "echo: one", "reviewed: ok"]
        assert len(list(graph.get_state_history(cfg))) > len(history)


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_durability_modes(url: str, thread_id: str, durability: str) -> None:
    with Client.from_url(url) as client:
        agent = react_agent(client, InteractionsSaver(client))
        for question in ("weather in Paris?", "add 2 and 3"):
            agent.invoke({"messages": [("user", question)]}, config(thread_id), durability=durability)
        messages = agent.get_state(config(thread_id)).values["messages"]
        assert [m.content for m in messages if isinstance(m, AIMessage) and m.content] == [
            "It is sunny in Paris.", "The sum is 5."]
        checkpoints = list(agent.get_state_history(config(thread_id)))
        if durability == "exit":
            assert len(checkpoints) == 2  # one per run
        else:
            assert len(checkpoints) > 6
        with Client.from_url(url) as other:
            assert react_agent(other, InteractionsSaver(other)).get_state(config(thread_id)).values == \
                agent.get_state(config(thread_id)).values  # fmt: skip


async def test_async_agent_and_streaming(url: str, thread_id: str) -> None:
    async with AsyncClient.from_url(url) as aclient:
        with Client.from_url(url) as client:
            agent = react_agent(client, AsyncInteractionsSaver(aclient), async_client=aclient)
            result = await agent.ainvoke({"messages": [("user", "weather please")]}, config(thread_id))
            assert result["messages"][-1].content == "It is sunny in Paris."
            chunks = [chunk async for chunk, _ in agent.astream(
                {"messages": [("user", "stream it")]}, config(thread_id), stream_mode="messages")]
            texts = [c.content for c in chunks if isinstance(c, AIMessage) and c.content]
            assert len(texts) > 1 and "".join(texts) == "streamed reply in pieces"
            state = await agent.aget_state(config(thread_id))
            assert state.values["messages"][-1].content == "streamed reply in pieces"
            model_outputs = [s for _, _, s in thread_chain(client, thread_id) if s["type"] == "model_output"]
            assert len(model_outputs) == 2  # the streamed reply is stored once too


def test_sync_streaming(url: str, thread_id: str) -> None:
    with Client.from_url(url) as client:
        agent = react_agent(client, InteractionsSaver(client))
        chunks = [c for c, _ in agent.stream({"messages": [("user", "stream this")]}, config(thread_id),
                                             stream_mode="messages", durability="sync")]  # fmt: skip
        texts = [c.content for c in chunks if isinstance(c, AIMessage) and c.content]
        assert len(texts) > 1 and "".join(texts) == "streamed reply in pieces"
        final = agent.get_state(config(thread_id)).values["messages"][-1]
        assert final.content == "streamed reply in pieces" and final.usage_metadata["total_tokens"] > 0


RESUME = """
import sys
sys.path.insert(0, {here!r})
from interstate.client import Client
from interstate.langgraph import InteractionsSaver
from lg_support import react_agent
with Client.from_url({url!r}) as client:
    agent = react_agent(client, InteractionsSaver(client))
    agent.invoke({{"messages": [("user", "weather in Paris?")]}}, {{"configurable": {{"thread_id": {thread!r}}}}})
"""


def test_thread_resumed_in_a_new_process(url: str, thread_id: str, tmp_path: Path) -> None:
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": SCRIPT}), encoding="utf-8")
    env = {**os.environ, "INTERSTATE_SCRIPT": str(script)}
    code = RESUME.format(here=str(HERE), url=url, thread=thread_id)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    with Client.from_url(url) as client:
        agent = react_agent(client, InteractionsSaver(client))
        result = agent.invoke({"messages": [("user", "and add 2 and 3")]}, config(thread_id))
        assert [m.content for m in result["messages"] if isinstance(m, (HumanMessage, AIMessage)) and m.content] == [
            "weather in Paris?", "It is sunny in Paris.", "and add 2 and 3", "The sum is 5."]


async def test_async_saver_from_url_and_its_sync_methods_from_another_thread(url: str, thread_id: str) -> None:
    import asyncio

    async with AsyncInteractionsSaver.from_url(url) as saver:
        with Client.from_url(url) as client:
            agent = react_agent(client, saver, async_client=saver.client)
            await agent.ainvoke({"messages": [("user", "add 2 and 3")]}, config(thread_id))
            # LangGraph's sync API on an async saver: from a worker thread, not the event loop.
            state = await asyncio.to_thread(agent.get_state, config(thread_id))
            assert state.values["messages"][-1].content == "The sum is 5."
            with pytest.raises(asyncio.InvalidStateError):
                agent.get_state(config(thread_id))



def test_a_turn_resumed_by_a_saver_with_nothing_cached_stores_each_message_once(
    url: str, thread_id: str
) -> None:
    """Interrupted before the model, resumed in a new process: the first checkpoint that saver
    stores adds the model's reply to a parent it read cold, and still refers to the reply."""
    import warnings

    from langgraph.prebuilt import create_react_agent

    from interstate.langgraph import ChatInteractions

    from lg_support import add, get_weather

    def agent(client: Client) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return create_react_agent(ChatInteractions(client=client, model="scripted"), [get_weather, add],
                                      checkpointer=InteractionsSaver(client), interrupt_before=["agent"])
    with Client.from_url(url) as client:
        agent(client).invoke({"messages": [("user", "what is the weather in Paris?")]}, config(thread_id))
    for _ in range(2):  # before the call that asks for the tool, then before the answer
        with Client.from_url(url) as client:
            done = agent(client).invoke(None, config(thread_id))
    with Client.from_url(url) as client:
        assert done["messages"][-1].content == "It is sunny in Paris."
        assert [step["type"] for _, _, step in thread_chain(client, thread_id)] == [
            "user_input", "function_call", "function_result", "model_output"]
