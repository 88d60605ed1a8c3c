"""What one model call is: who makes it, its request options, what it sent (``CallRecord``).

Split from ``client.py``, which turns these into requests and chains them.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from autogen_core.models import LLMMessage, ModelFamily, ModelInfo
from autogen_core.tools import Tool, ToolSchema
from interstate import errors
from interstate.types import Interaction
from pydantic import BaseModel

from . import _convert as cv

__all__ = [
    "ONE_OFF_ARG",
    "RUN_OBSERVER",
    "CallRecord",
    "InteractionFailedError",
    "RunObserver",
    "caller",
    "default_info",
    "request_options",
]

_GENERATION_KEYS = {"max_output_tokens", "seed", "stop_sequences", "temperature", "top_p",
                    "thinking_level", "thinking_summaries"}  # fmt: skip
_ALIASES = {"max_tokens": "max_output_tokens", "stop": "stop_sequences"}
#: ``extra_create_args`` key that marks a call as a one-off prompt (or, False, as a chained one).
ONE_OFF_ARG = "interstate_one_off"


class InteractionFailedError(errors.InteractionFailedError, RuntimeError):
    """The interaction ended ``failed`` / ``cancelled`` (the model call did not succeed): the
    core :class:`interstate.errors.InteractionFailedError`, also a ``RuntimeError`` as before,
    with the ``interaction`` as last seen."""

    def __init__(self, interaction: Interaction, message: str | None = None) -> None:
        base = errors.InteractionFailedError.of(interaction)
        super().__init__(message or base.detail, code=base.code,
                         interaction_id=interaction.id, status=interaction.status)  # fmt: skip
        self.interaction = interaction


class RunObserver(Protocol):
    """Told about agent model calls during ``TeamStateStore.run`` (checkpoints)."""

    async def before_call(self, agent: str | None) -> None: ...

    def after_call(self, agent: str | None, ok: bool) -> None: ...


#: Set by ``TeamStateStore.run``; agent calls (not one-offs) report to it.
RUN_OBSERVER: ContextVar[RunObserver | None] = ContextVar("interstate_autogen_run", default=None)


@dataclass
class CallRecord:
    """What one call sent (kept in ``client.calls``; handy for tests and benchmarks)."""

    n_messages: int
    n_sent: int
    previous_interaction_id: str | None
    interaction_id: str | None
    stored: bool
    agent: str | None
    #: Interactions whose output text went as a quote instead of text (one per quote).
    quoted: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """One attempt at a call: the request and what ``_finish`` needs to tag its result."""

    params: dict[str, Any]
    body: list[LLMMessage]
    hashes: list[str]
    matched: int
    one_off: bool
    agent: str | None
    config: str
    record: CallRecord


def caller() -> tuple[bool, str | None]:
    """``(one_off, agent_name)`` from the frames that led to this call."""
    try:
        from autogen_agentchat.agents import BaseChatAgent, SocietyOfMindAgent
        from autogen_agentchat.teams._group_chat._base_group_chat_manager import (
            BaseGroupChatManager,
        )
    except ImportError:  # pragma: no cover - agentchat is part of the autogen extra
        return False, None
    frame = sys._getframe(2)
    for _ in range(60):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, (BaseGroupChatManager, SocietyOfMindAgent)):
            return True, None
        if isinstance(owner, BaseChatAgent):
            return False, owner.name
        frame = frame.f_back
    return False, None


def default_info(model: str) -> ModelInfo:
    families = {v for k, v in vars(ModelFamily).items() if k.isupper() and isinstance(v, str)}
    family = model if model in families else ModelFamily.UNKNOWN
    return ModelInfo(vision=True, function_calling=True, json_output=True, family=family,
                     structured_output=True, multiple_system_messages=True)  # fmt: skip


def request_options(
    generation_config: Mapping[str, Any],
    labels: Mapping[str, str] | None,
    tools: Sequence[Tool | ToolSchema],
    tool_choice: Any,
    json_output: bool | type[BaseModel] | None,
    extra_create_args: Mapping[str, Any],
) -> dict[str, Any]:
    """The per-turn request fields (everything but model, input and chaining)."""
    generation = dict(generation_config)
    for key, value in extra_create_args.items():
        if key == ONE_OFF_ARG:
            continue
        name = _ALIASES.get(key, key)
        if name not in _GENERATION_KEYS:
            raise ValueError(
                f"Unsupported create argument {key!r}; use one of "
                f"{sorted(_GENERATION_KEYS | set(_ALIASES) | {ONE_OFF_ARG})}"
            )
        generation[name] = list(value) if name == "stop_sequences" else value
    if tools:
        choice = cv.tool_choice_to_wire(tool_choice)
        if choice is not None:
            generation["tool_choice"] = choice
    return {
        "tools": cv.tools_to_wire(tools) or None,
        "generation_config": generation or None,
        "response_format": cv.response_format(json_output),
        "labels": dict(labels) if labels else None,
    }
