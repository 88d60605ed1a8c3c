"""The Interaction resource, its usage and error models, and the create request."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from ._base import WireModel
from .agents import AgentConfig, EnvironmentConfig
from .config import GenerationConfig, ResponseFormat, SafetySetting, WebhookConfig
from .content import AudioContent, ImageContent, TextContent, VideoContent
from .inputs import InteractionInput, normalize_input
from .steps import ModelOutputStep, Step, ThoughtStep, UserInputStep
from .tools import Tool

__all__ = [
    "InteractionStatus",
    "ModalityTokens",
    "GroundingToolCount",
    "Usage",
    "ApiErrorDetail",
    "Error",
    "ErrorBody",
    "InteractionFields",
    "InteractionOutput",
    "InteractionSummary",
    "Interaction",
    "CreateInteractionRequest",
    "validate_labels",
    "MAX_LABELS",
    "MAX_LABEL_LENGTH",
]


class InteractionStatus:
    """The values of ``Interaction.status`` (an open enum: other strings may appear)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INCOMPLETE = "incomplete"
    BUDGET_EXCEEDED = "budget_exceeded"
    REQUIRES_CONTINUATION = "requires_continuation"

    #: Finished for good: nothing more will happen to the interaction.
    TERMINAL: frozenset[str] = frozenset(
        {COMPLETED, FAILED, CANCELLED, INCOMPLETE, BUDGET_EXCEEDED}
    )
    #: The server has stopped working on it: terminal, or waiting for the client to act.
    SETTLED: frozenset[str] = TERMINAL | {REQUIRES_ACTION, REQUIRES_CONTINUATION}


# --- usage and errors --------------------------------------------------------------------------


class ModalityTokens(WireModel):
    #: ``text``, ``image``, ``audio``, ``video`` or ``document``.
    modality: str | None = None
    tokens: int | None = None


class GroundingToolCount(WireModel):
    #: ``google_search``, ``google_maps`` or ``retrieval`` (a plain field, not a union tag).
    type: str | None = None
    count: int | None = None


class Usage(WireModel):
    total_input_tokens: int | None = None
    total_output_tokens: int | None = None
    total_thought_tokens: int | None = None
    total_cached_tokens: int | None = None
    total_tool_use_tokens: int | None = None
    total_tokens: int | None = None
    #: Input tokens of the first hop of a continued interaction.
    initial_input_tokens: int | None = None
    input_tokens_by_modality: list[ModalityTokens] | None = None
    output_tokens_by_modality: list[ModalityTokens] | None = None
    cached_tokens_by_modality: list[ModalityTokens] | None = None
    tool_use_tokens_by_modality: list[ModalityTokens] | None = None
    grounding_tool_count: list[GroundingToolCount] | None = None


class ApiErrorDetail(WireModel):
    """An error: in ``Interaction.errors``, the SSE ``error`` event, and HTTP error bodies.

    The SDK schema has a string ``code``; Google's own bodies carry an integer ``code`` and a
    ``status`` such as ``"INVALID_ARGUMENT"``. Both are accepted and kept as sent.
    """

    code: str | int | None = None
    message: str | None = None
    status: str | None = None


#: The SDK's name for :class:`ApiErrorDetail`.
Error = ApiErrorDetail


class ErrorBody(WireModel):
    """The body of a 4xx/5xx response: ``{"error": {"code": ..., "message": ...}}``."""

    error: ApiErrorDetail


# --- the resource ------------------------------------------------------------------------------


class InteractionFields(WireModel):
    """The configuration a create request sends and the Interaction resource echoes back."""

    model: str | None = None
    agent: str | None = None
    agent_config: AgentConfig | None = None
    input: InteractionInput | None = None
    system_instruction: str | None = None
    tools: list[Tool] | None = None
    generation_config: GenerationConfig | None = None
    response_format: ResponseFormat | list[ResponseFormat] | None = None
    previous_interaction_id: str | None = None
    labels: dict[str, str] | None = None
    safety_settings: list[SafetySetting] | None = None
    #: ``flex``, ``standard``, ``priority`` or ``deferred``.
    service_tier: str | None = None
    webhook_config: WebhookConfig | None = None
    #: An environment id, or an environment object.
    environment: str | EnvironmentConfig | None = None
    #: Deprecated; model interactions only.
    cached_content: str | None = None
    #: Deprecated; use ``response_format``.
    response_mime_type: str | None = None
    #: Deprecated; use ``response_format``.
    response_modalities: list[str] | None = None


class InteractionOutput(WireModel):
    """Identity, status and output timeline, shared by the resource and the partial interaction
    carried by SSE events; plus the output helpers the SDK computes client-side (§4.3)."""

    id: str | None = None
    status: str | None = None
    #: ``"interaction"`` in real payloads.
    object: str | None = None
    created: str | None = None
    updated: str | None = None
    steps: list[Step] | None = None
    usage: Usage | None = None
    continuation_token: str | None = None

    def _output_steps(self) -> list[Any]:
        """The steps after the latest ``user_input``, newest first."""
        recent = []
        for step in reversed(self.steps or []):
            if isinstance(step, UserInputStep):
                break
            recent.append(step)
        return recent

    @property
    def output_text(self) -> str:
        """The trailing run of text in the model's latest output, as the SDK computes it.

        Walks the steps backwards, stopping at the latest ``user_input`` and skipping thoughts,
        and collects the run of ``text`` blocks of ``model_output`` steps that ends the
        interaction; any other block, or any other step once text was found, ends the run.
        ``""`` when there is none.
        """
        parts: list[str] = []
        for step in self._output_steps():
            if isinstance(step, ThoughtStep):
                continue
            if not isinstance(step, ModelOutputStep):
                if parts:
                    break
                continue
            for item in reversed(step.content or []):
                if isinstance(item, TextContent):
                    parts.append(item.text)
                elif parts:
                    return "".join(reversed(parts))
        return "".join(reversed(parts))

    def _last_output(self, kind: type[Any]) -> Any:
        for step in self._output_steps():
            if isinstance(step, ModelOutputStep):
                for item in reversed(step.content or []):
                    if isinstance(item, kind):
                        return item
        return None

    @property
    def output_image(self) -> ImageContent | None:
        """The last image block the model produced after the latest ``user_input``."""
        return self._last_output(ImageContent)

    @property
    def output_audio(self) -> AudioContent | None:
        """The last audio block the model produced after the latest ``user_input``."""
        return self._last_output(AudioContent)

    @property
    def output_video(self) -> VideoContent | None:
        """The last video block the model produced after the latest ``user_input``."""
        return self._last_output(VideoContent)


class InteractionSummary(InteractionOutput):
    """The partial interaction on ``interaction.created`` / ``interaction.completed`` events."""

    id: str
    status: str
    model: str | None = None
    agent: str | None = None
    service_tier: str | None = None


class Interaction(InteractionFields, InteractionOutput):
    """The Interaction resource returned by create, get and cancel.

    ``input`` is present when the resource was fetched with ``include_input=true``.
    """

    #: Set when an environment was used.
    environment_id: str | None = None
    #: Diagnostic or platform faults recorded on the interaction.
    errors: list[ApiErrorDetail] | None = None


# --- the create request ------------------------------------------------------------------------

MAX_LABELS = 64
MAX_LABEL_LENGTH = 63


def _is_label_letter(ch: str) -> bool:
    """A lowercase letter of any script (``"é"``, ``"я"``), or a letter of a script without case
    (``"開"``, ``"ー"``); ``str.isalpha`` rather than ASCII ranges, as international letters are
    allowed."""
    return ch.isalpha() and ch == ch.lower()


def _label_char_ok(ch: str) -> bool:
    return _is_label_letter(ch) or ch.isnumeric() or ch in "_-"


def _quoted(text: object) -> str:
    """``repr(text)`` cut to ~100 characters: error messages must not echo a huge value."""
    out = repr(text)
    return out if len(out) <= 100 else out[:100] + "..."


def validate_labels(labels: dict[str, str]) -> None:
    """Check ``labels`` against the documented rules; raise ``ValueError`` saying what is wrong.

    At most 64 labels. Keys and values are at most 63 Unicode code points of lowercase letters
    (of any script; letters of scripts without case count as lowercase), digits, ``_`` and
    ``-``. Keys start with such a letter; values may be empty.
    """
    if len(labels) > MAX_LABELS:
        raise ValueError(f"too many labels: {len(labels)} (at most {MAX_LABELS})")
    for key, value in labels.items():
        for what, text in (("key", key), ("value", value)):
            if not isinstance(text, str):
                raise ValueError(f"label {what} {_quoted(text)} must be a string")
            if len(text) > MAX_LABEL_LENGTH:
                raise ValueError(
                    f"label {what} {_quoted(text)} is {len(text)} characters long "
                    f"(at most {MAX_LABEL_LENGTH})"
                )
            bad = [ch for ch in text if not _label_char_ok(ch)]
            if bad:
                raise ValueError(
                    f"label {what} {_quoted(text)} contains {bad[0]!r}; only lowercase letters, "
                    "digits, '_' and '-' are allowed"
                )
        if not key or not _is_label_letter(key[0]):
            raise ValueError(f"label key {_quoted(key)} must start with a lowercase letter")


class CreateInteractionRequest(InteractionFields):
    """The body of ``POST /{version}/interactions``.

    Every field is optional in the model; validation enforces the rules the SDK checks before
    sending: exactly one of ``model`` / ``agent``, no ``agent_config`` with ``model``, no
    ``generation_config`` or ``cached_content`` with an agent, and valid ``labels``.
    """

    store: bool | None = None
    background: bool | None = None
    stream: bool | None = None
    continuation_token: str | None = None

    @model_validator(mode="after")
    def _check(self) -> CreateInteractionRequest:
        self.check()
        return self

    def check(self) -> None:
        """Raise ``ValueError`` if the request breaks a rule listed in the class docstring."""
        if self.model is not None and self.agent is not None:
            raise ValueError("pass model=... or agent=..., not both")
        if self.model is None and self.agent is None:
            raise ValueError("pass model=... or agent=...; neither was given")
        if self.model is not None and self.agent_config is not None:
            raise ValueError("agent_config is only for agent=...; drop it or pass agent=...")
        if self.agent is not None:
            for name in ("generation_config", "cached_content"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is only for model=..., not agent=...")
        if self.labels is not None:
            validate_labels(self.labels)

    def input_steps(self) -> list[Step]:
        """``input`` as a list of steps (see :func:`normalize_input`)."""
        return normalize_input(self.input)
