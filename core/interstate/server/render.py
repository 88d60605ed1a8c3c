"""Records as the wire shows them: Interaction dicts and SSE event payloads."""

from __future__ import annotations

import time
from typing import Any

from interstate.server.errors import invalid_argument
from interstate.server.inputs import clip
from interstate.server.providers.base import CloseStep, Delta, OpenStep, step_items
from interstate.server.store.base import InteractionRecord

#: Request fields echoed back on the Interaction resource (§4.1 of the wire reference).
ECHOED_CONFIG = (
    "agent_config",
    "system_instruction",
    "tools",
    "generation_config",
    "response_format",
    "safety_settings",
    "service_tier",
    "webhook_config",
    "environment",
    "cached_content",  # deprecated; echoed as §4.1 says, never used (history is server-side)
)

TERMINAL_EVENTS = frozenset({"interaction.completed", "error"})


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def interaction_summary(record: InteractionRecord) -> dict[str, Any]:
    """The partial interaction carried by ``interaction.created`` / ``.completed`` events."""
    out: dict[str, Any] = {"id": record.id, "status": record.status, "object": "interaction"}
    out["model" if record.model else "agent"] = record.model or record.agent
    out["created"], out["updated"] = iso(record.created), iso(record.updated)
    if record.usage:
        out["usage"] = record.usage
    return out


def interaction_body(
    record: InteractionRecord, *, include_input: bool = False, timeline: bool = False
) -> dict[str, Any]:
    """The Interaction resource for create/get/cancel responses.

    ``timeline``: ``steps`` is the turn's whole timeline, its own input steps (the leading
    ``user_input``) then what the model did, as the stored resource is on ``GET`` (wire reference
    §4.3); without it, only the model's steps, as ``create`` (and cancel) answer. The input is
    this turn's only, never the chain's; the stored rows are the same either way."""
    out = interaction_summary(record)
    if record.parent_id:
        out["previous_interaction_id"] = record.parent_id
    for key in ECHOED_CONFIG:
        if record.config.get(key) is not None:
            out[key] = record.config[key]
    if record.labels:
        out["labels"] = record.labels
    out["steps"] = [*record.input, *record.steps] if timeline else record.steps
    if record.errors:
        out["errors"] = record.errors
    if include_input:
        out["input"] = record.input
    return out


def event_id(interaction_id: str, seq: int) -> str:
    return f"{interaction_id}:{seq}"


def parse_event_id(interaction_id: str, value: str | None) -> int:
    """The sequence number in an event id of this interaction (0 = from the start)."""
    if not value:
        return 0
    prefix, _, seq = value.rpartition(":")
    # isdigit() alone takes "²", which int() refuses; 18 digits stay below 2**63, the stores'
    # sequence numbers (``openapi_params.EVENT_ID``).
    digits = seq.isascii() and seq.isdigit() and len(seq) <= 18
    if prefix != interaction_id or not digits:
        raise invalid_argument(
            f"last_event_id {clip(value)} is not an event id of interaction {interaction_id}; "
            "pass the event_id of an event received from this interaction's stream"
        )
    return int(seq)


def closing_events(record: InteractionRecord) -> list[dict[str, Any]]:
    """The events that end a stream for a settled record."""
    update = {
        "event_type": "interaction.status_update",
        "interaction_id": record.id,
        "status": record.status,
    }
    if record.status == "failed":
        error = (record.errors or [{"code": "INTERNAL", "message": "the interaction failed"}])[-1]
        return [update, {"event_type": "error", "error": error}]
    return [update, {"event_type": "interaction.completed", "interaction": interaction_summary(record)}]


def synthesized_events(record: InteractionRecord) -> list[dict[str, Any]]:
    """A full event stream for a settled record that has none stored (e.g. a recorded turn)."""
    events: list[dict[str, Any]] = [
        {"event_type": "interaction.created", "interaction": interaction_summary(record)}
    ]
    for index, step in enumerate(record.steps):
        for item in step_items(step):
            if isinstance(item, OpenStep):
                events.append({"event_type": "step.start", "index": index, "step": item.step})
            elif isinstance(item, Delta):
                events.append({"event_type": "step.delta", "index": index, "delta": item.delta})
            elif isinstance(item, CloseStep):
                events.append({"event_type": "step.stop", "index": index})
    return events + closing_events(record)
