"""The synchronous ``InteractionsSaver`` API (the conformance suite exercises only the async one),
and what the conformance suite does not check: ordering of pending writes, special-channel
upserts, ``list(None)``, cold reads, exact message round trips, and thread maintenance keeping
survivors readable."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.base import CheckpointTuple, empty_checkpoint
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME

from interstate.client import Client
from interstate.errors import ExtensionNotSupportedError
from interstate.langgraph import InteractionsSaver


def _config(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def _checkpoint(values: dict[str, Any], versions: dict[str, Any]) -> dict[str, Any]:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = versions
    checkpoint["versions_seen"] = {"node": dict(versions)}
    return checkpoint


@pytest.fixture
def saver(url: str) -> Any:
    with InteractionsSaver.from_url(url) as saver:
        yield saver


def _put(saver: InteractionsSaver, thread_id: str, parent: dict[str, Any] | None,
         values: dict[str, Any], versions: dict[str, Any], new: dict[str, Any] | None = None,
         ns: str = "", **metadata: Any) -> dict[str, Any]:  # fmt: skip
    config = _config(thread_id, ns, parent["configurable"]["checkpoint_id"] if parent else None)
    metadata = {"source": "loop", "step": 0, "parents": {}, **metadata}
    return saver.put(config, _checkpoint(values, versions), metadata,  # type: ignore[arg-type]
                     versions if new is None else new)  # fmt: skip


CONVERSATION = [
    SystemMessage("be brief", id="s0"),
    HumanMessage("weather in Paris?", id="h1", name="ann"),
    AIMessage("", id="a1", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call-1"}],
              usage_metadata={"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
              response_metadata={"model_name": "m"}),
    ToolMessage("sunny", tool_call_id="call-1", name="get_weather", id="t1", artifact={"raw": 1}),
    AIMessage([{"type": "text", "text": "It is sunny."}], id="a2", additional_kwargs={"x": [1, 2]}),
]  # fmt: skip


def test_round_trip_of_values_messages_and_metadata(
    saver: InteractionsSaver, url: str, thread_id: str
) -> None:
    values = {"messages": CONVERSATION[:3], "count": 3, "pair": (1, "a"), "blob": b"\x00\x01",
              "nested": {"inbox": [CONVERSATION[1]], "n": None}, "empty": []}  # fmt: skip
    first = _put(saver, thread_id, None, values, {k: 1 for k in values}, score=0.5, tag="x")
    second_values = {**values, "messages": CONVERSATION, "count": 5}
    second = _put(saver, thread_id, first, second_values, {**{k: 1 for k in values}, "messages": 2, "count": 2},
                  new={"messages": 2, "count": 2}, step=1, custom={"deep": [1]})  # fmt: skip
    for config, expected in ((first, values), (second, second_values)):
        expected = {**expected, "pair": [1, "a"]}  # tuples come back as lists, as from InMemorySaver
        found = saver.get_tuple(config)
        assert isinstance(found, CheckpointTuple)
        assert found.checkpoint["channel_values"] == expected
        assert [type(m) for m in found.checkpoint["channel_values"]["messages"]] == [
            type(m) for m in expected["messages"]]
    latest = saver.get_tuple(_config(thread_id))
    assert latest is not None and latest.config == second
    assert latest.parent_config == first and latest.metadata["custom"] == {"deep": [1]}
    assert latest.checkpoint["channel_versions"]["messages"] == 2
    assert saver.get_tuple(first).metadata == {"source": "loop", "step": 0, "parents": {}, "score": 0.5, "tag": "x"}
    # A saver with an empty cache (another process) reads the same.
    with InteractionsSaver.from_url(url) as cold:
        assert cold.get_tuple(_config(thread_id)).checkpoint == latest.checkpoint  # type: ignore[union-attr]
        assert [t.config for t in cold.list(_config(thread_id))] == [second, first]


def test_messages_are_typed_steps_stored_once(saver: InteractionsSaver, thread_id: str) -> None:
    first = _put(saver, thread_id, None, {"messages": CONVERSATION[1:2]}, {"messages": 1})
    second = _put(saver, thread_id, first, {"messages": CONVERSATION[1:4]}, {"messages": 2})
    turn = saver.client.interactions.get(_iid(saver, second), include_input=True)
    assert [s.type for s in turn.input or []] == ["function_call", "function_result"]
    assert turn.previous_interaction_id == _iid(saver, first)
    chain = saver.client.interstate.chain(turn.id)
    steps = [s.type for t in chain for s in t.input or []]
    assert steps == ["user_input", "function_call", "function_result"]


def _iid(saver: InteractionsSaver, config: dict[str, Any]) -> str:
    conf = config["configurable"]
    return saver._core.namespaces.get((conf["thread_id"], conf["checkpoint_ns"])).iid(conf["checkpoint_id"])  # type: ignore[union-attr]


def test_pending_writes_order_idempotency_and_upserts(saver: InteractionsSaver, thread_id: str) -> None:
    first = _put(saver, thread_id, None, {"a": 1}, {"a": 1})
    saver.put_writes(first, [("b", "from-z")], "task-z", task_path="~__pregel_pull, z")
    saver.put_writes(first, [("a", 1), ("c", HumanMessage("hi", id="w1"))], "task-a", task_path="~__pregel_pull, a")
    saver.put_writes(first, [("a", 99)], "task-a", task_path="~__pregel_pull, a")  # retry: ignored
    saver.put_writes(first, [(RESUME, "first")], "task-a")
    saver.put_writes(first, [(RESUME, "second"), (ERROR, "boom"), (INTERRUPT, {"why": 1})], "task-a")
    writes = saver.get_tuple(first).pending_writes  # type: ignore[union-attr]
    assert writes == [
        ("task-a", RESUME, "second"), ("task-a", INTERRUPT, {"why": 1}), ("task-a", ERROR, "boom"),
        ("task-a", "a", 1), ("task-a", "c", HumanMessage("hi", id="w1")), ("task-z", "b", "from-z"),
    ]  # fmt: skip
    # The next checkpoint consumes them: they stay the first checkpoint's, it starts empty.
    second = _put(saver, thread_id, first, {"a": 2, "c": [HumanMessage("hi", id="w1")]}, {"a": 2, "c": 2})
    assert saver.get_tuple(second).pending_writes == []  # type: ignore[union-attr]
    assert saver.get_tuple(first).pending_writes == writes  # type: ignore[union-attr]
    # A write that arrives after the checkpoint has a child is kept too.
    saver.put_writes(first, [("late", "yes")], "task-late")
    assert ("task-late", "late", "yes") in saver.get_tuple(first).pending_writes  # type: ignore[operator, union-attr]
    listed = {t.config["configurable"]["checkpoint_id"]: t.pending_writes for t in saver.list(_config(thread_id))}
    assert listed[first["configurable"]["checkpoint_id"]] == saver.get_tuple(first).pending_writes  # type: ignore[union-attr]


def test_list_filters_before_limit_namespaces_and_all_threads(saver: InteractionsSaver) -> None:
    run = uuid.uuid4().hex
    threads = [f"{run}-1", f"{run}-2"]
    configs = []
    for thread in threads:
        parent = None
        for step in range(3):
            parent = _put(saver, thread, parent, {"x": step}, {"x": step + 1}, step=step, run=run,
                          kind="even" if step % 2 == 0 else "odd")  # fmt: skip
            configs.append(parent)
        _put(saver, thread, None, {"y": 1}, {"y": 1}, ns="child:1", run=run, step=9)
    ids = [c["configurable"]["checkpoint_id"] for c in configs[:3]]
    root_only = [t.checkpoint["id"] for t in saver.list(_config(threads[0]))]
    assert root_only == list(reversed(ids))
    everything = list(saver.list({"configurable": {"thread_id": threads[0]}}))
    assert len(everything) == 4 and {t.config["configurable"]["checkpoint_ns"] for t in everything} == {"", "child:1"}
    assert [t.metadata["step"] for t in saver.list(_config(threads[0]), filter={"kind": "even"})] == [2, 0]
    assert [t.checkpoint["id"] for t in saver.list(_config(threads[0]), before=configs[2], limit=1)] == [ids[1]]
    across = [t for t in saver.list(None, filter={"run": run, "step": 9})]
    assert sorted(t.config["configurable"]["thread_id"] for t in across) == threads
    assert list(saver.list(_config(threads[0]), filter={"kind": "none"})) == []


def test_delete_copy_prune_keep_survivors_readable(saver: InteractionsSaver) -> None:
    source, target = f"src-{uuid.uuid4()}", f"dst-{uuid.uuid4()}"
    parent = None
    for turn in range(3):
        messages = [HumanMessage(f"m{i}", id=f"m{i}") for i in range(turn + 1)]
        parent = _put(saver, source, parent, {"messages": messages, "n": turn}, {"messages": turn + 1, "n": turn + 1})
        saver.put_writes(parent, [("messages", [AIMessage(f"r{turn}", id=f"r{turn}")])], f"t{turn}")
    _put(saver, source, None, {"sub": 1}, {"sub": 1}, ns="inner:1")
    before = [(t.checkpoint, t.pending_writes) for t in saver.list(_config(source))]
    saver.copy_thread(source, target)
    saver.delete_thread(source)
    assert list(saver.list({"configurable": {"thread_id": source}})) == []
    after = [(t.checkpoint, t.pending_writes) for t in saver.list(_config(target))]
    assert after == before
    assert len(list(saver.list({"configurable": {"thread_id": target}}))) == 4
    saver.prune([target])
    kept = list(saver.list(_config(target)))
    assert [(t.checkpoint, t.pending_writes) for t in kept] == [before[0]]
    # The pruned head is stored whole: it still continues after a new process reads it.
    nxt = _put(saver, target, kept[0].config, {"messages": before[0][0]["channel_values"]["messages"] + [
        AIMessage("more", id="more")], "n": 9}, {"messages": 9, "n": 9})  # fmt: skip
    assert saver.get_tuple(nxt).checkpoint["channel_values"]["messages"][-1].content == "more"  # type: ignore[union-attr]


def test_delete_for_runs_keeps_later_runs_whole(saver: InteractionsSaver, thread_id: str) -> None:
    first = _put(saver, thread_id, None, {"messages": [HumanMessage("a", id="a")]}, {"messages": 1}, run_id="r1")
    saver.put_writes(first, [("messages", [AIMessage("b", id="b")])], "t1")
    second = _put(saver, thread_id, first, {"messages": [HumanMessage("a", id="a"), AIMessage("b", id="b")]},
                  {"messages": 2}, run_id="r2")  # fmt: skip
    expected = saver.get_tuple(second)
    saver.delete_for_runs(["r1"])
    assert saver.get_tuple(first) is None
    assert [t.config for t in saver.list(_config(thread_id))] == [second]
    found = saver.get_tuple(_config(thread_id))
    assert found is not None and found.checkpoint == expected.checkpoint  # type: ignore[union-attr]
    saver.delete_for_runs(["r2"])
    assert saver.get_tuple(_config(thread_id)) is None


def test_versions_are_small_integers(saver: InteractionsSaver) -> None:
    assert [saver.get_next_version(v, None) for v in (None, 1, 41)] == [1, 2, 42]


def test_google_endpoint_is_refused_with_how_to_run_a_server() -> None:
    with Client(api_key="k") as client:
        with pytest.raises(ExtensionNotSupportedError) as info:
            InteractionsSaver(client)
    assert "interstate serve" in str(info.value)


def _started_writes(saver: InteractionsSaver, config: dict[str, Any], writes: list[tuple[str, Any]],
                    task_id: str) -> tuple[Any, Any]:  # fmt: skip
    """A put_writes stopped just before its request is sent: (the plan, the request)."""
    plan = saver._core.put_writes(config, writes, task_id)  # type: ignore[arg-type]
    return plan, next(plan)


def _land(saver: InteractionsSaver, plan: Any, op: Any) -> None:
    with pytest.raises(StopIteration):
        plan.send(saver._execute(op))


def _ref_writes(saver: InteractionsSaver, thread_id: str) -> dict[str, Any]:
    """The pending writes on the thread's head ref, by checkpoint id."""
    name = saver._core.namespaces.get((thread_id, "")).ref  # type: ignore[union-attr]
    (ref,) = saver.client.interstate.refs(names=[name]).refs
    return ref.metadata.get("w") or {}


@pytest.mark.parametrize("lands", ["before the child", "after the child"])
def test_put_does_not_wait_for_its_parents_writes(saver: InteractionsSaver, url: str, thread_id: str,
                                                  lands: str) -> None:  # fmt: skip
    """A put takes over its parent's writes that are still on their way to the server, whichever
    request lands first: nothing is lost, and what lands late on the head ref is cleared."""
    first = _put(saver, thread_id, None, {"a": 1}, {"a": 1})
    saver.put_writes(first, [("a", 5)], "task-done")
    plan, op = _started_writes(saver, first, [("b", HumanMessage("hi", id="w1"))], "task-flying")
    if lands == "before the child":
        _land(saver, plan, op)
    second = _put(saver, thread_id, first, {"a": 2, "b": [HumanMessage("hi", id="w1")]}, {"a": 2, "b": 2})
    if lands == "after the child":
        _land(saver, plan, op)
    expected = [("task-done", "a", 5), ("task-flying", "b", HumanMessage("hi", id="w1"))]
    assert saver.get_tuple(first).pending_writes == expected  # type: ignore[union-attr]
    assert saver.get_tuple(second).pending_writes == []  # type: ignore[union-attr]
    # A new saver (another process) reads the same from the server alone.
    with InteractionsSaver.from_url(url) as cold:
        assert cold.get_tuple(first).pending_writes == expected  # type: ignore[union-attr]
    late = first["configurable"]["checkpoint_id"]
    assert (late in _ref_writes(saver, thread_id)) == (lands == "after the child")
    third = _put(saver, thread_id, second, {"a": 3}, {"a": 3})
    assert late not in _ref_writes(saver, thread_id)
    assert saver.get_tuple(first).pending_writes == expected  # type: ignore[union-attr]
    assert saver.get_tuple(third).pending_writes == []  # type: ignore[union-attr]


def test_writes_sent_while_the_child_is_stored_go_to_the_parent(saver: InteractionsSaver, thread_id: str) -> None:
    first = _put(saver, thread_id, None, {"a": 1}, {"a": 1})
    config = _config(thread_id, "", first["configurable"]["checkpoint_id"])
    plan = saver._core.put(config, _checkpoint({"a": 2}, {"a": 2}),  # type: ignore[arg-type]
                           {"source": "loop", "step": 1, "parents": {}}, {"a": 2})  # fmt: skip
    op = next(plan)  # the child's batch, not sent yet: the parent is claimed
    while not hasattr(op, "operations"):
        op = plan.send(saver._execute(op))
    saver.put_writes(first, [("x", "late")], "task-late")  # goes to the parent's own record
    with pytest.raises(StopIteration):
        plan.send(saver._execute(op))
    assert saver.get_tuple(first).pending_writes == [("task-late", "x", "late")]  # type: ignore[union-attr]
    assert _ref_writes(saver, thread_id) == {}
