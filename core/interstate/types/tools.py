"""Tool declarations (``tools`` of a create request) and their nested configuration."""

from __future__ import annotations

from typing import Any, Literal

from ._base import TypedModel, UnknownVariant, WireModel, open_union

__all__ = [
    "AllowedTools",
    "FunctionTool",
    "GoogleSearchTool",
    "GoogleMapsTool",
    "URLContextTool",
    "CodeExecutionTool",
    "FileSearchTool",
    "MCPServerTool",
    "ComputerUseTool",
    "VertexAISearchConfig",
    "RagResource",
    "RetrievalFilter",
    "HybridSearch",
    "RankService",
    "Ranking",
    "RagRetrievalConfig",
    "RagStoreConfig",
    "ExternalSearchConfig",
    "ExaAISearchConfig",
    "ParallelAISearchConfig",
    "RetrievalTool",
    "UnknownTool",
    "Tool",
]


class AllowedTools(WireModel):
    """Which tools may be called: ``mode`` (auto, any, none, validated) over the named ``tools``."""

    mode: str | None = None
    tools: list[str] | None = None


class FunctionTool(TypedModel):
    """A client-side function. ``parameters`` is a JSON Schema (subset) for the arguments."""

    type: Literal["function"] = "function"
    name: str | None = None
    description: str | None = None
    parameters: Any = None


class GoogleSearchTool(TypedModel):
    type: Literal["google_search"] = "google_search"
    #: ``web_search``, ``image_search``, ``enterprise_web_search``.
    search_types: list[str] | None = None


class GoogleMapsTool(TypedModel):
    type: Literal["google_maps"] = "google_maps"
    enable_widget: bool | None = None
    latitude: float | None = None
    longitude: float | None = None


class URLContextTool(TypedModel):
    type: Literal["url_context"] = "url_context"


class CodeExecutionTool(TypedModel):
    type: Literal["code_execution"] = "code_execution"


class FileSearchTool(TypedModel):
    type: Literal["file_search"] = "file_search"
    file_search_store_names: list[str] | None = None
    metadata_filter: str | None = None
    top_k: int | None = None


class MCPServerTool(TypedModel):
    """A remote MCP server the model may call server-side."""

    type: Literal["mcp_server"] = "mcp_server"
    name: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    allowed_tools: list[AllowedTools] | None = None


class ComputerUseTool(TypedModel):
    type: Literal["computer_use"] = "computer_use"
    #: ``browser``, ``mobile`` or ``desktop``.
    environment: str | None = None
    excluded_predefined_functions: list[str] | None = None
    disabled_safety_policies: list[str] | None = None
    enable_prompt_injection_detection: bool | None = None


# --- retrieval ---------------------------------------------------------------------------------


class VertexAISearchConfig(WireModel):
    datastores: list[str] | None = None
    engine: str | None = None


class RagResource(WireModel):
    rag_corpus: str | None = None
    rag_file_ids: list[str] | None = None


class RetrievalFilter(WireModel):
    """The ``filter`` of a RAG retrieval config."""

    metadata_filter: str | None = None
    vector_distance_threshold: float | None = None
    vector_similarity_threshold: float | None = None


class HybridSearch(WireModel):
    alpha: float | None = None


class RankService(WireModel):
    model_name: str | None = None


class Ranking(WireModel):
    #: Always ``"rank_service"`` in the current schema.
    ranking_config: str | None = None
    rank_service: RankService | None = None
    model_name: str | None = None


class RagRetrievalConfig(WireModel):
    top_k: int | None = None
    filter: RetrievalFilter | None = None
    hybrid_search: HybridSearch | None = None
    ranking: Ranking | None = None


class RagStoreConfig(WireModel):
    rag_resources: list[RagResource] | None = None
    rag_retrieval_config: RagRetrievalConfig | None = None
    #: Deprecated; use ``rag_retrieval_config.top_k``.
    similarity_top_k: int | None = None
    #: Deprecated; use ``rag_retrieval_config.filter``.
    vector_distance_threshold: float | None = None


class ExternalSearchConfig(WireModel):
    """A third-party search backend: its API key and free-form options."""

    api_key: str | None = None
    custom_config: dict[str, Any] | None = None


class ExaAISearchConfig(ExternalSearchConfig):
    """Exa AI search; unlike Parallel AI, the API key is required."""

    api_key: str


class ParallelAISearchConfig(ExternalSearchConfig):
    """Parallel AI search."""


class RetrievalTool(TypedModel):
    type: Literal["retrieval"] = "retrieval"
    #: ``vertex_ai_search``, ``rag_store``, ``exa_ai_search``, ``parallel_ai_search``.
    retrieval_types: list[str] | None = None
    vertex_ai_search_config: VertexAISearchConfig | None = None
    rag_store_config: RagStoreConfig | None = None
    exa_ai_search_config: ExaAISearchConfig | None = None
    parallel_ai_search_config: ParallelAISearchConfig | None = None


class UnknownTool(UnknownVariant):
    """A tool type this client does not know, kept as received."""


Tool = open_union(
    FunctionTool,
    GoogleSearchTool,
    GoogleMapsTool,
    URLContextTool,
    CodeExecutionTool,
    FileSearchTool,
    MCPServerTool,
    ComputerUseTool,
    RetrievalTool,
    unknown=UnknownTool,
)
