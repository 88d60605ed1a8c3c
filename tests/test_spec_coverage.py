"""docs/spec-coverage.md stays honest: every field and type of the pinned SDK's generated models
(google-genai 3.3.0, ``google.genai._gaos``) has exactly one row, no row names something the SDK
does not have, and every test a row names exists."""

from __future__ import annotations

import re
from pathlib import Path

import sdk_models as sdk

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "spec-coverage.md"
HANDLING = ("served", "stored and echoed", "mapped", "refused", "not produced")
#: HTTP statuses of the reference's error table (§7.2) and the ones this server also answers.
ERRORS = ("400", "401", "403", "404", "408", "409", "413", "415", "422", "429", "500", "503")


def required_rows() -> set[str]:
    """The row keys the SDK's models call for."""
    keys = {f"request.{info.alias or name}" for model in sdk.REQUEST_ROOTS
            for name, info in model.model_fields.items()}  # fmt: skip
    keys |= {f"generation_config.{name}" for name in sdk.sdk.GenerationConfig.model_fields}
    keys |= {f"resource.{name}" for name in sdk.sdk.Interaction.model_fields}
    unions = {
        "step": sdk.sdk.Step, "content": sdk.sdk.Content, "annotation": sdk.sdk.Annotation,
        "tool": sdk.sdk.Tool, "response_format": sdk.sdk.ResponseFormat,
        "agent_config": sdk.sdk.CreateAgentInteractionAgentConfig, "delta": sdk.sdk.StepDeltaData,
    }  # fmt: skip
    for prefix, union in unions.items():
        keys |= {f"{prefix}.{tag}" for tag in sdk.tags(union)}
    keys |= {f"event.{tag}" for tag in sdk.tags(sdk.sdk.InteractionSSEEvent, "event_type")}
    keys |= {f"status.{v}" for v in sdk.literals(sdk.sdk.Interaction.model_fields["status"].annotation)}
    keys |= {f"error.{code}" for code in ERRORS}
    return keys


#: Rows beyond the SDK's models: closed unions' "anything else", interstate's own input block.
EXTRA_ROWS = {"response_format.other", "tool.other", "step.other", "content.other",
              "annotation.other", "content.interstate_quote"}  # fmt: skip


def rows() -> dict[str, tuple[str, list[str]]]:
    """``key -> (handling, [test ids])`` of every table row of the document."""
    out: dict[str, tuple[str, list[str]]] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `([^`]+)` \| ([^|]+) \|.*\| ([^|]+) \|$", line)
        if match is None:
            continue
        key, handling, tests = match.groups()
        assert key not in out, f"two rows for {key}"
        out[key] = (handling.strip(), re.findall(r"`(tests/[^`]+)`", tests))
    return out


def test_every_sdk_field_and_type_has_one_row_and_no_row_is_stale() -> None:
    documented = set(rows())
    assert sorted(required_rows() - documented) == [], "add these rows to docs/spec-coverage.md"
    assert sorted(documented - required_rows() - EXTRA_ROWS) == [], "rows the SDK has no field for"


def test_every_row_says_what_happens_and_names_tests_that_exist() -> None:
    for key, (handling, tests) in rows().items():
        assert handling in HANDLING, (key, handling)
        assert tests, f"{key}: name the test that shows it"
        for test in tests:
            path, _, name = test.partition("::")
            source = ROOT / path
            assert source.is_file(), f"{key}: {path} does not exist"
            pattern = rf"^(async )?def {re.escape(name)}\("
            assert re.search(pattern, source.read_text(encoding="utf-8"), re.M), f"{key}: {test} does not exist"


def test_the_readme_links_the_table() -> None:
    assert "docs/spec-coverage.md" in (ROOT / "README.md").read_text(encoding="utf-8")
