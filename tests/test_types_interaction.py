"""The Interaction resource: ``output_text`` and friends, statuses, errors, events, emission."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from google.genai import interactions as gi
from pydantic import ValidationError

from interstate import types as it


def text(*texts: str) -> dict[str, Any]:
    return {"type": "model_output", "content": [{"type": "text", "text": t} for t in texts]}


IMAGE = {"type": "image", "uri": "https://x/i.png"}
THOUGHT = {"type": "thought", "summary": [{"type": "text", "text": "not output"}]}
CALL = {"type": "function_call", "id": "c", "name": "f", "arguments": {}}
RESULT = {"type": "function_result", "call_id": "c", "result": "r"}


def user(t: str) -> dict[str, Any]:
    return {"type": "user_input", "content": [{"type": "text", "text": t}]}


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([CALL, RESULT, THOUGHT, text("A"), THOUGHT, text("B"), CALL], "AB"),
        (
            [
                {
                    "type": "model_output",
                    "content": [
                        {"type": "text", "text": "A"},
                        IMAGE,
                        {"type": "text", "text": "B"},
                    ],
                }
            ],
            "B",
        ),
        ([text("A"), {"type": "model_output", "content": [IMAGE]}, text("B")], "B"),
        ([text("old"), user("q"), text("new")], "new"),
        ([text("old"), user("q")], ""),
        ([text("old"), user("q"), CALL], ""),
        ([text("Hello ", "world")], "Hello world"),
        ([text("x"), RESULT, text("y")], "y"),
        ([], ""),
        ([{"type": "robot_step"}, text("z")], "z"),
    ],
    ids=[
        "sdk-example-fc-fr-thought-A-thought-B-fc",
        "image-between-texts-ends-run",
        "image-only-step-ends-run",
        "stops-at-latest-user-input",
        "nothing-after-user-input",
        "only-a-call-after-user-input",
        "texts-in-one-step",
        "tool-result-ends-run",
        "no-steps",
        "unknown-step-before",
    ],
)
def test_output_text(steps: list[dict[str, Any]], expected: str) -> None:
    payload = {"status": "completed", "steps": steps}
    assert it.Interaction.model_validate(payload).output_text == expected
    # The expectation is the SDK's own answer, not just ours.
    assert gi.Interaction.model_validate(payload).output_text == expected


def test_output_text_without_steps_and_never_serialised() -> None:
    interaction = it.Interaction(id="v1", status="completed")
    assert interaction.output_text == ""
    assert "output_text" not in interaction.to_wire()
    assert "output_text" not in interaction.model_dump()


def test_output_media_is_the_last_block_after_the_user_turn() -> None:
    audio = {"type": "audio", "data": "AAAA"}
    steps = [
        {"type": "model_output", "content": [IMAGE]},
        user("q"),
        {"type": "model_output", "content": [audio, {**IMAGE, "uri": "second"}]},
    ]
    interaction = it.Interaction.model_validate({"steps": steps})
    assert interaction.output_image.uri == "second"
    assert interaction.output_audio.to_wire() == audio
    assert interaction.output_video is None


def test_status_sets() -> None:
    s = it.InteractionStatus
    assert {"completed", "failed", "cancelled", "incomplete", "budget_exceeded"} == s.TERMINAL
    assert s.TERMINAL | {"requires_action", "requires_continuation"} == s.SETTLED
    assert s.QUEUED == "queued" and s.IN_PROGRESS == "in_progress"
    assert s.IN_PROGRESS not in s.SETTLED and s.QUEUED not in s.SETTLED


def test_interaction_status_is_optional_and_open() -> None:
    assert it.Interaction.model_validate({"id": "v1"}).status is None
    assert (
        it.Interaction.model_validate({"status": "paused_for_review"}).status == "paused_for_review"
    )


def test_partial_interaction_on_events_requires_id_and_status() -> None:
    with pytest.raises(ValidationError):
        it.parse_event({"event_type": "interaction.created", "interaction": {"id": "v1"}})
    event = it.parse_event(
        {"event_type": "interaction.created", "interaction": {"id": "v1", "status": "queued"}}
    )
    assert isinstance(event.interaction, it.InteractionSummary)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "INVALID_ARGUMENT", "message": "bad"}},
        {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}},
        {"error": {}},
    ],
    ids=["sdk-string-code", "google-integer-code", "empty"],
)
def test_error_body(body: dict[str, Any]) -> None:
    parsed = it.ErrorBody.model_validate(body)
    assert parsed.to_wire() == body
    assert parsed.error.code == body["error"].get("code")


def test_error_body_requires_error() -> None:
    with pytest.raises(ValidationError):
        it.ErrorBody.model_validate({"message": "no"})


def test_discriminators_are_always_emitted() -> None:
    assert it.TextContent(text="x").to_wire() == {"type": "text", "text": "x"}
    assert it.StepStop(index=2).to_wire() == {"event_type": "step.stop", "index": 2}
    assert it.FunctionTool(name="f").to_wire() == {"type": "function", "name": "f"}


def test_response_format_single_or_list() -> None:
    one = {
        "model": "m",
        "response_format": {
            "type": "text",
            "mime_type": "application/json",
            "schema": {"type": "object"},
        },
    }
    request = it.CreateInteractionRequest.model_validate(one)
    assert request.response_format.schema_ == {"type": "object"}
    assert request.to_wire() == one
    many = {
        "model": "m",
        "response_format": [{"type": "image"}, {"type": "audio", "mime_type": "audio/wav"}],
    }
    request = it.CreateInteractionRequest.model_validate(many)
    assert [type(f) for f in request.response_format] == [
        it.ImageResponseFormat,
        it.AudioResponseFormat,
    ]
    assert request.to_wire() == many


def test_environment_id_or_object() -> None:
    assert it.CreateInteractionRequest(agent="a", environment="env-1").environment == "env-1"
    request = it.CreateInteractionRequest.model_validate(
        {"agent": "a", "environment": {"type": "remote", "network": "disabled"}}
    )
    assert isinstance(request.environment, it.Environment)


def test_import_is_cheap() -> None:
    """``import interstate.types`` pulls in pydantic only: no HTTP stack, no SDK."""
    code = (
        "import sys, interstate.types\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(roots & {'httpx', 'google', 'starlette', 'anyio'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
