"""Rebuild complete steps from streamed ``step.start`` / ``step.delta`` / ``step.stop`` parts.

Works on wire dicts so the server (which stores the final steps of a streamed turn) and clients
(which rebuild an interaction from its events) share one definition of what a delta means.
"""

from __future__ import annotations

import copy
import json
from typing import Any

_MEDIA = frozenset({"image", "audio", "video", "document"})
#: interstate's event for a turn that starts over after its server stopped: the steps of the
#: events before it belong to an abandoned run.
TURN_RESTARTED = "interstate.turn_restarted"


class StepAccumulator:
    """Collects the steps of one interaction, in index order."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self._arguments: dict[int, str] = {}

    def start(self, index: int, step: dict[str, Any]) -> None:
        while len(self.steps) <= index:
            self.steps.append({})
        self.steps[index] = copy.deepcopy(step)

    def delta(self, index: int, delta: dict[str, Any]) -> None:
        step = self.steps[index]
        kind = delta.get("type")
        fields = {k: v for k, v in delta.items() if k != "type"}
        if kind == "text":
            content = step.setdefault("content", [])
            if content and content[-1].get("type") == "text" and not content[-1].get("annotations"):
                content[-1]["text"] = content[-1].get("text", "") + delta.get("text", "")
            else:
                content.append({"type": "text", **fields})
        elif kind in _MEDIA:
            step.setdefault("content", []).append(copy.deepcopy(delta))
        elif kind == "text_annotation_delta":
            content = step.setdefault("content", [])
            if not content or content[-1].get("type") != "text":
                content.append({"type": "text", "text": ""})
            content[-1].setdefault("annotations", []).extend(delta.get("annotations") or [])
        elif kind == "thought_summary":
            summary = step.setdefault("summary", [])
            part = delta.get("content") or {}
            if summary and part.get("type") == "text" and summary[-1].get("type") == "text":
                summary[-1]["text"] = summary[-1].get("text", "") + part.get("text", "")
            else:
                summary.append(copy.deepcopy(part))
        elif kind == "thought_signature":
            step["signature"] = delta.get("signature")
        elif kind == "arguments_delta":
            self._arguments[index] = self._arguments.get(index, "") + (delta.get("arguments") or "")
        else:
            # Tool call/result deltas carry the step's own fields (arguments, result, ...).
            step.update(copy.deepcopy(fields))

    def stop(self, index: int) -> None:
        text = self._arguments.pop(index, None)
        if text is not None:
            try:
                self.steps[index]["arguments"] = json.loads(text) if text.strip() else {}
            except json.JSONDecodeError:
                self.steps[index]["arguments"] = {"_raw": text}

    def apply_event(self, event: dict[str, Any]) -> None:
        """Feed one SSE event's data (other event types are ignored; ``TURN_RESTARTED``
        drops what was accumulated)."""
        kind = event.get("event_type")
        if kind == TURN_RESTARTED:
            self.steps, self._arguments = [], {}
        elif kind == "step.start":
            self.start(event["index"], event.get("step") or {})
        elif kind == "step.delta":
            self.delta(event["index"], event.get("delta") or {})
        elif kind == "step.stop":
            self.stop(event["index"])
