"""AutoGen messages <-> steps: exact round trips and content hashes (no server)."""

from __future__ import annotations

import json

import pytest
from autogen_agentchat.messages import (
    HandoffMessage,
    MultiModalMessage,
    StopMessage,
    TextMessage,
    ThoughtEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
    ToolCallSummaryMessage,
)
from autogen_core import FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    SystemMessage,
    UserMessage,
)
from interstate.autogen import _convert as cv
from interstate.types import normalize_input
from PIL import Image as PILImage

IMAGE = Image.from_pil(PILImage.new("RGB", (2, 2), "red"))
CALLS = [FunctionCall(id="c1", name="get_weather", arguments='{"city": "Paris"}'),
         FunctionCall(id="c2", name="noop", arguments="{}")]  # fmt: skip
MESSAGES = [
    UserMessage(content="hello", source="user"),
    AssistantMessage(content="hi", thought="thinking", source="alice"),
    UserMessage(content="from bob", source="bob"),
    SystemMessage(content="memory: likes tea"),
    UserMessage(content=["look", IMAGE], source="user"),
    AssistantMessage(content=CALLS, thought="need tools", source="alice"),
    FunctionExecutionResultMessage(content=[
        FunctionExecutionResult(content="sunny", name="get_weather", call_id="c1", is_error=False),
        FunctionExecutionResult(content="", name="noop", call_id="c2"),
    ]),
    AssistantMessage(content="done", source="alice"),
]  # fmt: skip


def test_steps_are_valid_wire_steps() -> None:
    steps = cv.messages_to_steps(MESSAGES)
    parsed = normalize_input(steps)
    assert [s.to_wire() for s in parsed] == steps
    assert [s["type"] for s in steps] == [
        "user_input", "thought", "model_output", "user_input", "user_input", "user_input",
        "thought", "function_call", "function_call", "function_result", "function_result",
        "model_output",
    ]  # fmt: skip
    assert steps[7]["arguments"] == {"city": "Paris"}
    assert steps[5]["content"][1]["type"] == "image"


def test_messages_round_trip_through_steps_and_shape() -> None:
    steps = cv.messages_to_steps(MESSAGES)
    rebuilt = cv.steps_to_messages(steps, cv.shape(MESSAGES), assistant_source="alice")
    assert cv.prefix_hashes(rebuilt) == cv.prefix_hashes(MESSAGES)
    assert [type(m) for m in rebuilt] == [type(m) for m in MESSAGES]
    assert rebuilt[2].source == "bob"  # type: ignore[union-attr]
    assert rebuilt[4].content[1].to_base64() == IMAGE.to_base64()  # type: ignore[union-attr,index]
    assert rebuilt[5].content[0].name == "get_weather"  # type: ignore[union-attr,index]
    assert rebuilt[6] == MESSAGES[6]


def test_shape_mismatch_is_an_error() -> None:
    steps = cv.messages_to_steps(MESSAGES[:2])
    with pytest.raises(ValueError, match="shape covers"):
        cv.steps_to_messages(steps, [["U", "user", 1]])


def test_hashes_ignore_assistant_source_and_argument_spacing() -> None:
    a = [UserMessage(content="x", source="user"),
         AssistantMessage(content=[FunctionCall(id="1", name="f", arguments='{"a":1,"b":2}')],
                          source="alice")]  # fmt: skip
    b = [UserMessage(content="x", source="user"),
         AssistantMessage(content=[FunctionCall(id="1", name="f", arguments='{"b": 2, "a": 1}')],
                          source="assistant")]  # fmt: skip
    assert cv.prefix_hashes(a) == cv.prefix_hashes(b)
    other = [UserMessage(content="x", source="bob")]
    assert cv.prefix_hashes(other)[0] != cv.prefix_hashes(a)[0]  # who spoke matters


def test_model_output_becomes_one_assistant_message() -> None:
    content, thought = cv.assistant_parts([
        {"type": "thought", "summary": [{"type": "text", "text": "plan"}]},
        {"type": "model_output", "content": [{"type": "text", "text": "calling"}]},
        {"type": "function_call", "id": "k", "name": "f", "arguments": {"x": 1}},
    ])  # fmt: skip
    assert thought == "plan\ncalling"
    assert content == [FunctionCall(id="k", name="f", arguments='{"x": 1}')]
    assert cv.assistant_parts([{"type": "model_output", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]) == ("ab", None)


def test_split_system_and_request_options() -> None:
    system, body = cv.split_system([SystemMessage(content="a"), SystemMessage(content="b"), *MESSAGES[:1]])
    assert system == "a\n\nb" and body == MESSAGES[:1]
    assert cv.tool_choice_to_wire("required") == "any"
    assert cv.tool_choice_to_wire("auto") is None
    assert cv.response_format(True) == {"type": "text", "mime_type": "application/json"}


@pytest.mark.parametrize(
    "message",
    [
        TextMessage(content="text-one", source="user"),
        TextMessage(content="text-two", source="alice", metadata={"k": "v"}),
        ToolCallRequestEvent(content=[FunctionCall(id="1", name="f", arguments='{"a":1}')],
                             source="alice"),
        ToolCallExecutionEvent(content=[FunctionExecutionResult(content="r", name="f",
                                                                call_id="1", is_error=False)],
                               source="alice"),
        ToolCallSummaryMessage(content="text-summary", source="alice", tool_calls=[], results=[]),
        HandoffMessage(content="text-handoff", target="bob", source="alice",
                       context=[AssistantMessage(content="ctx", source="alice")]),
        StopMessage(content="text-stop", source="manager"),
        ThoughtEvent(content="text-thought", source="alice"),
        MultiModalMessage(content=["see", IMAGE], source="user"),
    ],
)  # fmt: skip
def test_chat_messages_round_trip(message: object) -> None:
    dump = json.loads(json.dumps(message.dump()))  # type: ignore[attr-defined]
    steps, rest = cv.chat_to_steps(dump)
    assert cv.chat_from_steps(steps, json.loads(json.dumps(rest))) == dump
    if isinstance(message.content, str):  # type: ignore[attr-defined]
        assert len(steps) == 1 and message.content not in json.dumps(rest)  # type: ignore[attr-defined]
