"""What a model provider is asked, what it answers, and how a model name finds its provider.

A provider turns a ``ModelTurn`` (the chain's history plus this turn's input and per-turn
configuration) into a stream of ``OpenStep`` / ``Delta`` / ``CloseStep`` items and a final
``Finish``. The runner turns those into SSE events and into the stored output steps, so every
provider streams, and non-streaming requests are the same stream, collected.
"""

from __future__ import annotations

import abc
import fnmatch
from dataclasses import dataclass
from typing import Any, AsyncIterator, Union

from interstate.redact import redact
from interstate.server.errors import ServiceError, invalid_argument


@dataclass
class ModelTurn:
    interaction_id: str
    model: str
    #: Every step of the chain before this turn (inputs and outputs), oldest first. The steps
    #: are shared with the runner's history cache (``server.history``): never modify them.
    history: list[dict[str, Any]]
    #: This turn's input steps.
    input: list[dict[str, Any]]
    system_instruction: str | None = None
    tools: list[dict[str, Any]] | None = None
    generation_config: dict[str, Any] | None = None
    response_format: Any = None
    #: Position of this turn in its chain (0 for a root).
    depth: int = 0
    #: What the provider stored for the parent turn (e.g. the upstream interaction id).
    parent_provider_state: dict[str, Any] | None = None
    #: ``len(json.dumps(history, separators=(",", ":")))`` when the runner knows it without
    #: encoding the history (``server.history``): a prompt-size hint; None if unknown.
    history_json_chars: int | None = None


@dataclass
class OpenStep:
    """Start a new output step; ``step`` is its opening shell (e.g. empty content)."""

    step: dict[str, Any]


@dataclass
class Delta:
    """A delta for the open step, in the wire's ``step.delta`` shape."""

    delta: dict[str, Any]


@dataclass
class CloseStep:
    pass


@dataclass
class Finish:
    """End of the turn. ``status`` None means: requires_action if it called functions, else
    completed."""

    status: str | None = None
    usage: dict[str, Any] | None = None
    provider_state: dict[str, Any] | None = None


ProviderItem = Union[OpenStep, Delta, CloseStep, Finish]


class ProviderError(ServiceError):
    """The provider refused or failed; mapped to the same HTTP status for the caller."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        code = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
        }.get(status, "UNAVAILABLE" if status in (502, 503, 504) else "INTERNAL")
        headers = {"retry-after": str(round(retry_after))} if retry_after is not None else None
        super().__init__(status, code, redact(message), headers=headers)  # no URL passwords
        self.retry_after = retry_after


class Provider(abc.ABC):
    name: str = "provider"

    @abc.abstractmethod
    def generate(self, turn: ModelTurn) -> AsyncIterator[ProviderItem]:
        """Stream the turn's output items; raise ``ProviderError`` on failure."""

    async def aclose(self) -> None:
        """Release network clients; providers without any keep this default."""
        return None


def step_items(step: dict[str, Any]) -> list[ProviderItem]:
    """The items that stream one complete step: its shell, its content as deltas, the close.

    Used by providers whose upstream returns whole steps, so that they stream like the rest.
    """
    kind = step.get("type")
    if kind == "model_output":
        # Content items and their deltas share one shape (text, image, audio, ...).
        deltas = [Delta(dict(content)) for content in step.get("content") or []]
        return [OpenStep({"type": "model_output", "content": []}), *deltas, CloseStep()]
    if kind == "thought":
        items = [OpenStep({"type": "thought"})]
        for content in step.get("summary") or []:
            items.append(Delta({"type": "thought_summary", "content": content}))
        if step.get("signature"):
            items.append(Delta({"type": "thought_signature", "signature": step["signature"]}))
        return [*items, CloseStep()]
    return [OpenStep(step), CloseStep()]


class ProviderRegistry:
    """Picks the provider for a model name: the first matching glob route, else the default."""

    def __init__(
        self, routes: list[tuple[str, Provider]] | None = None, default: Provider | None = None
    ) -> None:
        self.routes = list(routes or [])
        self.default = default

    def resolve(self, model: str) -> Provider:
        for pattern, provider in self.routes:
            if fnmatch.fnmatchcase(model, pattern):
                return provider
        if self.default is not None:
            return self.default
        known = ", ".join(pattern for pattern, _ in self.routes) or "none"
        raise invalid_argument(
            f"No model provider is configured for model {model!r} (routes: {known}). "
            "Start the server with --provider gemini (needs GEMINI_API_KEY), --provider openai "
            "--openai-base-url URL (Ollama, vLLM, llama.cpp), or --provider scripted for an "
            "offline scripted model; embedded clients read INTERSTATE_PROVIDER the same way. "
            "Model names starting with 'scripted' always use the scripted model."
        )

    async def aclose(self) -> None:
        seen: set[int] = set()
        for provider in [p for _, p in self.routes] + ([self.default] if self.default else []):
            if id(provider) not in seen:
                seen.add(id(provider))
                await provider.aclose()
