"""Label rules and the create-request checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from interstate import types as it

# --- validate_labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"team": "core", "env": ""},
        {"a1_b-2": "x_9-z"},
        {"équipe": "données", "straße": "ß"},
        {"チーム": "開発", "команда": "ядро"},
        {"k" * 63: "v" * 63},
        {"é" * 63: "é" * 63},
        {f"k{i}": str(i) for i in range(64)},
    ],
    ids=[
        "empty",
        "plain-and-empty-value",
        "digits-underscore-dash",
        "accented-lowercase",
        "caseless-scripts-and-cyrillic",
        "63-code-points",
        "63-multibyte-code-points",
        "64-labels",
    ],
)
def test_valid_labels(labels: dict[str, str]) -> None:
    it.validate_labels(labels)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"k" * 64: "v"}, "at most 63"),
        ({"k": "v" * 64}, "at most 63"),
        ({"é" * 64: "v"}, "at most 63"),
        ({f"k{i}": "" for i in range(65)}, "too many labels"),
        ({"Team": "x"}, "contains 'T'"),
        ({"team": "Core"}, "contains 'C'"),
        ({"équipe": "Données"}, "contains 'D'"),
        ({"1team": "x"}, "must start with a lowercase letter"),
        ({"_team": "x"}, "must start with a lowercase letter"),
        ({"": "x"}, "must start with a lowercase letter"),
        ({"my team": "x"}, "contains ' '"),
        ({"team": "a.b"}, "contains '.'"),
        ({"team": 1}, "must be a string"),
    ],
    ids=[
        "key-64",
        "value-64",
        "multibyte-key-64",
        "65-labels",
        "uppercase-key",
        "uppercase-value",
        "uppercase-international-value",
        "leading-digit",
        "leading-underscore",
        "empty-key",
        "space",
        "dot",
        "non-string-value",
    ],
)
def test_invalid_labels(labels: dict[Any, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        it.validate_labels(labels)


# --- CreateInteractionRequest ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m", "agent": "a"}, r"pass model=\.\.\. or agent=\.\.\., not both"),
        ({"input": "hi"}, r"pass model=\.\.\. or agent=\.\.\.; neither was given"),
        ({"model": "m", "agent_config": {"type": "dynamic"}}, "agent_config is only for agent"),
        ({"agent": "a", "generation_config": {"seed": 1}}, "generation_config is only for model"),
        ({"agent": "a", "cached_content": "cachedContents/x"}, "cached_content is only for model"),
        ({"model": "m", "labels": {"Bad": "x"}}, "contains 'B'"),
    ],
    ids=[
        "both",
        "neither",
        "agent_config-with-model",
        "generation_config-with-agent",
        "cached_content-with-agent",
        "labels",
    ],
)
def test_create_request_rules(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        it.CreateInteractionRequest.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m"},
        {
            "model": "m",
            "generation_config": {"seed": 1},
            "cached_content": "c",
            "labels": {"a": ""},
        },
        {
            "agent": "deep-research-preview-04-2026",
            "agent_config": {"type": "deep-research"},
            "background": True,
        },
    ],
    ids=["minimal-model", "model-options", "agent"],
)
def test_valid_create_requests(body: dict[str, Any]) -> None:
    assert it.CreateInteractionRequest.model_validate(body).to_wire() == body


def test_check_catches_changes_made_after_validation() -> None:
    request = it.CreateInteractionRequest(model="m")
    request.agent = "a"  # assignment is not validated; check() is the explicit gate
    with pytest.raises(ValueError, match="not both"):
        request.check()


def test_create_request_keeps_model_first_and_unset_fields_out() -> None:
    request = it.CreateInteractionRequest(model="m", input="x", stream=False)
    assert list(request.to_wire()) == ["model", "input", "stream"]
