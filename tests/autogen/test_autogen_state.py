"""Team and context state on the server, embedded and over HTTP: save/load (also across
processes), checkpoints and crash-resume, and retrying after a failed model call."""

from __future__ import annotations

import json
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core.model_context import UnboundedChatCompletionContext
from autogen_scenarios import (
    CRASH_ENV,
    ScenarioExit,
    round_robin,
    selector_team,
    swarm_team,
)
from interstate.autogen import (
    InteractionsChatCompletionClient,
    InteractionsChatCompletionContext,
    TeamStateStore,
)
from interstate.client import AsyncClient


def _client(target: Any, model: str) -> InteractionsChatCompletionClient:
    return InteractionsChatCompletionClient(model, url=target.url, max_retries=0)


def _canon(state: Any) -> str:
    return json.dumps(state, sort_keys=True)


def _context(state: Any, agent: str) -> list[tuple[str, Any, str]]:
    messages = state["agent_states"][agent]["agent_state"]["llm_context"]["messages"]
    return [(m["type"], m.get("source"), str(m["content"])) for m in messages]


# --- save / load ---------------------------------------------------------------------------------


@pytest.mark.parametrize("contexts", ["stock", "interstate"])
async def test_round_robin_state_round_trips(target: Any, tag: str, contexts: str) -> None:
    client = _client(target, "scripted-rr")
    team = round_robin(client, turns=5, contexts=contexts)
    store = TeamStateStore(f"rr-{tag}", url=target.url)
    await store.run(team, task=f"Write about {tag}")
    stock = json.loads(json.dumps(await team.save_state()))
    loaded = await TeamStateStore(f"rr-{tag}", url=target.url).load_state()
    assert _canon(loaded) == _canon(stock)
    # A fresh team continues where the first stopped, chaining at once.
    fresh_client = _client(target, "scripted-rr")
    fresh = round_robin(fresh_client, turns=3, contexts=contexts)
    assert await TeamStateStore(f"rr-{tag}", url=target.url).load(fresh)
    result = await fresh.run(task="Now shorter.")
    assert [m.source for m in result.messages] == ["user", "alice", "bob"]
    assert [m.to_text() for m in result.messages[1:]] == ["rr reply at depth 2", "rr reply at depth 2"]
    assert [c.n_sent for c in fresh_client.calls] == [2, 2]  # buffered turn + the new task
    assert all(c.previous_interaction_id for c in fresh_client.calls)
    await client.close()
    await fresh_client.close()


async def test_messages_are_stored_once(target: Any, tag: str) -> None:
    client = _client(target, "scripted-rr")
    team = round_robin(client, turns=9)
    key = f"once-{tag}"
    await TeamStateStore(key, url=target.url).run(team, task=f"Go {tag}")
    state = await team.save_state()
    thread = state["agent_states"]["RoundRobinGroupChatManager"]["message_thread"]
    records = list(reversed(await TeamStateStore(key, url=target.url).records()))  # newest first
    ids = [b["id"] for r in records for b in r.interstate.metadata["autogen_thread"]]  # type: ignore[union-attr]
    assert sorted(ids) == sorted(m["id"] for m in thread)  # each message in one record only
    texts = [c.text for r in records for s in r.input or [] for c in s.content]  # type: ignore[union-attr]
    assert sorted(texts) == sorted(m["content"] for m in thread)
    # Only the newest checkpoint carries the state document; it holds no message text.
    documents = [r for r in records if "autogen_state" in r.interstate.metadata]  # type: ignore[union-attr]
    assert len(documents) == 1 and documents[0].id == records[0].id
    assert "rr reply" not in json.dumps(documents[0].interstate.metadata["autogen_state"])  # type: ignore[union-attr]
    await client.close()


async def test_selector_state_round_trips(target: Any, tag: str) -> None:
    client = _client(target, "scripted-sel")
    team = selector_team(client, turns=5)
    store = TeamStateStore(f"sel-{tag}", url=target.url)
    await store.run(team, task=f"Plan {tag}")
    stock = json.loads(json.dumps(await team.save_state()))
    assert _canon(await TeamStateStore(f"sel-{tag}", url=target.url).load_state()) == _canon(stock)
    fresh_client = _client(target, "scripted-sel")
    fresh = selector_team(fresh_client, turns=4)
    assert await TeamStateStore(f"sel-{tag}", url=target.url).load(fresh)
    result = await fresh.run(task="Continue.")
    # previous speaker was alice: the rotation goes on with bob, carol, alice
    assert [m.source for m in result.messages] == ["user", "bob", "carol", "alice"]
    agents = [c for c in fresh_client.calls if c.agent]
    assert all(c.previous_interaction_id for c in agents)
    await client.close()
    await fresh_client.close()


async def test_swarm_state_round_trips(target: Any, tag: str) -> None:
    client_a, client_b = _client(target, "scripted-swarm-a"), _client(target, "scripted-swarm-b")
    team = swarm_team(client_a, client_b)
    await TeamStateStore(f"swarm-{tag}", url=target.url).run(team, task=f"Route {tag}")
    stock = json.loads(json.dumps(await team.save_state()))
    loaded = await TeamStateStore(f"swarm-{tag}", url=target.url).load_state()
    assert _canon(loaded) == _canon(stock)
    fresh_b = _client(target, "scripted-swarm-b")
    fresh = swarm_team(_client(target, "scripted-swarm-a"), fresh_b)
    assert await TeamStateStore(f"swarm-{tag}", url=target.url).load(fresh)
    result = await fresh.run(task="More.")
    assert [m.source for m in result.messages] == ["user", "bob", "bob"]
    assert fresh_b.calls[0].previous_interaction_id == client_b.calls[-1].interaction_id
    assert fresh_b.calls[0].n_sent == 1
    await client_a.close()
    await client_b.close()


async def test_load_without_saved_state(target: Any, tag: str) -> None:
    team = round_robin(_client(target, "scripted-rr"), turns=3)
    assert await TeamStateStore(f"nothing-{tag}", url=target.url).load(team) is False


def test_store_refuses_google() -> None:
    import asyncio

    from interstate.errors import ExtensionNotSupportedError

    store = TeamStateStore("k", client=AsyncClient.from_url("google", api_key="x"))
    with pytest.raises(ExtensionNotSupportedError):
        asyncio.run(store.load_state())


# --- across processes ----------------------------------------------------------------------------


def test_store_across_processes(proc_target: Any, tag: str) -> None:
    key = f"xproc-{tag}"
    first = proc_target.run("store_first", key=key, task=f"Begin {tag}", turns=5)
    assert [m[0] for m in first["messages"]] == ["user", "alice", "bob", "alice", "bob"]
    second = proc_target.run("store_next", key=key, task="Continue.", turns=3)
    assert second["loaded"] is True
    assert [m[1] for m in second["messages"][1:]] == ["rr reply at depth 2", "rr reply at depth 2"]
    # The new process chains at once: alice continues her last turn of the first process.
    assert second["calls"][0]["previous_interaction_id"] == first["calls"][2]["interaction_id"]
    assert second["calls"][1]["previous_interaction_id"] == first["calls"][3]["interaction_id"]
    assert [c["n_sent"] for c in second["calls"]] == [2, 2]


@pytest.mark.parametrize("contexts", ["stock", "interstate"])
def test_stock_state_chains_in_a_new_process(proc_target: Any, tag: str, contexts: str) -> None:
    """Stock save_state/load_state (no store): a new process still chains — found by content on
    the server (stock contexts) or from the ids the interstate context saved (no lookup)."""
    state_file = str(proc_target.tmp / "state.json")
    proc_target.run("stock_first", task=f"Hello {tag}", turns=5, state_file=state_file,
                    contexts=contexts)  # fmt: skip
    second = proc_target.run("stock_next", task="Again.", turns=3, state_file=state_file,
                             contexts=contexts)  # fmt: skip
    assert [c["n_sent"] for c in second["calls"]] == [2, 2]
    assert all(c["previous_interaction_id"] for c in second["calls"])
    if contexts == "interstate":
        assert second["server_lookups"] == 0
    else:
        assert second["server_lookups"] >= 1


def test_crash_and_resume(proc_target: Any, tag: str) -> None:
    key = f"crash-{tag}"
    with pytest.raises(ScenarioExit) as died:
        proc_target.run("crash_first", env={CRASH_ENV: "1"}, key=key, task=f"Research {tag}")
    assert died.value.code == 3  # the tool killed the process in alice's third turn
    resumed = proc_target.run("crash_resume", key=key)
    assert resumed["loaded"] is True
    thread = resumed["thread"]
    assert thread[:8] == [
        ["user", "TextMessage"], ["alice", "TextMessage"], ["bob", "TextMessage"],
        ["alice", "TextMessage"], ["bob", "TextMessage"],
        ["alice", "ToolCallRequestEvent"], ["alice", "ToolCallExecutionEvent"],
        ["alice", "ToolCallSummaryMessage"],
    ]  # fmt: skip
    assert thread[8][0] == "bob"
    # Nothing doubled: bob's last message before the crash is in alice's context once.
    alice = resumed["contexts"]["alice"]
    assert alice.count(["UserMessage", "bob", "crash reply at depth 1"]) == 1
    assert [m[0] for m in alice[:7]] == ["UserMessage", "AssistantMessage", "UserMessage",
                                         "AssistantMessage", "UserMessage", "AssistantMessage",
                                         "FunctionExecutionResultMessage"]  # fmt: skip
    assert "facts about facts" in alice[6][2]
    # The interrupted turn re-ran, continuing alice's stored chain with just bob's message.
    first_call = resumed["calls"][0]
    assert first_call["agent"] == "alice" and first_call["n_sent"] == 1
    assert first_call["previous_interaction_id"]


# --- failed model calls --------------------------------------------------------------------------


async def test_stock_retry_after_failure_corrupts_state(target: Any, tag: str) -> None:
    """Control: the scenario of reference/autogen.md §4.1 with stock state handling."""
    team = round_robin(_client(target, "scripted-flaky"), turns=10)
    with pytest.raises(Exception):
        await team.run(task=f"Start {tag}")
    state = await team.save_state()
    fresh = round_robin(_client(target, "scripted-steady"), turns=3)
    await fresh.load_state(state)
    result = await fresh.run()
    assert result.messages[0].source == "bob"  # alice's turn is lost
    alice = _context(await fresh.save_state(), "alice")
    assert alice.count(("UserMessage", "bob", "flaky reply at depth 0")) == 2  # and duplicated


@pytest.mark.parametrize("same_team", [False, True])
async def test_retry_after_failure_with_store(target: Any, tag: str, same_team: bool) -> None:
    flaky = _client(target, "scripted-flaky")
    team = round_robin(flaky, turns=10)
    store = TeamStateStore(f"retry-{tag}", url=target.url)
    with pytest.raises(Exception):
        await store.run(team, task=f"Start {tag}")
    steady = _client(target, "scripted-steady")
    retry = team if same_team else round_robin(steady, turns=3)
    if same_team:
        for agent in retry._participants:  # type: ignore[attr-defined]
            agent._model_client = steady  # the outage is over
    assert await TeamStateStore(f"retry-{tag}", url=target.url).load(retry)
    result = await retry.run()
    # (the same team object keeps its termination counter: MaxMessageTermination(10) has seen
    # three messages, so that run goes on longer; it must not stall either way)
    expected = 3 if not same_team else 7
    assert [m.source for m in result.messages] == (["alice", "bob"] * 4)[:expected]
    state = await retry.save_state()
    alice = _context(state, "alice")
    assert alice.count(("UserMessage", "bob", "flaky reply at depth 0")) == 1
    thread = state["agent_states"]["RoundRobinGroupChatManager"]["message_thread"]
    assert [m["source"] for m in thread] == ["user", "alice", "bob"] + (["alice", "bob"] * 4)[:expected]
    assert len({m["id"] for m in thread}) == len(thread)
    # alice's retried call continues her last successful turn, sending only bob's reply.
    first = steady.calls[0]
    assert (first.agent, first.n_sent) == ("alice", 1)
    assert first.previous_interaction_id == flaky.calls[0].interaction_id
    assert result.messages[0].to_text() == "steady reply at depth 1"


@pytest.mark.parametrize("context_kind", ["stock", "interstate"])
async def test_context_drops_failed_turn_input(target: Any, tag: str, context_kind: str) -> None:
    def agent(client: Any) -> AssistantAgent:
        context = (InteractionsChatCompletionContext() if context_kind == "interstate"
                   else UnboundedChatCompletionContext())  # fmt: skip
        return AssistantAgent("solo", model_client=client, model_context=context)

    first = agent(_client(target, "scripted-flaky"))
    await first.run(task=f"one {tag}")
    with pytest.raises(Exception, match="simulated outage|503"):
        await first.run(task="two")
    state = json.loads(json.dumps(await first.save_state()))
    retry = agent(_client(target, "scripted-steady"))
    await retry.load_state(state)
    await retry.run(task="two")
    texts = [str(m["content"]) for m in (await retry.save_state())["llm_context"]["messages"]]
    if context_kind == "interstate":
        assert texts == [f"one {tag}", "flaky reply at depth 0", "two", "steady reply at depth 1"]
    else:  # stock: the failed turn's input stays, and is added again
        assert texts.count("two") == 2


async def test_loaded_state_and_context_messages_are_copies(target: Any, tag: str) -> None:
    """Editing a loaded team state, or the messages a context hands out, changes nothing
    stored and nothing the context holds."""
    client = _client(target, "scripted-rr")
    team = round_robin(client, turns=3, contexts="interstate")
    store = TeamStateStore(f"alias-{tag}", url=target.url)
    await store.run(team, task=f"Write about {tag}")
    first = await store.load_state()
    assert first is not None
    before = _canon(first)
    for agent in first["agent_states"].values():
        agent.clear()
    first["agent_states"].clear()
    again = await TeamStateStore(f"alias-{tag}", url=target.url).load_state()
    assert _canon(again) == before
    assert _canon(await store.load_state()) == before

    context = InteractionsChatCompletionContext()
    from autogen_core.models import UserMessage

    await context.add_message(UserMessage(content="hello", source="user"))
    handed = await context.get_messages()
    handed[0].content = "edited"
    assert [m.content for m in await context.get_messages()] == ["hello"]
    await store.close()
    await client.close()
