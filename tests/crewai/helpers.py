"""Small helpers shared by the CrewAI tests."""

from __future__ import annotations

import json
from typing import Any

import httpx

from interstate.client import Client


def record_bodies(client: Client) -> list[dict[str, Any]]:
    """Capture the JSON body of every create request the client sends from now on."""
    bodies: list[dict[str, Any]] = []

    def hook(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/interactions"):
            bodies.append(json.loads(request.read() or b"{}"))

    client._http.event_hooks["request"].append(hook)
    return bodies


def input_text(interaction: Any) -> str:
    parts = []
    for step in interaction.input or []:
        for block in getattr(step, "content", None) or []:
            parts.append(getattr(block, "text", "") or "")
        if getattr(step, "type", None) == "function_result":
            parts.append(str(step.result))
    return "\n".join(parts)


def llm(handle: Any, model: str, **options: Any) -> Any:
    """An InteractionsLLM labelled with this test's run (the HTTP server is shared)."""
    return handle.llm(model, labels={"test-run": handle.storage.store}, **options)


def llm_turns(handle: Any) -> list[Any]:
    """Every InteractionsLLM turn of this test's run, oldest first, with inputs."""
    labels = {"interstate-kind": "crewai-llm", "test-run": handle.storage.store}
    return list(handle.client.interstate.iter(labels=labels, order="asc", include_input=True))
