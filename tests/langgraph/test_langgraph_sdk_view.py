"""The official google-genai SDK, unmodified, reads what the checkpointer stored: a checkpoint's
interaction shows that step's new messages as typed steps, and walking previous_interaction_id
reproduces the thread's history."""

from __future__ import annotations

from typing import Any

import httpx
from google import genai
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from interstate.client import Client
from interstate.langgraph import InteractionsSaver
from interstate.langgraph._codec import ref_name
from interstate.langgraph._state import Namespace
from interstate.server.embedded import EmbeddedServer, EmbeddedTransport


def sdk_for(url: str) -> genai.Client:
    options: dict[str, Any] = {"api_version": "v1beta", "retry_options": {"attempts": 1}}
    if url.startswith("sqlite"):
        options["base_url"] = "http://interstate.embedded"
        options["httpx_client"] = httpx.Client(transport=EmbeddedTransport(EmbeddedServer.start(url)))
    else:
        options["base_url"] = url
    return genai.Client(api_key="no-auth", http_options=options)


def tool_graph(client: Client) -> Any:
    """A graph whose nodes add messages without a model: a human turn becomes a tool round."""

    def plan(state: MessagesState) -> dict[str, Any]:
        n = len(state["messages"])
        return {"messages": [AIMessage("", id=f"plan-{n}", tool_calls=[
            {"name": "lookup", "args": {"q": state["messages"][-1].content}, "id": f"call-{n}"}])]}

    def act(state: MessagesState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]
        return {"messages": [ToolMessage(f"found {call['args']['q']}", tool_call_id=call["id"], id=f"tool-{call['id']}")]}

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"answer: {state['messages'][-1].content}", id=f"ans-{len(state['messages'])}")]}

    builder = StateGraph(MessagesState)
    for name, node in (("plan", plan), ("act", act), ("answer", answer)):
        builder.add_node(name, node)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "act")
    builder.add_edge("act", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=InteractionsSaver(client))


def test_sdk_sees_each_checkpoints_new_messages_as_typed_steps(url: str, thread_id: str) -> None:
    cfg = {"configurable": {"thread_id": thread_id}}
    with Client.from_url(url) as client:
        graph = tool_graph(client)
        graph.invoke({"messages": [HumanMessage("cats", id="h-1")]}, cfg)
        graph.invoke({"messages": [HumanMessage("dogs", id="h-2")]}, cfg)
        history = list(graph.get_state_history(cfg))
        (ref,) = client.interstate.refs(names=[ref_name(thread_id, "")]).refs
    sdk = sdk_for(url)
    try:
        # Each checkpoint's interaction holds exactly the messages that step added.
        by_step: dict[int, list[str]] = {}
        for snapshot in history:
            conf = snapshot.config["configurable"]
            iid = Namespace(thread_id, "").iid(conf["checkpoint_id"])
            interaction = sdk.interactions.get(id=iid, include_input=True)
            by_step[snapshot.metadata["step"]] = [s.type for s in interaction.input or []]
        # The human message is stored by the input checkpoint, where it entered the graph; the
        # next checkpoint (which adds it to "messages") refers to it instead of repeating it.
        turn = {0: [], 1: ["function_call"], 2: ["function_result"], 3: ["model_output"]}
        assert by_step == {-1: ["user_input"], **turn, 4: ["user_input"],
                           **{step + 5: kinds for step, kinds in turn.items()}}  # fmt: skip
        # Walking previous_interaction_id from the head replays the whole thread, in order.
        steps: list[Any] = []
        current: str | None = ref.interaction_id
        while current:
            interaction = sdk.interactions.get(id=current, include_input=True)
            steps = list(interaction.input or []) + steps
            current = interaction.previous_interaction_id
        texts = []
        for step in steps:
            if step.type in ("user_input", "model_output"):
                texts.append(step.content[0].text if step.content else "")
            elif step.type == "function_call":
                texts.append(f"call {step.arguments['q']}")
            elif step.type == "function_result":
                texts.append(f"result {step.result}")
        assert texts == ["cats", "call cats", "result found cats", "answer: found cats",
                         "dogs", "call dogs", "result found dogs", "answer: found dogs"]  # fmt: skip
    finally:
        sdk.close()
