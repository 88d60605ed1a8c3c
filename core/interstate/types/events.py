"""Server-sent events of a streamed interaction, and the step deltas they carry.

Each SSE ``data:`` line is one JSON event whose ``event_type`` picks the class; unknown event and
delta types parse into :class:`UnknownEvent` / :class:`UnknownDelta` instead of failing.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import TypeAdapter

from ._base import TypedModel, UnknownVariant, WireModel, open_union
from .content import Annotation, Content, MediaContent
from .interaction import ApiErrorDetail, InteractionSummary, Usage
from .steps import (
    CodeExecutionCallArguments,
    FileSearchResult,
    GoogleMapsResult,
    GoogleSearchResult,
    QueriesArguments,
    Step,
    ToolResult,
    URLContextCallArguments,
    URLContextResult,
)

__all__ = [
    "TextDelta",
    "TextAnnotationDelta",
    "ThoughtSummaryDelta",
    "ThoughtSignatureDelta",
    "ArgumentsDelta",
    "ImageDelta",
    "AudioDelta",
    "VideoDelta",
    "DocumentDelta",
    "ToolDeltaBase",
    "ToolResultDeltaBase",
    "FunctionResultDelta",
    "CodeExecutionCallDelta",
    "CodeExecutionResultDelta",
    "GoogleSearchCallDelta",
    "GoogleSearchResultDelta",
    "GoogleMapsCallDelta",
    "GoogleMapsResultDelta",
    "URLContextCallDelta",
    "URLContextResultDelta",
    "FileSearchCallDelta",
    "FileSearchResultDelta",
    "MCPServerToolCallDelta",
    "MCPServerToolResultDelta",
    "RetrievalCallDelta",
    "RetrievalResultDelta",
    "ProcessingCallDelta",
    "ProcessingResultDelta",
    "UnknownDelta",
    "Delta",
    "EventBase",
    "InteractionEventBase",
    "InteractionCreatedEvent",
    "InteractionCompletedEvent",
    "InteractionStatusUpdate",
    "StepStart",
    "StepDeltaMetadata",
    "StepDelta",
    "StepStop",
    "ErrorEvent",
    "UnknownEvent",
    "InteractionSSEEvent",
    "parse_event",
]


# --- deltas: content ---------------------------------------------------------------------------


class TextDelta(TypedModel):
    type: Literal["text"] = "text"
    text: str


class TextAnnotationDelta(TypedModel):
    type: Literal["text_annotation_delta"] = "text_annotation_delta"
    annotations: list[Annotation] | None = None


class ThoughtSummaryDelta(TypedModel):
    type: Literal["thought_summary"] = "thought_summary"
    content: Content | None = None


class ThoughtSignatureDelta(TypedModel):
    type: Literal["thought_signature"] = "thought_signature"
    signature: str | None = None


class ArgumentsDelta(TypedModel):
    """A fragment of the JSON text of a tool call's arguments (a string, not an object)."""

    type: Literal["arguments_delta"] = "arguments_delta"
    arguments: str | None = None


class ImageDelta(MediaContent):
    type: Literal["image"] = "image"
    resolution: str | None = None


class AudioDelta(MediaContent):
    type: Literal["audio"] = "audio"
    sample_rate: int | None = None
    channels: int | None = None
    #: Deprecated; use ``sample_rate``.
    rate: int | None = None


class VideoDelta(MediaContent):
    type: Literal["video"] = "video"
    resolution: str | None = None


class DocumentDelta(MediaContent):
    type: Literal["document"] = "document"


# --- deltas: tool calls and results ------------------------------------------------------------


class ToolDeltaBase(TypedModel):
    """A delta of a tool call or result step; ``signature`` is opaque and echoed back."""

    signature: str | None = None


class ToolResultDeltaBase(ToolDeltaBase):
    """A delta of a tool result step (``is_error`` as on :class:`ToolResultStepBase`)."""

    is_error: bool | None = None


class FunctionResultDelta(ToolResultDeltaBase):
    type: Literal["function_result"] = "function_result"
    result: ToolResult
    name: str | None = None


class CodeExecutionCallDelta(ToolDeltaBase):
    type: Literal["code_execution_call"] = "code_execution_call"
    arguments: CodeExecutionCallArguments


class CodeExecutionResultDelta(ToolResultDeltaBase):
    type: Literal["code_execution_result"] = "code_execution_result"
    result: str


class GoogleSearchCallDelta(ToolDeltaBase):
    type: Literal["google_search_call"] = "google_search_call"
    arguments: QueriesArguments


class GoogleSearchResultDelta(ToolResultDeltaBase):
    type: Literal["google_search_result"] = "google_search_result"
    result: list[GoogleSearchResult]


class GoogleMapsCallDelta(ToolDeltaBase):
    type: Literal["google_maps_call"] = "google_maps_call"
    arguments: QueriesArguments | None = None


class GoogleMapsResultDelta(ToolResultDeltaBase):
    type: Literal["google_maps_result"] = "google_maps_result"
    result: list[GoogleMapsResult] | None = None


class URLContextCallDelta(ToolDeltaBase):
    type: Literal["url_context_call"] = "url_context_call"
    arguments: URLContextCallArguments


class URLContextResultDelta(ToolResultDeltaBase):
    type: Literal["url_context_result"] = "url_context_result"
    result: list[URLContextResult]


class FileSearchCallDelta(ToolDeltaBase):
    type: Literal["file_search_call"] = "file_search_call"


class FileSearchResultDelta(ToolResultDeltaBase):
    type: Literal["file_search_result"] = "file_search_result"
    result: list[FileSearchResult]


class MCPServerToolCallDelta(ToolDeltaBase):
    type: Literal["mcp_server_tool_call"] = "mcp_server_tool_call"
    name: str
    server_name: str
    arguments: dict[str, Any]


class MCPServerToolResultDelta(ToolResultDeltaBase):
    type: Literal["mcp_server_tool_result"] = "mcp_server_tool_result"
    result: ToolResult
    name: str | None = None
    server_name: str | None = None


class RetrievalCallDelta(ToolDeltaBase):
    type: Literal["retrieval_call"] = "retrieval_call"
    arguments: QueriesArguments
    retrieval_type: str | None = None


class RetrievalResultDelta(ToolResultDeltaBase):
    type: Literal["retrieval_result"] = "retrieval_result"


class ProcessingCallDelta(ToolDeltaBase):
    type: Literal["processing_call"] = "processing_call"


class ProcessingResultDelta(ToolResultDeltaBase):
    type: Literal["processing_result"] = "processing_result"


class UnknownDelta(UnknownVariant):
    """A delta type this client does not know, kept as received."""


Delta = open_union(
    TextDelta,
    TextAnnotationDelta,
    ThoughtSummaryDelta,
    ThoughtSignatureDelta,
    ArgumentsDelta,
    ImageDelta,
    AudioDelta,
    VideoDelta,
    DocumentDelta,
    FunctionResultDelta,
    CodeExecutionCallDelta,
    CodeExecutionResultDelta,
    GoogleSearchCallDelta,
    GoogleSearchResultDelta,
    GoogleMapsCallDelta,
    GoogleMapsResultDelta,
    URLContextCallDelta,
    URLContextResultDelta,
    FileSearchCallDelta,
    FileSearchResultDelta,
    MCPServerToolCallDelta,
    MCPServerToolResultDelta,
    RetrievalCallDelta,
    RetrievalResultDelta,
    ProcessingCallDelta,
    ProcessingResultDelta,
    unknown=UnknownDelta,
)


# --- events ------------------------------------------------------------------------------------


class EventBase(WireModel):
    """Fields of every event. ``event_id`` is the resume token for ``last_event_id``."""

    __always_emit__ = ("event_type",)

    event_id: str | None = None


class InteractionEventBase(EventBase):
    """An event carrying the partial interaction (``steps`` is usually empty)."""

    interaction: InteractionSummary


class InteractionCreatedEvent(InteractionEventBase):
    """The first event of a stream (of each hop, when continued)."""

    event_type: Literal["interaction.created"] = "interaction.created"


class InteractionCompletedEvent(InteractionEventBase):
    """The last event of a hop, with the final status, usage and any continuation token."""

    event_type: Literal["interaction.completed"] = "interaction.completed"


class InteractionStatusUpdate(EventBase):
    """A status change; with ``continuation_token`` it is also a mid-stream checkpoint."""

    event_type: Literal["interaction.status_update"] = "interaction.status_update"
    interaction_id: str
    status: str
    continuation_token: str | None = None
    usage: Usage | None = None


class StepStart(EventBase):
    """Opens step ``index`` with a shell of the step (e.g. ``model_output`` with no content)."""

    event_type: Literal["step.start"] = "step.start"
    index: int
    step: Step


class StepDeltaMetadata(WireModel):
    total_usage: Usage | None = None


class StepDelta(EventBase):
    event_type: Literal["step.delta"] = "step.delta"
    index: int
    delta: Delta
    metadata: StepDeltaMetadata | None = None


class StepStop(EventBase):
    event_type: Literal["step.stop"] = "step.stop"
    index: int
    usage: Usage | None = None
    step_usage: Usage | None = None


class ErrorEvent(EventBase):
    """An error reported in the stream; the stream ends after it."""

    event_type: Literal["error"] = "error"
    error: ApiErrorDetail | None = None


class UnknownEvent(EventBase):
    """An event type this client does not know (or a payload without ``event_type``)."""

    event_type: str | None = None


InteractionSSEEvent = open_union(
    InteractionCreatedEvent,
    InteractionStatusUpdate,
    StepStart,
    StepDelta,
    StepStop,
    InteractionCompletedEvent,
    ErrorEvent,
    unknown=UnknownEvent,
    key="event_type",
)


@functools.cache
def _event_adapter() -> TypeAdapter[Any]:
    # Built on first use, like every model here (``defer_build``), to keep the import cheap.
    return TypeAdapter(InteractionSSEEvent)


def parse_event(data: dict[str, Any]) -> InteractionSSEEvent:
    """Parse the JSON of one SSE ``data:`` line into its event class."""
    return _event_adapter().validate_python(data)
