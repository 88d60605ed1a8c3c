"""A message LangGraph gives its id after the saver first saw it is stored with that id.

``add_messages`` assigns ids to input messages in place, after the input checkpoint stored them;
the next checkpoint must store the message as it is then, and another saver (another process)
must read back the same ids, or a resumed ``ChatInteractions`` cannot find its chain.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from interstate.langgraph import InteractionsSaver


def _reply(state: MessagesState) -> dict:
    return {"messages": [AIMessage("ok")]}


def test_ids_assigned_in_place_are_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ids.db"
    builder = StateGraph(MessagesState).add_node("reply", _reply).add_edge(START, "reply")
    config = {"configurable": {"thread_id": "ids"}}
    with InteractionsSaver.from_url(url) as saver:
        graph = builder.compile(checkpointer=saver)
        question = HumanMessage("Hi")  # no id: add_messages gives it one
        graph.invoke({"messages": [question]}, config)
        graph.invoke({"messages": [HumanMessage("Again")]}, config)
        written = graph.get_state(config).values["messages"]
    assert question.id and all(m.id for m in written)
    with InteractionsSaver.from_url(url) as fresh:  # nothing cached: read from the server
        read = fresh.get_tuple(config).checkpoint["channel_values"]["messages"]
    assert [(m.type, m.id, m.content) for m in read] == [(m.type, m.id, m.content) for m in written]
