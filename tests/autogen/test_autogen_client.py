"""InteractionsChatCompletionClient with real AutoGen teams on the scripted model, embedded and
over HTTP: chaining, tools, streaming, one-off prompts, Swarm/Selector, components."""

from __future__ import annotations

import json
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import (
    HandoffMessage,
    ModelClientStreamingChunkEvent,
    TextMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_agentchat.teams import MagenticOneGroupChat, RoundRobinGroupChat
from autogen_core import ComponentModel
from autogen_core.models import ChatCompletionClient, SystemMessage, UserMessage
from autogen_scenarios import round_robin, selector_team, swarm_team, tool_team
from interstate.autogen import (
    InteractionsChatCompletionClient,
    InteractionsChatCompletionContext,
)
from interstate.autogen import _convert as cv
from interstate.client import AsyncClient
from interstate.errors import APIError, InteractionFailedError


def _client(target: Any, model: str, **kwargs: Any) -> InteractionsChatCompletionClient:
    return InteractionsChatCompletionClient(model, url=target.url, max_retries=0, **kwargs)


async def _chain_steps(target: Any, interaction_id: str) -> list[dict[str, Any]]:
    async with AsyncClient.from_url(target.url) as client:
        chain = await client.interstate.chain(interaction_id)
    steps = []
    for turn in chain:
        steps += [s.to_wire() for s in turn.input or []]  # type: ignore[union-attr]
        steps += [s.to_wire() for s in turn.steps or []]
    return steps


async def test_round_robin_sends_only_new_messages(target: Any, tag: str) -> None:
    client = _client(target, "scripted-rr")
    team = round_robin(client, turns=7)
    result = await team.run(task=f"Write a poem about {tag}.")
    assert [m.source for m in result.messages] == ["user"] + ["alice", "bob"] * 3
    # Each agent's chain grows by one turn per call: depth 0, 1, 2.
    assert [m.to_text() for m in result.messages[1:]] == [
        f"rr reply at depth {d}" for d in (0, 0, 1, 1, 2, 2)
    ]
    calls = client.calls
    assert [c.agent for c in calls] == ["alice", "bob"] * 3
    assert [c.n_messages for c in calls] == [1, 2, 3, 4, 5, 6]
    # First call of each agent sends everything; afterwards only the other agent's new turn.
    assert [c.n_sent for c in calls] == [1, 2, 1, 1, 1, 1]
    assert calls[2].previous_interaction_id == calls[0].interaction_id
    assert calls[3].previous_interaction_id == calls[1].interaction_id
    assert all(c.stored for c in calls)
    # The stored chain is the agent's context, as steps.
    context = await team._participants[0]._model_context.get_messages()  # type: ignore[attr-defined]
    assert await _chain_steps(target, calls[4].interaction_id) == cv.messages_to_steps(context)
    await client.close()


async def test_system_message_goes_to_system_instruction(target: Any, tag: str) -> None:
    client = _client(target, "scripted-rr")
    result = await client.create([SystemMessage(content="Be brief."), UserMessage(content=tag, source="user")])
    assert result.content == "rr reply at depth 0"
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert client.total_usage().completion_tokens == result.usage.completion_tokens
    async with AsyncClient.from_url(target.url) as raw:
        stored = await raw.interstate.get(client.calls[0].interaction_id)  # type: ignore[arg-type]
    assert stored.system_instruction == "Be brief."
    assert [s.type for s in stored.input] == ["user_input"]  # type: ignore[union-attr]
    await client.close()


async def test_tool_calls_map_to_function_steps(target: Any, tag: str) -> None:
    client = _client(target, "scripted-tool")
    team = tool_team(client)
    result = await team.run(task=f"What is the weather? ({tag})")
    kinds = [(type(m).__name__, m.source) for m in result.messages]
    assert kinds == [
        ("TextMessage", "user"),
        ("ToolCallRequestEvent", "forecaster"),
        ("ToolCallExecutionEvent", "forecaster"),
        ("TextMessage", "forecaster"),
        ("TextMessage", "reviewer"),
    ]
    request = result.messages[1]
    assert isinstance(request, ToolCallRequestEvent)
    assert request.content[0].name == "get_weather"
    assert json.loads(request.content[0].arguments) == {"city": "Paris"}
    assert isinstance(result.messages[2], ToolCallExecutionEvent)
    assert result.messages[3].to_text() == "The forecast says sunny in Paris."
    first, reflection, review = client.calls
    # The reflection continues the tool-call turn (requires_action) with only the result.
    assert reflection.previous_interaction_id == first.interaction_id
    assert reflection.n_sent == 1
    steps = await _chain_steps(target, reflection.interaction_id)  # type: ignore[arg-type]
    assert [s["type"] for s in steps] == ["user_input", "function_call", "function_result",
                                          "model_output"]  # fmt: skip
    assert steps[1]["arguments"] == {"city": "Paris"}
    assert steps[2]["call_id"] == steps[1]["id"] and steps[2]["result"] == "sunny in Paris"
    async with AsyncClient.from_url(target.url) as raw:
        tool_turn = await raw.interactions.get(first.interaction_id)  # type: ignore[arg-type]
    assert tool_turn.status == "requires_action"
    assert tool_turn.tools[0].name == "get_weather"  # type: ignore[index,union-attr]
    assert review.n_sent == 2 and review.previous_interaction_id is None
    await client.close()


async def test_streaming(target: Any, tag: str) -> None:
    client = _client(target, "scripted-stream")
    alice = AssistantAgent("alice", model_client=client, model_client_stream=True)
    bob = AssistantAgent("bob", model_client=client, model_client_stream=True)
    from autogen_agentchat.conditions import MaxMessageTermination

    team = RoundRobinGroupChat([alice, bob], termination_condition=MaxMessageTermination(5))
    chunks: dict[str, list[str]] = {}
    finals: list[TextMessage] = []
    async for item in team.run_stream(task=f"Stream please {tag}"):
        if isinstance(item, ModelClientStreamingChunkEvent):
            chunks.setdefault(item.full_message_id or "", []).append(item.content)
        elif isinstance(item, TextMessage) and item.source != "user":
            finals.append(item)
    assert [m.content for m in finals] == [
        f"a streamed reply at depth {d}, in chunks" for d in (0, 0, 1, 1)
    ]
    for final in finals:
        pieces = chunks[final.id]
        assert len(pieces) > 1 and "".join(pieces) == final.content
    assert [c.n_sent for c in client.calls] == [1, 2, 1, 1]
    assert client.calls[2].previous_interaction_id == client.calls[0].interaction_id
    await client.close()


async def test_create_stream_direct_ends_with_result(target: Any, tag: str) -> None:
    client = _client(target, "scripted-stream")
    items = [item async for item in client.create_stream([UserMessage(content=tag, source="user")])]
    *texts, result = items
    assert all(isinstance(t, str) for t in texts) and len(texts) > 1
    assert result.content == "".join(texts) == "a streamed reply at depth 0, in chunks"
    assert result.finish_reason == "stop"
    await client.close()


async def _all_inputs_text(target: Any) -> str:
    async with AsyncClient.from_url(target.url) as raw:
        return json.dumps([i.to_wire() async for i in raw.interstate.iter(include_input=True,
                                                                          page_size=1000)])


async def test_selector_speaker_selection_never_chains(target: Any, tag: str) -> None:
    client = _client(target, "scripted-sel")
    team = selector_team(client, turns=7)
    result = await team.run(task=f"Plan a trip {tag}")
    assert [m.source for m in result.messages] == ["user", "alice", "bob", "carol"] * 1 + [
        "alice", "bob", "carol"
    ]
    selections = [c for c in client.calls if c.agent is None]
    agents = [c for c in client.calls if c.agent is not None]
    assert len(selections) == 6 and all(not c.stored for c in selections)
    assert all(c.n_sent == c.n_messages == 1 for c in selections)
    assert all(c.stored for c in agents)
    # Second round: each agent continues its own chain with the two turns it has not seen.
    assert [c.n_sent for c in agents[3:]] == [2, 2, 2]
    assert [c.previous_interaction_id for c in agents[3:]] == [c.interaction_id for c in agents[:3]]
    # Nothing of the selector prompts was stored.
    stored = await _all_inputs_text(target)
    assert tag in stored
    assert "select the next role" not in stored
    await client.close()


async def test_magentic_one_prompts_never_chain(target: Any, tag: str) -> None:
    client = _client(target, "scripted-m1")
    alice = AssistantAgent("alice", model_client=client)
    team = MagenticOneGroupChat([alice], model_client=client)
    result = await team.run(task=f"Find facts about {tag}")
    assert result.messages[-1].source == "MagenticOneOrchestrator"
    assert len(client.calls) == 4  # facts, plan, progress ledger, final answer
    assert all(not c.stored and c.agent is None for c in client.calls)
    assert "pre-survey" not in await _all_inputs_text(target)
    await client.close()


async def test_swarm_handoff(target: Any, tag: str) -> None:
    client_a = _client(target, "scripted-swarm-a")
    client_b = _client(target, "scripted-swarm-b")
    team = swarm_team(client_a, client_b)
    result = await team.run(task=f"Route this {tag}")
    kinds = [(type(m).__name__, m.source) for m in result.messages]
    assert kinds == [
        ("TextMessage", "user"),
        ("ToolCallRequestEvent", "alice"),
        ("ToolCallExecutionEvent", "alice"),
        ("HandoffMessage", "alice"),
        ("TextMessage", "bob"),
    ]
    assert isinstance(result.messages[3], HandoffMessage) and result.messages[3].target == "bob"
    # Bob stays the speaker. His calls continue his chain with only what is new: the task,
    # then nothing at all (he speaks twice in a row: the model continues its own turn).
    result = await team.run(task=f"And again {tag}")
    assert [m.to_text() for m in result.messages[1:]] == [
        "bob handled it at depth 1", "bob handled it at depth 2"
    ]
    first, second, third = client_b.calls
    assert first.n_sent == 2  # the task and alice's handoff note
    assert (second.previous_interaction_id, second.n_sent) == (first.interaction_id, 1)
    assert (third.previous_interaction_id, third.n_sent) == (second.interaction_id, 0)
    await client_a.close()
    await client_b.close()


async def test_explicit_one_off_is_not_stored(target: Any, tag: str) -> None:
    client = _client(target, "scripted-rr")
    messages = [UserMessage(content=f"Summarise {tag}", source="user")]
    result = await client.create(messages, extra_create_args={"interstate_one_off": True})
    assert result.content == "rr reply at depth 0"
    assert client.calls[0].stored is False
    assert tag not in await _all_inputs_text(target)
    never = _client(target, "scripted-rr", chain="never")
    await never.create(messages)
    follow = [*messages, cv.assistant_reply("rr reply at depth 0", None),
              UserMessage(content="more", source="user")]  # fmt: skip
    await never.create(follow)
    assert [c.n_sent for c in never.calls] == [1, 3] and not any(c.stored for c in never.calls)
    await client.close()
    await never.close()


async def test_stale_interaction_id_falls_back(target: Any, tag: str) -> None:
    client = _client(target, "scripted-rr")
    first = [UserMessage(content=f"Hi {tag}", source="user")]
    reply = await client.create(first)
    async with AsyncClient.from_url(target.url) as raw:
        await raw.interactions.delete(client.calls[0].interaction_id)  # type: ignore[arg-type]
    follow = [*first, cv.assistant_reply(reply.content, reply.thought),
              UserMessage(content="again", source="user")]  # fmt: skip
    result = await client.create(follow)
    assert result.content == "rr reply at depth 0"  # a fresh chain
    assert client.calls[1].n_sent == 3 and client.calls[1].previous_interaction_id is None
    await client.close()


async def test_failed_call_is_not_continued(target: Any, tag: str) -> None:
    client = _client(target, "scripted-flaky")
    first = [UserMessage(content=f"Hi {tag}", source="user")]
    reply = await client.create(first)
    follow = [*first, cv.assistant_reply(reply.content, None), UserMessage(content="b", source="user")]
    with pytest.raises(Exception, match="simulated outage|503"):
        await client.create(follow)
    steady = _client(target, "scripted-steady")
    result = await steady.create(follow)
    # The retry continues the last successful turn, not the failed one.
    assert steady.calls[0].previous_interaction_id == client.calls[0].interaction_id
    assert steady.calls[0].n_sent == 1
    assert result.content == "steady reply at depth 1"
    await client.close()
    await steady.close()


def test_components_round_trip(tmp_path: Any) -> None:
    client = InteractionsChatCompletionClient("scripted-rr", url=f"sqlite:///{tmp_path}/x.db",
                                              generation_config={"temperature": 0.2})  # fmt: skip
    dumped = client.dump_component()
    assert dumped.provider == "interstate.autogen.InteractionsChatCompletionClient"
    loaded = ChatCompletionClient.load_component(json.loads(dumped.model_dump_json()))
    assert type(loaded) is InteractionsChatCompletionClient
    assert loaded.dump_component() == dumped
    context = InteractionsChatCompletionContext()
    assert context.dump_component().provider == "interstate.autogen.InteractionsChatCompletionContext"
    agent = AssistantAgent("alice", model_client=client, model_context=context)
    team = RoundRobinGroupChat([agent])
    team_json = json.loads(team.dump_component().model_dump_json())
    rebuilt = RoundRobinGroupChat.load_component(ComponentModel(**team_json))
    rebuilt_agent = rebuilt._participants[0]  # type: ignore[attr-defined]
    assert type(rebuilt_agent._model_client) is InteractionsChatCompletionClient
    assert type(rebuilt_agent._model_context) is InteractionsChatCompletionContext


def test_model_info_and_token_counting() -> None:
    client = InteractionsChatCompletionClient("scripted-rr", url="memory://")
    info = client.model_info
    assert info["function_calling"] and info["vision"] and info["family"] == "unknown"
    assert InteractionsChatCompletionClient("gemini-2.5-flash").model_info["family"] == "gemini-2.5-flash"
    few = [UserMessage(content="hi", source="user")]
    many = few * 50
    assert 0 < client.count_tokens(few) < client.count_tokens(many)
    assert client.remaining_tokens(many) == 1_048_576 - client.count_tokens(many)
    with pytest.raises(ValueError, match="Unsupported create argument"):
        client._options([], "auto", None, {"frequency_penalty": 1})


async def test_inherit_config_sends_the_system_instruction_once(target: Any, tag: str) -> None:
    raw = AsyncClient.from_url(target.url)
    sent: list[tuple[dict[str, Any], str | None]] = []

    async def capture(request: Any) -> None:
        if request.method == "POST" and request.url.path.endswith("/interactions"):
            sent.append((json.loads(request.content), request.headers.get("x-interstate-inherit-config")))

    raw._http.event_hooks["request"].append(capture)
    client = InteractionsChatCompletionClient("scripted-rr", client=raw, inherit_config=True)
    result = await round_robin(client, turns=5).run(task=f"Inherit {tag}")
    assert [m.to_text() for m in result.messages[3:]] == ["rr reply at depth 1"] * 2
    # Roots send their configuration; continuations with the same one inherit it.
    assert [("system_instruction" in body, header) for body, header in sent] == [
        (True, None), (True, None), (False, "true"), (False, "true")
    ]
    stored = await raw.interactions.get(client.calls[2].interaction_id)  # type: ignore[arg-type]
    assert stored.system_instruction == "You are alice, a writer."  # the model saw it
    # A call with another configuration sends it whole, without the header.
    messages = [UserMessage(content=f"Inherit {tag}", source="user"),
                cv.assistant_reply("rr reply at depth 0", None),
                UserMessage(content="x", source="user")]  # fmt: skip
    await client.create([SystemMessage(content="Other rules."), *messages])
    assert sent[-1][1] is None and sent[-1][0]["system_instruction"] == "Other rules."
    await raw.aclose()


async def test_failed_call_raises_the_typed_error(target: Any, tag: str) -> None:
    """create and create_stream raise a typed interstate error (an APIError: the status error
    of the create call, or InteractionFailedError) with the server's message when the model
    turn fails."""
    client = _client(target, "scripted-flaky")
    first = [UserMessage(content=f"Hi {tag}", source="user")]
    reply = await client.create(first)
    follow = [*first, cv.assistant_reply(reply.content, None), UserMessage(content="b", source="user")]
    with pytest.raises(APIError, match="simulated outage") as failed:
        await client.create(follow)
    assert failed.value.code == "UNAVAILABLE"
    with pytest.raises(InteractionFailedError, match="simulated outage"):
        [item async for item in client.create_stream(follow)]
    await client.close()
