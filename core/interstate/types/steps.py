"""Steps: the timeline of an interaction (``user_input``, ``model_output``, ``thought``, function
calls and results, and the call/result pairs of server-side tools).

The payload models of tool calls and results (``*Arguments``, ``*Result``) are shared with the
streaming deltas in :mod:`interstate.types.events`.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from ._base import TypedModel, UnknownVariant, WireModel, open_union, variant_tags
from .content import Content, Place

__all__ = [
    "Status",
    "ToolResult",
    "CodeExecutionCallArguments",
    "QueriesArguments",
    "GoogleSearchCallArguments",
    "GoogleMapsCallArguments",
    "RetrievalCallArguments",
    "URLContextCallArguments",
    "GoogleSearchResult",
    "GoogleMapsResult",
    "URLContextResult",
    "FileSearchResult",
    "UserInputStep",
    "ModelOutputStep",
    "ThoughtStep",
    "ToolCallStepBase",
    "ToolResultStepBase",
    "FunctionCallStep",
    "FunctionResultStep",
    "CodeExecutionCallStep",
    "CodeExecutionResultStep",
    "GoogleSearchCallStep",
    "GoogleSearchResultStep",
    "GoogleMapsCallStep",
    "GoogleMapsResultStep",
    "URLContextCallStep",
    "URLContextResultStep",
    "FileSearchCallStep",
    "FileSearchResultStep",
    "MCPServerToolCallStep",
    "MCPServerToolResultStep",
    "RetrievalCallStep",
    "RetrievalResultStep",
    "ProcessingCallStep",
    "ProcessingResultStep",
    "UnknownStep",
    "Step",
    "STEP_TYPES",
]


class Status(WireModel):
    """A gRPC-style status (``model_output.error``): integer ``code``, ``message``, ``details``."""

    code: int | None = None
    message: str | None = None
    details: list[dict[str, Any]] | None = None


#: The result of a function or MCP tool call: a JSON object, a string, or a list of content.
ToolResult = Union[dict[str, Any], list[Content], str]


# --- tool call arguments and results -----------------------------------------------------------


class CodeExecutionCallArguments(WireModel):
    code: str | None = None
    #: ``python`` or ``bash``.
    language: str | None = None


class QueriesArguments(WireModel):
    """Arguments of the search-like tools (Google Search, Google Maps, retrieval)."""

    queries: list[str] | None = None


GoogleSearchCallArguments = QueriesArguments
GoogleMapsCallArguments = QueriesArguments
RetrievalCallArguments = QueriesArguments


class URLContextCallArguments(WireModel):
    urls: list[str] | None = None


class GoogleSearchResult(WireModel):
    search_suggestions: str | None = None


class GoogleMapsResult(WireModel):
    places: list[Place] | None = None
    widget_context_token: str | None = None


class URLContextResult(WireModel):
    url: str | None = None
    #: ``success``, ``error``, ``paywall`` or ``unsafe``.
    status: str | None = None


class FileSearchResult(WireModel):
    """A file search hit; the schema declares no fields, so everything is kept as extras."""


# --- conversational steps ----------------------------------------------------------------------


class UserInputStep(TypedModel):
    type: Literal["user_input"] = "user_input"
    content: list[Content] | None = None


class ModelOutputStep(TypedModel):
    type: Literal["model_output"] = "model_output"
    content: list[Content] | None = None
    error: Status | None = None


class ThoughtStep(TypedModel):
    """Model reasoning: an opaque base64 ``signature`` to echo back, and an optional summary.

    The schema restricts ``summary`` to text and image blocks; any content type is accepted here.
    """

    type: Literal["thought"] = "thought"
    signature: str | None = None
    summary: list[Content] | None = None


# --- tool calls and results --------------------------------------------------------------------


class ToolCallStepBase(TypedModel):
    """A call the model made; ``id`` is echoed by the matching result's ``call_id``."""

    id: str
    signature: str | None = None


class ToolResultStepBase(TypedModel):
    """The result of the call whose ``id`` is ``call_id``.

    ``is_error`` lives here for every result type; the SDK declares it on function, code
    execution, Google Search, URL context and retrieval results.
    """

    call_id: str
    signature: str | None = None
    is_error: bool | None = None


class FunctionCallStep(ToolCallStepBase):
    """A call to a client-side function; ``arguments`` is a JSON object, not a string."""

    type: Literal["function_call"] = "function_call"
    name: str
    arguments: dict[str, Any]


class FunctionResultStep(ToolResultStepBase):
    type: Literal["function_result"] = "function_result"
    result: ToolResult
    name: str | None = None


class CodeExecutionCallStep(ToolCallStepBase):
    type: Literal["code_execution_call"] = "code_execution_call"
    arguments: CodeExecutionCallArguments


class CodeExecutionResultStep(ToolResultStepBase):
    type: Literal["code_execution_result"] = "code_execution_result"
    result: str | list[Content]


class GoogleSearchCallStep(ToolCallStepBase):
    type: Literal["google_search_call"] = "google_search_call"
    arguments: QueriesArguments
    #: ``web_search``, ``image_search`` or ``enterprise_web_search``.
    search_type: str | None = None


class GoogleSearchResultStep(ToolResultStepBase):
    type: Literal["google_search_result"] = "google_search_result"
    result: list[GoogleSearchResult]


class GoogleMapsCallStep(ToolCallStepBase):
    type: Literal["google_maps_call"] = "google_maps_call"
    arguments: QueriesArguments | None = None


class GoogleMapsResultStep(ToolResultStepBase):
    type: Literal["google_maps_result"] = "google_maps_result"
    result: list[GoogleMapsResult]


class URLContextCallStep(ToolCallStepBase):
    type: Literal["url_context_call"] = "url_context_call"
    arguments: URLContextCallArguments


class URLContextResultStep(ToolResultStepBase):
    type: Literal["url_context_result"] = "url_context_result"
    result: list[URLContextResult]


class FileSearchCallStep(ToolCallStepBase):
    type: Literal["file_search_call"] = "file_search_call"


class FileSearchResultStep(ToolResultStepBase):
    type: Literal["file_search_result"] = "file_search_result"


class MCPServerToolCallStep(ToolCallStepBase):
    type: Literal["mcp_server_tool_call"] = "mcp_server_tool_call"
    name: str
    server_name: str
    arguments: dict[str, Any]


class MCPServerToolResultStep(ToolResultStepBase):
    type: Literal["mcp_server_tool_result"] = "mcp_server_tool_result"
    result: ToolResult
    name: str | None = None
    server_name: str | None = None


class RetrievalCallStep(ToolCallStepBase):
    type: Literal["retrieval_call"] = "retrieval_call"
    arguments: QueriesArguments
    #: ``vertex_ai_search``, ``rag_store``, ``exa_ai_search`` or ``parallel_ai_search``.
    retrieval_type: str | None = None


class RetrievalResultStep(ToolResultStepBase):
    type: Literal["retrieval_result"] = "retrieval_result"


class ProcessingCallStep(ToolCallStepBase):
    """Server-initiated media analysis (e.g. video understanding)."""

    type: Literal["processing_call"] = "processing_call"


class ProcessingResultStep(ToolResultStepBase):
    type: Literal["processing_result"] = "processing_result"


class UnknownStep(UnknownVariant):
    """A step type this client does not know, kept as received."""


_STEP_VARIANTS = (
    UserInputStep,
    ModelOutputStep,
    ThoughtStep,
    FunctionCallStep,
    FunctionResultStep,
    CodeExecutionCallStep,
    CodeExecutionResultStep,
    GoogleSearchCallStep,
    GoogleSearchResultStep,
    GoogleMapsCallStep,
    GoogleMapsResultStep,
    URLContextCallStep,
    URLContextResultStep,
    FileSearchCallStep,
    FileSearchResultStep,
    MCPServerToolCallStep,
    MCPServerToolResultStep,
    RetrievalCallStep,
    RetrievalResultStep,
    ProcessingCallStep,
    ProcessingResultStep,
)

Step = open_union(*_STEP_VARIANTS, unknown=UnknownStep)

#: The ``type`` tags of the known step variants.
STEP_TYPES: frozenset[str] = variant_tags(*_STEP_VARIANTS)
