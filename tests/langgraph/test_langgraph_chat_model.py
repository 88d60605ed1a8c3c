"""ChatInteractions on its own: sends only new messages (bytes per turn stay flat), tools as
function declarations and function_call / function_result steps, system instructions, usage,
thoughts, streaming, and Google's endpoint (no interstate extensions)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from interstate.client import AsyncClient, Client
from interstate.errors import InteractionFailedError
from interstate.langgraph import ChatInteractions
from lg_support import get_weather


class Recorder:
    """Request bodies the client sends to create interactions, and every path it calls."""

    def __init__(self, client: Any) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.paths: list[str] = []
        client._http.event_hooks["request"].append(self)

    def __call__(self, request: Any) -> None:
        self.paths.append(request.url.path)
        if request.method == "POST" and request.url.path.endswith("/interactions"):
            self.sizes.append(len(request.content))
            self.bodies.append(json.loads(request.content))


class AsyncRecorder(Recorder):
    async def __call__(self, request: Any) -> None:  # type: ignore[override]
        super().__call__(request)


def _chat(model: ChatInteractions, turns: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage("Answer briefly.")]
    for turn in range(turns):
        messages.append(HumanMessage(f"question number {turn} " + "x" * 200, id=f"h{turn}"))
        messages.append(model.invoke(messages))
    return messages


@pytest.mark.parametrize("google", [False, True])
def test_sends_only_new_messages(url: str, google: bool) -> None:
    with Client.from_url(url) as client:
        if google:
            client.target = "google"  # as on Google's endpoint: no interstate extensions
        recorder = Recorder(client)
        model = ChatInteractions(client=client, model="scripted")
        messages = _chat(model, 30)
        assert messages[-1].content == "echo: question number 29 " + "x" * 200
        # Flat: the 30th request is no bigger than the second (only the new turn is sent).
        assert recorder.sizes[29] <= recorder.sizes[1] + 16
        assert all(body["input"][0]["type"] == "user_input" and len(body["input"]) == 1
                   for body in recorder.bodies[1:])  # fmt: skip
        chain = [b.get("previous_interaction_id") for b in recorder.bodies]
        replies = [m for m in messages if isinstance(m, AIMessage)]
        assert chain == [None] + [m.response_metadata["interstate"]["interaction_id"] for m in replies[:-1]]
        assert all(b["system_instruction"] == "Answer briefly." for b in recorder.bodies)
        assert replies[0].usage_metadata and replies[0].usage_metadata["total_tokens"] > 0
        if google:
            assert not any("/interstate/" in path for path in recorder.paths)
    # A new model object (a new process) continues from the stamps in the messages it is given.
    with Client.from_url(url) as client:
        recorder = Recorder(client)
        fresh = ChatInteractions(client=client, model="scripted")
        fresh.invoke(messages + [HumanMessage("one more", id="h-more")])
        assert recorder.bodies[0]["previous_interaction_id"] == replies[-1].response_metadata["interstate"]["interaction_id"]
        assert len(recorder.bodies[0]["input"]) == 1


def test_tools_round_trip_as_function_steps(url: str) -> None:
    with Client.from_url(url) as client:
        recorder = Recorder(client)
        model = ChatInteractions(client=client, model="scripted").bind_tools([get_weather])
        question = HumanMessage("what is the weather?", id="q")
        call = model.invoke([question])
        assert isinstance(call, AIMessage) and call.tool_calls == [
            {"name": "get_weather", "args": {"city": "Paris"}, "id": call.tool_calls[0]["id"], "type": "tool_call"}]
        declaration = recorder.bodies[0]["tools"][0]
        assert declaration["type"] == "function" and declaration["name"] == "get_weather"
        assert declaration["parameters"]["properties"]["city"]["type"] == "string"
        result = ToolMessage("sunny", tool_call_id=call.tool_calls[0]["id"], name="get_weather", id="r")
        answer = model.invoke([question, call, result])
        assert answer.content == "It is sunny in Paris."
        sent = recorder.bodies[1]
        assert sent["previous_interaction_id"] == call.response_metadata["interstate"]["interaction_id"]
        assert sent["input"] == [{"type": "function_result", "call_id": call.tool_calls[0]["id"],
                                  "name": "get_weather", "result": "sunny"}]  # fmt: skip


def test_thoughts_stream_and_tool_choice(url: str) -> None:
    with Client.from_url(url) as client:
        recorder = Recorder(client)
        model = ChatInteractions(client=client, model="scripted")
        thought = model.invoke([HumanMessage("think about it", id="t")])
        assert thought.content == "thought it through"
        assert thought.additional_kwargs["reasoning_content"] == "let me see"
        chunks = list(model.stream([HumanMessage("stream please", id="s")]))
        assert len([c for c in chunks if c.content]) > 1
        merged = chunks[0]
        for chunk in chunks[1:]:
            merged += chunk
        assert merged.content == "streamed reply in pieces" and merged.usage_metadata is not None
        model.bind_tools([get_weather], tool_choice="get_weather").invoke([HumanMessage("weather?", id="w")])
        assert recorder.bodies[-1]["generation_config"]["tool_choice"] == {
            "allowed_tools": {"mode": "any", "tools": ["get_weather"]}}


async def test_async_calls_chain_too(url: str) -> None:
    async with AsyncClient.from_url(url) as aclient:
        recorder = AsyncRecorder(aclient)
        model = ChatInteractions(async_client=aclient, model="scripted")
        first = await model.ainvoke([HumanMessage("hello", id="a1")])
        chunks = [c async for c in model.astream([HumanMessage("hello", id="a1"), first,
                                                  HumanMessage("stream it", id="a2")])]  # fmt: skip
        assert "".join(c.content for c in chunks) == "streamed reply in pieces"  # type: ignore[misc]
        assert recorder.bodies[1]["previous_interaction_id"] == first.response_metadata["interstate"]["interaction_id"]
        assert len(recorder.bodies[1]["input"]) == 1


async def test_failed_turn_raises_in_every_call_style(url: str) -> None:
    """A failed model turn raises InteractionFailedError with the server's message; it never
    comes back as an empty reply (invoke, stream, ainvoke, astream)."""
    messages = [HumanMessage("hello", id="f1")]
    with Client.from_url(url) as client:
        model = ChatInteractions(client=client, model="scripted-fail")
        with pytest.raises(InteractionFailedError, match="simulated outage"):
            model.invoke(messages)
        with pytest.raises(InteractionFailedError, match="simulated outage"):
            list(model.stream(messages))
    async with AsyncClient.from_url(url) as aclient:
        amodel = ChatInteractions(async_client=aclient, model="scripted-fail")
        with pytest.raises(InteractionFailedError, match="simulated outage") as failed:
            await amodel.ainvoke(messages)
        assert failed.value.status == "failed" and failed.value.interaction_id
        with pytest.raises(InteractionFailedError, match="simulated outage"):
            [c async for c in amodel.astream(messages)]
