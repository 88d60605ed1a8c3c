"""Small helpers shared by the CrewAI tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from interstate.client import Client


@dataclass(frozen=True)
class Sent:
    """One request the client sent: its path, JSON body and headers."""

    path: str
    body: dict[str, Any]
    headers: httpx.Headers


def sent_requests(client: Client, suffixes: tuple[str, ...] = ("/interactions",)) -> list[Sent]:
    """Capture every POST the client sends from now on to a path ending with one of
    ``suffixes`` (default: creates)."""
    sent: list[Sent] = []

    def hook(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith(suffixes):
            sent.append(Sent(request.url.path, json.loads(request.read() or b"{}"), request.headers))

    client._http.event_hooks["request"].append(hook)
    return sent


class GoogleLike(Client):
    """A client of a test server that behaves as one of Google's endpoint: no extensions."""

    supports_extensions = property(lambda self: False)  # type: ignore[assignment]


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


def is_config_root(client: Client, interaction_id: str | None) -> bool:
    """Whether ``interaction_id`` is a configuration root: the empty recorded turn a new chain
    starts under, carrying the system prompt and tools it inherits."""
    if interaction_id is None:
        return False
    root = client.interstate.get(interaction_id)
    return (root.labels.get("interstate-kind") == "crewai-config" and not root.input
            and not root.steps and root.previous_interaction_id is None)  # fmt: skip
