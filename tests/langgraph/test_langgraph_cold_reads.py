"""Cold reads (issue 12): a saver that has never seen a thread reads it in a bounded number of
requests — a ``get_tuple`` in one (the head ref with its whole chain), a filtered ``list`` in a
few however many checkpoints or threads match — and reads exactly what a warm saver reads.
Embedded and over HTTP (``url``)."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from interstate.langgraph import InteractionsSaver


def _graph(saver: InteractionsSaver) -> Any:
    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"answer {len(state['messages'])}")]}

    return StateGraph(MessagesState).add_node(answer).add_edge(START, "answer").compile(checkpointer=saver)


def _fill(url: str, threads: list[str], turns: int, user: str) -> None:
    with InteractionsSaver.from_url(url) as saver:
        graph = _graph(saver)
        for thread in threads:
            config = {"configurable": {"thread_id": thread}, "metadata": {"user": user}}
            for turn in range(turns):
                graph.invoke({"messages": [HumanMessage(f"question {turn}")]}, config)


class _Counting(InteractionsSaver):
    """A saver that records the operations it sends (one request each)."""

    sent: list[str] = []  # the class's: entering a saver may hand out a copy of it

    def _execute(self, op: Any) -> Any:
        prefixed = getattr(op, "prefix", None) is not None
        _Counting.sent.append(type(op).__name__ + (" by prefix" if prefixed else ""))
        return super()._execute(op)


def _cold(url: str) -> _Counting:
    _Counting.sent = []
    return _Counting.from_url(url)  # type: ignore[return-value]


def _view(found: Any) -> tuple[Any, ...]:
    messages = found.checkpoint["channel_values"].get("messages", [])
    return (found.config, found.parent_config, found.metadata, found.pending_writes,
            [(m.type, m.content, m.id) for m in messages])  # fmt: skip


def test_a_cold_get_tuple_is_one_request_and_reads_what_a_warm_one_does(url: str) -> None:
    thread, user = f"cold-{uuid.uuid4()}", f"user-{uuid.uuid4()}"
    _fill(url, [thread], 12, user)
    config = {"configurable": {"thread_id": thread}}
    with InteractionsSaver.from_url(url) as warm:
        expected = _view(warm.get_tuple(config))
        warm_state = _graph(warm).get_state(config)
    with _cold(url) as saver:
        found = saver.get_tuple(config)
        assert _Counting.sent == ["Refs"]
        assert _view(found) == expected
        assert len(found.checkpoint["channel_values"]["messages"]) == 24
        assert _graph(saver).get_state(config).values == warm_state.values
        # and the next turn goes on from what the cold read cached
        _graph(saver).invoke({"messages": [HumanMessage("one more")]}, config)
        assert len(saver.get_tuple(config).checkpoint["channel_values"]["messages"]) == 26


def test_cold_filtered_lists_take_a_few_requests_whatever_they_match(url: str) -> None:
    user = f"user-{uuid.uuid4()}"
    threads = [f"list-{uuid.uuid4()}" for _ in range(6)]
    _fill(url, threads, 4, user)
    cases = [(None, 7), ({"configurable": {"thread_id": threads[2]}}, 3)]
    for config, limit in cases:
        with InteractionsSaver.from_url(url) as warm:
            expected = [_view(t) for t in warm.list(config, filter={"user": user}, limit=limit)]
        with _cold(url) as saver:
            found = [_view(t) for t in saver.list(config, filter={"user": user}, limit=limit)]
            assert found == expected and len(found) == limit
            # refs, the matches, the chosen ones' chains, their children: not one per checkpoint
            assert len(_Counting.sent) <= 4, _Counting.sent
            if config is None:  # the matches name their threads' refs: not every ref is read
                assert "Refs by prefix" not in _Counting.sent, _Counting.sent
        with _cold(url) as saver:  # with a filter that matches nothing
            assert list(saver.list(config, filter={"user": "nobody"}, limit=limit)) == []


class _Trimmed(MessagesState):
    #: The conversation so far, in a dict (a blob holding a range of the messages channel).
    history: dict[str, Any]
    summary: str


def test_a_cold_read_rebuilds_trimmed_channels_blobs_and_ranges_as_they_were_written(url: str) -> None:
    """The head is rebuilt alone (running lists, no state per ancestor): messages cut and
    extended, a blob channel kept across turns, and a blob holding a range of another
    channel's messages (as it was at its own checkpoint) all read back as written."""
    from langchain_core.messages import RemoveMessage

    def answer(state: _Trimmed) -> dict[str, Any]:
        messages = state["messages"]
        update: dict[str, Any] = {"messages": [AIMessage(f"answer {len(messages)}")]}
        if len(messages) > 5:  # drop the oldest two
            update["messages"] = [RemoveMessage(id=m.id) for m in messages[:2]] + update["messages"]
        if len(messages) <= 5:  # the messages so far: a prefix of the channel after this step
            update["history"] = {"so_far": list(messages)}
        if len(messages) % 3 == 1:
            update["summary"] = f"summary at {len(messages)}"
        return update

    thread = f"trim-{uuid.uuid4()}"
    config = {"configurable": {"thread_id": thread}}
    with InteractionsSaver.from_url(url) as writer:
        graph = StateGraph(_Trimmed).add_node(answer).add_edge(START, "answer").compile(checkpointer=writer)
        for turn in range(9):
            graph.invoke({"messages": [HumanMessage(f"question {turn}", id=f"q{turn}")]}, config)
        written = writer.get_tuple(config)
        history = [(found.config, found.checkpoint["channel_values"]) for found in writer.list(config)]
    assert written.checkpoint["channel_values"]["history"], "the graph stored no history"
    with _cold(url) as cold:
        head = cold.get_tuple(config)
    assert _Counting.sent == ["Refs"]
    assert _view(head) == _view(written)
    assert head.checkpoint["channel_values"] == written.checkpoint["channel_values"]
    assert head.checkpoint["channel_versions"] == written.checkpoint["channel_versions"]
    assert head.checkpoint["ts"] == written.checkpoint["ts"]
    with _cold(url) as cold:  # every checkpoint, each with its own values (a state per ancestor)
        assert [(found.config, found.checkpoint["channel_values"]) for found in cold.list(config)] == history
