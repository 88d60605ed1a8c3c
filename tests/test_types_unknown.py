"""Forward compatibility: unknown union tags and unknown fields survive a round trip unchanged."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from interstate import types as it

UNKNOWN_STEP = {"type": "robot_action_call", "id": "r1", "arguments": {"joint": 3}}
UNKNOWN_CONTENT = {"type": "hologram", "uri": "files/h", "layers": [1, 2]}
UNKNOWN_ANNOTATION = {"type": "video_citation", "start_index": 0, "clip": {"t": "1s"}}
UNKNOWN_TOOL = {"type": "robot_arm", "dof": 6}
UNKNOWN_DELTA = {"type": "hologram_chunk", "data": "AAEC"}


def test_unknown_types_nested_in_an_interaction_round_trip() -> None:
    payload = {
        "id": "v1_x",
        "status": "completed",
        "tools": [{"type": "function", "name": "f"}, UNKNOWN_TOOL],
        "steps": [
            UNKNOWN_STEP,
            {
                "type": "model_output",
                "content": [
                    UNKNOWN_CONTENT,
                    {"type": "text", "text": "hi", "annotations": [UNKNOWN_ANNOTATION]},
                ],
            },
        ],
    }
    interaction = it.Interaction.model_validate(copy.deepcopy(payload))

    assert isinstance(interaction.tools[1], it.UnknownTool)
    assert isinstance(interaction.steps[0], it.UnknownStep)
    output = interaction.steps[1]
    assert isinstance(output, it.ModelOutputStep)
    assert isinstance(output.content[0], it.UnknownContent)
    assert isinstance(output.content[1].annotations[0], it.UnknownAnnotation)
    assert interaction.to_wire() == payload
    assert interaction.output_text == "hi"


@pytest.mark.parametrize(
    ("event", "delta_or_step_class"),
    [
        ({"event_type": "step.delta", "index": 0, "delta": UNKNOWN_DELTA}, it.UnknownDelta),
        ({"event_type": "step.start", "index": 0, "step": UNKNOWN_STEP}, it.UnknownStep),
    ],
    ids=["delta", "step"],
)
def test_unknown_payload_inside_a_known_event(
    event: dict[str, Any], delta_or_step_class: type
) -> None:
    parsed = it.parse_event(copy.deepcopy(event))
    inner = parsed.delta if isinstance(parsed, it.StepDelta) else parsed.step
    assert isinstance(inner, delta_or_step_class)
    assert parsed.to_wire() == event


@pytest.mark.parametrize(
    "event",
    [
        {"event_type": "interaction.paused", "interaction_id": "v1_x", "event_id": "e:3"},
        {"interaction_id": "v1_x", "status": "in_progress"},
    ],
    ids=["unknown-event_type", "missing-event_type"],
)
def test_unknown_or_untyped_event_is_kept(event: dict[str, Any]) -> None:
    parsed = it.parse_event(dict(event))
    assert type(parsed) is it.UnknownEvent
    assert parsed.to_wire() == event


@pytest.mark.parametrize(
    ("union", "payload", "expected"),
    [
        (it.Step, {"content": [{"type": "text", "text": "x"}], "role": "user"}, it.UnknownStep),
        (it.Content, {"text": "no type"}, it.UnknownContent),
        (it.ResponseFormat, {"mime_type": "application/json"}, it.UnknownResponseFormat),
        (it.EnvironmentConfig, {"type": "local", "path": "/tmp"}, it.UnknownEnvironment),
        (it.MediaProcessing, {"type": "dynamic", "fps": 2}, it.UnknownMediaProcessing),
    ],
    ids=[
        "step-without-type",
        "content-without-type",
        "response-format-dict",
        "environment",
        "processing",
    ],
)
def test_untagged_or_unknown_objects_fall_back(
    union: Any, payload: dict[str, Any], expected: type
) -> None:
    parsed = TypeAdapter(union).validate_python(dict(payload))
    assert type(parsed) is expected
    assert parsed.to_wire() == payload


def test_known_tag_with_invalid_payload_is_rejected() -> None:
    """Only unknown tags fall back; a broken known variant is an error, not an Unknown*."""
    with pytest.raises(ValidationError):
        TypeAdapter(it.Content).validate_python({"type": "text"})
    with pytest.raises(ValidationError):
        TypeAdapter(it.Step).validate_python({"type": "function_call", "name": "f"})


def test_unknown_fields_are_preserved_at_every_level() -> None:
    payload = {
        "id": "v1_x",
        "status": "completed",
        "new_top_level": {"a": [1, 2]},
        "generation_config": {
            "seed": 1,
            "new_knob": True,
            "tool_choice": {"allowed_tools": {"mode": "any", "x": 1}},
        },
        "steps": [
            {
                "type": "model_output",
                "new_step_field": "s",
                "content": [{"type": "image", "uri": "u", "new_content_field": 3}],
            }
        ],
        "usage": {
            "total_tokens": 1,
            "new_usage": 2,
            "input_tokens_by_modality": [{"modality": "text", "tokens": 1, "z": 0}],
        },
        "errors": [{"code": "x", "message": "m", "details": []}],
    }
    interaction = it.Interaction.model_validate(copy.deepcopy(payload))
    assert interaction.model_extra == {"new_top_level": {"a": [1, 2]}}
    assert interaction.steps[0].model_extra == {"new_step_field": "s"}
    assert interaction.to_wire() == payload


def test_extra_fields_on_events_and_error_bodies() -> None:
    event = {
        "event_type": "error",
        "error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED", "retry": 1},
        "metadata": {"k": 1},
    }
    assert it.parse_event(copy.deepcopy(event)).to_wire() == event
    body = {"error": {"code": "x", "message": "m", "help": "url"}, "trace": "t"}
    assert it.ErrorBody.model_validate(copy.deepcopy(body)).to_wire() == body


def test_unknown_variants_built_in_python_emit_their_fields() -> None:
    assert it.UnknownStep(type="robot", x=1).to_wire() == {"type": "robot", "x": 1}
    assert it.UnknownEvent(event_type="e.x", event_id="1", y=2).to_wire() == {
        "event_type": "e.x",
        "event_id": "1",
        "y": 2,
    }


def test_int64_accepts_numbers_and_sends_strings() -> None:
    """``max_total_tokens`` is a protobuf int64: the SDK sends it as a decimal string."""
    config = TypeAdapter(it.AgentConfig).validate_python(
        {"type": "antigravity", "max_total_tokens": 5}
    )
    assert config.max_total_tokens == 5
    assert config.to_wire() == {"type": "antigravity", "max_total_tokens": "5"}
    assert it.AntigravityAgentConfig(max_total_tokens="7").max_total_tokens == 7
