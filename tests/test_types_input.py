"""The four ``input`` shapes, and :func:`normalize_input`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from interstate import types as it

TEXT = {"type": "text", "text": "hi"}
IMAGE = {"type": "image", "uri": "https://x/y.png", "mime_type": "image/png"}
USER = {"type": "user_input", "content": [TEXT]}
CALL = {"type": "function_call", "id": "c1", "name": "f", "arguments": {}}
RESULT = {"type": "function_result", "call_id": "c1", "result": "ok"}


@pytest.mark.parametrize(
    ("value", "check"),
    [
        ("Hello?", lambda v: v == "Hello?"),
        (TEXT, lambda v: isinstance(v, it.TextContent)),
        ([TEXT, IMAGE], lambda v: [type(c) for c in v] == [it.TextContent, it.ImageContent]),
        (
            [USER, CALL, RESULT],
            lambda v: (
                [type(s) for s in v]
                == [it.UserInputStep, it.FunctionCallStep, it.FunctionResultStep]
            ),
        ),
    ],
    ids=["string", "content", "content-list", "step-list"],
)
@pytest.mark.parametrize("model", [it.CreateInteractionRequest, it.Interaction])
def test_input_shapes_parse_and_round_trip_unchanged(model: type, value: Any, check: Any) -> None:
    payload = {"model": "m", "input": copy.deepcopy(value)}
    parsed = model.model_validate(payload)
    assert check(parsed.input)
    assert parsed.to_wire()["input"] == value


def test_input_built_from_models_is_sent_as_given() -> None:
    request = it.CreateInteractionRequest(model="m", input=[it.TextContent(text="a")])
    assert request.to_wire() == {"model": "m", "input": [{"type": "text", "text": "a"}]}


@pytest.mark.parametrize(
    "value",
    [[TEXT, USER], [it.TextContent(text="a"), it.UserInputStep()]],
    ids=["dicts", "models"],
)
def test_input_mixing_steps_and_content_is_rejected(value: list[Any]) -> None:
    with pytest.raises(ValidationError, match="mixes steps and content"):
        it.CreateInteractionRequest(model="m", input=value)


def test_a_single_step_must_be_in_a_list() -> None:
    with pytest.raises(ValidationError, match=r"single step must be sent in a list"):
        it.CreateInteractionRequest(model="m", input=USER)


# --- normalize_input ---------------------------------------------------------------------------


def wire(steps: list[Any]) -> list[dict[str, Any]]:
    return [s.to_wire() for s in steps]


def test_string_becomes_one_user_turn() -> None:
    assert wire(it.normalize_input("hello")) == [
        {"type": "user_input", "content": [{"type": "text", "text": "hello"}]}
    ]


@pytest.mark.parametrize(
    "value",
    [IMAGE, it.ImageContent(uri="https://x/y.png", mime_type="image/png")],
    ids=["dict", "model"],
)
def test_single_content_becomes_one_user_turn(value: Any) -> None:
    assert wire(it.normalize_input(value)) == [{"type": "user_input", "content": [IMAGE]}]


def test_content_list_becomes_one_user_turn() -> None:
    assert wire(it.normalize_input([TEXT, IMAGE])) == [
        {"type": "user_input", "content": [TEXT, IMAGE]}
    ]


def test_step_list_is_kept_as_is() -> None:
    steps = [
        it.UserInputStep(content=[it.TextContent(text="q")]),
        it.FunctionCallStep(id="c", name="f", arguments={}),
    ]
    normalized = it.normalize_input(steps)
    assert [id(s) for s in normalized] == [id(s) for s in steps]
    assert wire(it.normalize_input([USER, CALL, RESULT])) == [USER, CALL, RESULT]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        # Unknown types follow the rest of the list; alone they are taken as steps.
        ([{"type": "robot_action"}], [{"type": "robot_action"}]),
        (
            [{"type": "hologram"}, TEXT],
            [{"type": "user_input", "content": [{"type": "hologram"}, TEXT]}],
        ),
        ([{"type": "hologram"}, USER], [{"type": "hologram"}, USER]),
        # A dict with ``role``/``content`` and no known type is a step, never a content block.
        ([{"role": "user", "content": [TEXT]}], [{"role": "user", "content": [TEXT]}]),
    ],
    ids=[
        "none",
        "empty",
        "unknown-alone",
        "unknown-with-content",
        "unknown-with-steps",
        "role-content-dict",
    ],
)
def test_normalize_edge_cases(value: Any, expected: list[dict[str, Any]]) -> None:
    assert wire(it.normalize_input(value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        [TEXT, CALL],
        [it.UserInputStep(), it.TextContent(text="a")],
        [{"type": "user_input"}, {"type": "image"}],
        [{"type": "turn", "content": [TEXT]}, TEXT],
    ],
    ids=["dicts", "models", "bare", "untyped-turn-and-content"],
)
def test_normalize_rejects_mixed_lists(value: list[Any]) -> None:
    with pytest.raises(ValueError, match="mixes steps and content blocks"):
        it.normalize_input(value)


def test_request_input_steps() -> None:
    request = it.CreateInteractionRequest(model="m", input=[TEXT])
    assert wire(request.input_steps()) == [{"type": "user_input", "content": [TEXT]}]
    assert request.to_wire()["input"] == [TEXT]  # the request itself is not rewritten
    assert it.CreateInteractionRequest(model="m").input_steps() == []
