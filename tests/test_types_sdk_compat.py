"""Wire compatibility of ``interstate.types`` with the official google-genai SDK.

Every payload here is built from the SDK's own pydantic models and serialised the way the SDK
puts it on the wire (``marshal_json``, which its request bodies go through). Each case checks
that interstate parses it into the right class (never an ``Unknown*`` fallback, at any depth),
serialises it back to the same JSON, and that the SDK parses interstate's output strictly into
the same SDK class and the same JSON.

Completeness is enforced, not hoped for: ``test_every_sdk_model_is_exercised`` fails when an SDK
model class appears in no case, and ``test_union_variants_match_sdk`` fails when a union gains
a variant on either side.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from google.genai import interactions as gi
from google.genai._gaos.utils.serializers import marshal_json, unmarshal
from pydantic import BaseModel, TypeAdapter

from interstate import types as it

# The SDK warns when its deprecated fields (temperature, image_config, ...) are touched; the
# cases set them on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:.*DEPRECATED.*:DeprecationWarning")

# --- helpers -----------------------------------------------------------------------------------


def sdk_dump(obj: Any) -> Any:
    """The JSON the SDK sends for ``obj``."""
    return json.loads(marshal_json(obj, type(obj)))


def quietly(build: Callable[[], Any]) -> Any:
    """``build()`` without the SDK's warnings about deprecated fields."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return build()


def sdk_parse(payload: Any, typ: Any) -> Any:
    """Parse as the SDK does, but strictly: a known tag that fails validation raises instead of
    falling back to an unvalidated object, so a bad interstate payload cannot slip through."""
    return unmarshal(payload, typ, coerce_iterables=False, allow_unknown_union_variants=False)


def walk(value: Any):
    """Every value reachable from ``value`` (models, their fields and extras, lists, dicts)."""
    yield value
    if isinstance(value, BaseModel):
        children = [getattr(value, name) for name in type(value).model_fields]
        children += list((value.model_extra or {}).values())
    elif isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, (list, tuple)):
        children = list(value)
    else:
        return
    for child in children:
        yield from walk(child)


def unknowns(value: Any) -> list[str]:
    return [type(v).__name__ for v in walk(value) if type(v).__name__.startswith("Unknown")]


#: interstate models that legitimately hold extras: the schema declares no fields for them.
FREE_FORM = (it.FileSearchResult,)


def extras(value: Any) -> list[str]:
    """``Class.field`` for every field interstate kept as an extra instead of declaring it."""
    return [
        f"{type(v).__name__}.{key}"
        for v in walk(value)
        if isinstance(v, it.WireModel) and not isinstance(v, FREE_FORM)
        for key in v.model_extra or {}
    ]


def wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def union_members(union: Any) -> set[type[BaseModel]]:
    """The model classes of a (possibly annotated, aliased, nested) union."""
    union = getattr(union, "__value__", union)  # TypeAliasType
    origin = get_origin(union)
    if origin is Annotated:
        return union_members(get_args(union)[0])
    if origin is Union:
        return set().union(*(union_members(arg) for arg in get_args(union)))
    if isinstance(union, type) and issubclass(union, BaseModel):
        return {union}
    return set()


def known_tags(union: Any, key: str) -> set[str]:
    return {
        m.model_fields[key].default
        for m in union_members(union)
        if not m.__name__.startswith("Unknown")
    }


# --- cases -------------------------------------------------------------------------------------

#: group -> (interstate type, SDK type, discriminator key)
GROUPS: dict[str, tuple[Any, Any, str]] = {
    "content": (it.Content, gi.Content, "type"),
    "annotation": (it.Annotation, gi.Annotation, "type"),
    "step": (it.Step, gi.Step, "type"),
    "tool": (it.Tool, gi.Tool, "type"),
    "delta": (it.Delta, gi.StepDeltaData, "type"),
    "event": (it.InteractionSSEEvent, gi.InteractionSSEEvent, "event_type"),
    "agent_config": (it.AgentConfig, gi.InteractionAgentConfig, "type"),
    "response_format": (it.ResponseFormat, gi.ResponseFormat, "type"),
    "transcription_mode": (it.TranscriptionMode, gi.TranscriptionMode, "type"),
    "environment": (it.EnvironmentConfig, gi.Environment, "type"),
}


@dataclass
class Case:
    id: str
    sdk: BaseModel
    expected: type[BaseModel]
    group: str | None = None

    @property
    def ours_type(self) -> Any:
        return GROUPS[self.group][0] if self.group else self.expected

    @property
    def sdk_type(self) -> Any:
        return GROUPS[self.group][1] if self.group else type(self.sdk)


SIG = "c2lnbmF0dXJl"
B64 = "aGVsbG8="
URL_CITATION = gi.URLCitation(url="https://e.x", title="E", start_index=0, end_index=5)
REVIEW = gi.ReviewSnippet(review_id="r1", title="Great", url="https://maps/r1")
PLACE = gi.GoogleMapsResultPlaces(
    place_id="p1", name="Cafe", url="https://maps/p1", review_snippets=[REVIEW]
)
IMAGE = gi.ImageContent(data=B64, mime_type="image/png", resolution="high")
TEXT = gi.TextContent(text="hello", annotations=[URL_CITATION])
USAGE = gi.Usage(
    total_input_tokens=10,
    total_output_tokens=20,
    total_thought_tokens=5,
    total_cached_tokens=2,
    total_tool_use_tokens=1,
    total_tokens=36,
    initial_input_tokens=10,
    input_tokens_by_modality=[gi.ModalityTokens(modality="text", tokens=8)],
    output_tokens_by_modality=[gi.ModalityTokens(modality="image", tokens=20)],
    cached_tokens_by_modality=[gi.ModalityTokens(modality="text", tokens=2)],
    tool_use_tokens_by_modality=[gi.ModalityTokens(modality="text", tokens=1)],
    grounding_tool_count=[gi.GroundingToolCount(type="google_search", count=2)],
)
SEARCH_ARGS = gi.GoogleSearchCallArguments(queries=["weather paris"])
MAPS_ARGS = gi.GoogleMapsCallArguments(queries=["cafe near louvre"])
URL_ARGS = gi.URLContextCallArguments(urls=["https://e.x"])
CODE_ARGS = gi.CodeExecutionCallArguments(code="print(1)", language="python")
RETRIEVAL_ARGS = gi.RetrievalCallArguments(queries=["q"])
SEARCH_RESULT = gi.GoogleSearchResult(search_suggestions="<div>chips</div>")
MAPS_RESULT = gi.GoogleMapsResult(places=[PLACE], widget_context_token="w")
URL_RESULT = gi.URLContextResult(url="https://e.x", status="paywall")
FILE_SEARCH_RESULT = gi.FileSearchResult.model_validate({"title": "doc.pdf", "text": "chunk"})

CONTENT_CASES = [
    Case("text", TEXT, it.TextContent, "content"),
    Case("image", IMAGE, it.ImageContent, "content"),
    Case(
        "audio",
        gi.AudioContent(uri="files/abc", mime_type="audio/wav", sample_rate=16000, channels=1),
        it.AudioContent,
        "content",
    ),
    Case(
        "document",
        gi.DocumentContent(data=B64, uri="https://x/d.pdf", mime_type="application/pdf"),
        it.DocumentContent,
        "content",
    ),
    Case(
        "video-static-processing",
        gi.VideoContent(
            uri="https://x/v.mp4",
            mime_type="video/mp4",
            resolution="low",
            name="clip",
            processing=gi.StaticMediaProcessing(fps=1.5, start_offset="0s", end_offset="10s"),
        ),
        it.VideoContent,
        "content",
    ),
    Case(
        "video-agentic-processing",
        gi.VideoContent(data=B64, processing="agentic"),
        it.VideoContent,
        "content",
    ),
]

ANNOTATION_CASES = [
    Case("url_citation", URL_CITATION, it.URLCitation, "annotation"),
    Case(
        "file_citation",
        gi.FileCitation(
            document_uri="fileSearchStores/s/documents/d",
            file_name="d.pdf",
            source="store",
            media_id="m1",
            page_number=3,
            start_index=1,
            end_index=9,
            custom_metadata={"author": "x", "year": 2020},
        ),
        it.FileCitation,
        "annotation",
    ),
    Case(
        "place_citation",
        gi.PlaceCitation(
            place_id="p1",
            name="Cafe",
            url="https://maps/p1",
            review_snippets=[REVIEW],
            start_index=0,
            end_index=4,
        ),
        it.PlaceCitation,
        "annotation",
    ),
    Case(
        "speech_metadata",
        gi.SpeechAnnotation(speaker="A", style="cheerful", start_index=0, end_index=3),
        it.SpeechAnnotation,
        "annotation",
    ),
    Case(
        "word_info",
        gi.WordInfo(
            text="hi",
            speaker="A",
            start_offset="0.1s",
            end_offset="0.4s",
            start_index=0,
            end_index=2,
        ),
        it.WordInfo,
        "annotation",
    ),
]

STEP_CASES = [
    Case(
        "user_input",
        gi.UserInputStep(content=[gi.TextContent(text="hi"), IMAGE]),
        it.UserInputStep,
        "step",
    ),
    Case(
        "model_output",
        gi.ModelOutputStep(
            content=[TEXT, gi.AudioContent(data=B64, mime_type="audio/l16")],
            error=gi.Status(code=3, message="partial", details=[{"@type": "x", "k": 1}]),
        ),
        it.ModelOutputStep,
        "step",
    ),
    Case(
        "thought",
        gi.ThoughtStep(signature=SIG, summary=[gi.TextContent(text="thinking"), IMAGE]),
        it.ThoughtStep,
        "step",
    ),
    Case(
        "function_call",
        gi.FunctionCallStep(id="call_1", name="get_weather", arguments={"city": "Paris"}),
        it.FunctionCallStep,
        "step",
    ),
    Case(
        "function_result-object",
        gi.FunctionResultStep(
            call_id="call_1", name="get_weather", result={"temp_c": 21}, is_error=False
        ),
        it.FunctionResultStep,
        "step",
    ),
    Case(
        "function_result-string",
        gi.FunctionResultStep(call_id="call_1", result="sunny"),
        it.FunctionResultStep,
        "step",
    ),
    Case(
        "function_result-content",
        gi.FunctionResultStep(call_id="call_1", result=[gi.TextContent(text="sunny"), IMAGE]),
        it.FunctionResultStep,
        "step",
    ),
    Case(
        "code_execution_call",
        gi.CodeExecutionCallStep(id="c1", signature=SIG, arguments=CODE_ARGS),
        it.CodeExecutionCallStep,
        "step",
    ),
    Case(
        "code_execution_result-string",
        gi.CodeExecutionResultStep(call_id="c1", signature=SIG, result="1\n", is_error=False),
        it.CodeExecutionResultStep,
        "step",
    ),
    Case(
        "code_execution_result-content",
        gi.CodeExecutionResultStep(call_id="c1", result=[IMAGE]),
        it.CodeExecutionResultStep,
        "step",
    ),
    Case(
        "google_search_call",
        gi.GoogleSearchCallStep(
            id="s1", signature=SIG, arguments=SEARCH_ARGS, search_type="image_search"
        ),
        it.GoogleSearchCallStep,
        "step",
    ),
    Case(
        "google_search_result",
        gi.GoogleSearchResultStep(
            call_id="s1", signature=SIG, result=[SEARCH_RESULT], is_error=False
        ),
        it.GoogleSearchResultStep,
        "step",
    ),
    Case(
        "google_maps_call",
        gi.GoogleMapsCallStep(id="m1", signature=SIG, arguments=MAPS_ARGS),
        it.GoogleMapsCallStep,
        "step",
    ),
    Case(
        "google_maps_result",
        gi.GoogleMapsResultStep(call_id="m1", signature=SIG, result=[MAPS_RESULT]),
        it.GoogleMapsResultStep,
        "step",
    ),
    Case(
        "url_context_call",
        gi.URLContextCallStep(id="u1", signature=SIG, arguments=URL_ARGS),
        it.URLContextCallStep,
        "step",
    ),
    Case(
        "url_context_result",
        gi.URLContextResultStep(call_id="u1", signature=SIG, result=[URL_RESULT], is_error=True),
        it.URLContextResultStep,
        "step",
    ),
    Case(
        "file_search_call",
        gi.FileSearchCallStep(id="f1", signature=SIG),
        it.FileSearchCallStep,
        "step",
    ),
    Case(
        "file_search_result",
        gi.FileSearchResultStep(call_id="f1", signature=SIG),
        it.FileSearchResultStep,
        "step",
    ),
    Case(
        "mcp_server_tool_call",
        gi.MCPServerToolCallStep(
            id="t1", name="lookup", server_name="crm", arguments={"q": "acme", "n": 2}
        ),
        it.MCPServerToolCallStep,
        "step",
    ),
    Case(
        "mcp_server_tool_result-object",
        gi.MCPServerToolResultStep(
            call_id="t1", name="lookup", server_name="crm", result={"rows": [1, 2]}
        ),
        it.MCPServerToolResultStep,
        "step",
    ),
    Case(
        "mcp_server_tool_result-content",
        gi.MCPServerToolResultStep(call_id="t1", result=[gi.TextContent(text="2 rows")]),
        it.MCPServerToolResultStep,
        "step",
    ),
    Case(
        "retrieval_call",
        gi.RetrievalCallStep(
            id="r1", signature=SIG, arguments=RETRIEVAL_ARGS, retrieval_type="rag_store"
        ),
        it.RetrievalCallStep,
        "step",
    ),
    Case(
        "retrieval_result",
        gi.RetrievalResultStep(call_id="r1", signature=SIG, is_error=False),
        it.RetrievalResultStep,
        "step",
    ),
    Case(
        "processing_call",
        gi.ProcessingCallStep(id="p1", signature=SIG),
        it.ProcessingCallStep,
        "step",
    ),
    Case(
        "processing_result",
        gi.ProcessingResultStep(call_id="p1", signature=SIG),
        it.ProcessingResultStep,
        "step",
    ),
]

TOOL_CASES = [
    Case(
        "function",
        gi.Function(
            name="get_weather",
            description="Weather for a city",
            parameters={
                "type": "object",
                "properties": {"city": {"type": "string", "minLength": 1}},
                "required": ["city"],
            },
        ),
        it.FunctionTool,
        "tool",
    ),
    Case(
        "google_search",
        gi.GoogleSearch(search_types=["web_search", "enterprise_web_search"]),
        it.GoogleSearchTool,
        "tool",
    ),
    Case(
        "google_maps",
        gi.GoogleMaps(enable_widget=True, latitude=48.86, longitude=2.33),
        it.GoogleMapsTool,
        "tool",
    ),
    Case("url_context", gi.URLContext(), it.URLContextTool, "tool"),
    Case("code_execution", gi.CodeExecution(), it.CodeExecutionTool, "tool"),
    Case(
        "file_search",
        gi.FileSearch(
            file_search_store_names=["fileSearchStores/a"], metadata_filter="y>1", top_k=4
        ),
        it.FileSearchTool,
        "tool",
    ),
    Case(
        "mcp_server",
        gi.MCPServer(
            name="crm",
            url="https://mcp.example/sse",
            headers={"Authorization": "Bearer t"},
            allowed_tools=[gi.AllowedTools(mode="validated", tools=["lookup"])],
        ),
        it.MCPServerTool,
        "tool",
    ),
    Case(
        "computer_use",
        gi.ComputerUse(
            environment="browser",
            excluded_predefined_functions=["drag_and_drop"],
            disabled_safety_policies=["account_creation", "legal_terms_and_agreements"],
            enable_prompt_injection_detection=True,
        ),
        it.ComputerUseTool,
        "tool",
    ),
    Case(
        "retrieval",
        gi.Retrieval(
            retrieval_types=[
                "vertex_ai_search",
                "rag_store",
                "exa_ai_search",
                "parallel_ai_search",
            ],
            vertex_ai_search_config=gi.VertexAISearchConfig(datastores=["ds1"], engine="eng"),
            rag_store_config=gi.RagStoreConfig(
                rag_resources=[gi.RagResource(rag_corpus="corpora/c", rag_file_ids=["f1"])],
                rag_retrieval_config=gi.RagRetrievalConfig(
                    top_k=5,
                    filter_=gi.Filter(
                        metadata_filter="lang=en",
                        vector_distance_threshold=0.5,
                        vector_similarity_threshold=0.25,
                    ),
                    hybrid_search=gi.HybridSearch(alpha=0.5),
                    ranking=gi.Ranking(
                        rank_service=gi.RankService(model_name="ranker"), model_name="m"
                    ),
                ),
                similarity_top_k=3,
                vector_distance_threshold=0.75,
            ),
            exa_ai_search_config=gi.ExaAISearchConfig(api_key="exa", custom_config={"n": 3}),
            parallel_ai_search_config=gi.ParallelAISearchConfig(
                api_key="par", custom_config={"depth": "deep"}
            ),
        ),
        it.RetrievalTool,
        "tool",
    ),
]

DELTA_CASES = [
    Case("text", gi.TextDelta(text="Hel"), it.TextDelta, "delta"),
    Case(
        "text_annotation_delta",
        gi.TextAnnotationDelta(
            annotations=[URL_CITATION, gi.WordInfo(text="hi"), gi.SpeechAnnotation(speaker="B")]
        ),
        it.TextAnnotationDelta,
        "delta",
    ),
    Case(
        "thought_summary",
        gi.ThoughtSummaryDelta(content=gi.TextContent(text="thinking...")),
        it.ThoughtSummaryDelta,
        "delta",
    ),
    Case(
        "thought_signature",
        gi.ThoughtSignatureDelta(signature=SIG),
        it.ThoughtSignatureDelta,
        "delta",
    ),
    Case(
        "arguments_delta", gi.ArgumentsDelta(arguments='{"city": "Pa'), it.ArgumentsDelta, "delta"
    ),
    Case(
        "image",
        gi.ImageDelta(data=B64, uri="https://x/i.png", mime_type="image/webp", resolution="low"),
        it.ImageDelta,
        "delta",
    ),
    Case(
        "audio",
        gi.AudioDelta(data=B64, mime_type="audio/l16", sample_rate=24000, channels=1, rate=24000),
        it.AudioDelta,
        "delta",
    ),
    Case(
        "video",
        gi.VideoDelta(data=B64, mime_type="video/jpeg2000", resolution="ultra_high"),
        it.VideoDelta,
        "delta",
    ),
    Case(
        "document",
        gi.DocumentDelta(uri="https://x/d.csv", mime_type="text/csv"),
        it.DocumentDelta,
        "delta",
    ),
    Case(
        "function_result",
        gi.FunctionResultDelta(result={"temp_c": 21}, name="get_weather", is_error=False),
        it.FunctionResultDelta,
        "delta",
    ),
    Case(
        "code_execution_call",
        gi.CodeExecutionCallDelta(
            arguments=gi.CodeExecutionCallArguments(code="ls", language="bash"), signature=SIG
        ),
        it.CodeExecutionCallDelta,
        "delta",
    ),
    Case(
        "code_execution_result",
        gi.CodeExecutionResultDelta(result="a.txt\n", is_error=False, signature=SIG),
        it.CodeExecutionResultDelta,
        "delta",
    ),
    Case(
        "google_search_call",
        gi.GoogleSearchCallDelta(arguments=SEARCH_ARGS, signature=SIG),
        it.GoogleSearchCallDelta,
        "delta",
    ),
    Case(
        "google_search_result",
        gi.GoogleSearchResultDelta(result=[SEARCH_RESULT], is_error=False, signature=SIG),
        it.GoogleSearchResultDelta,
        "delta",
    ),
    Case(
        "google_maps_call",
        gi.GoogleMapsCallDelta(arguments=MAPS_ARGS, signature=SIG),
        it.GoogleMapsCallDelta,
        "delta",
    ),
    Case(
        "google_maps_result",
        gi.GoogleMapsResultDelta(result=[MAPS_RESULT], signature=SIG),
        it.GoogleMapsResultDelta,
        "delta",
    ),
    Case(
        "url_context_call",
        gi.URLContextCallDelta(arguments=URL_ARGS, signature=SIG),
        it.URLContextCallDelta,
        "delta",
    ),
    Case(
        "url_context_result",
        gi.URLContextResultDelta(result=[URL_RESULT], is_error=False, signature=SIG),
        it.URLContextResultDelta,
        "delta",
    ),
    Case(
        "file_search_call", gi.FileSearchCallDelta(signature=SIG), it.FileSearchCallDelta, "delta"
    ),
    Case(
        "file_search_result",
        gi.FileSearchResultDelta(result=[FILE_SEARCH_RESULT], signature=SIG),
        it.FileSearchResultDelta,
        "delta",
    ),
    Case(
        "mcp_server_tool_call",
        gi.MCPServerToolCallDelta(name="lookup", server_name="crm", arguments={"q": "acme"}),
        it.MCPServerToolCallDelta,
        "delta",
    ),
    Case(
        "mcp_server_tool_result",
        gi.MCPServerToolResultDelta(result={"rows": 2}, name="lookup", server_name="crm"),
        it.MCPServerToolResultDelta,
        "delta",
    ),
    Case(
        "retrieval_call",
        gi.RetrievalCallDelta(
            arguments=RETRIEVAL_ARGS, retrieval_type="vertex_ai_search", signature=SIG
        ),
        it.RetrievalCallDelta,
        "delta",
    ),
    Case(
        "retrieval_result",
        gi.RetrievalResultDelta(is_error=True, signature=SIG),
        it.RetrievalResultDelta,
        "delta",
    ),
    Case("processing_call", gi.ProcessingCallDelta(signature=SIG), it.ProcessingCallDelta, "delta"),
    Case(
        "processing_result",
        gi.ProcessingResultDelta(signature=SIG),
        it.ProcessingResultDelta,
        "delta",
    ),
]

EVENT_CASES = [
    Case(
        "interaction.created",
        gi.InteractionCreatedEvent(
            event_id="v1_a:0",
            interaction=gi.InteractionSseEventInteraction(
                id="v1_a",
                status="in_progress",
                model="gemini-3-flash-preview",
                object="interaction",
                created="2026-01-01T00:00:00Z",
                service_tier="standard",
            ),
        ),
        it.InteractionCreatedEvent,
        "event",
    ),
    Case(
        "interaction.status_update",
        gi.InteractionStatusUpdate(
            event_id="v1_a:1",
            interaction_id="v1_a",
            status="in_progress",
            continuation_token="tok-1",
            usage=gi.Usage(total_tokens=3),
        ),
        it.InteractionStatusUpdate,
        "event",
    ),
    Case(
        "step.start",
        gi.StepStart(
            event_id="v1_a:2",
            index=0,
            step=gi.FunctionCallStep(id="call_1", name="get_weather", arguments={}),
        ),
        it.StepStart,
        "event",
    ),
    Case(
        "step.delta",
        gi.StepDelta(
            event_id="v1_a:3",
            index=1,
            delta=gi.TextDelta(text="Hello"),
            metadata=gi.StepDeltaMetadata(total_usage=gi.Usage(total_output_tokens=1)),
        ),
        it.StepDelta,
        "event",
    ),
    Case(
        "step.stop",
        gi.StepStop(
            event_id="v1_a:4",
            index=1,
            usage=gi.Usage(total_tokens=9),
            step_usage=gi.Usage(total_tokens=2),
        ),
        it.StepStop,
        "event",
    ),
    Case(
        "interaction.completed",
        gi.InteractionCompletedEvent(
            event_id="v1_a:5",
            interaction=gi.InteractionSseEventInteraction(
                id="v1_a",
                status="requires_continuation",
                agent="deep-research-preview-04-2026",
                updated="2026-01-01T00:00:09Z",
                usage=USAGE,
                steps=[],
                continuation_token="tok-2",
            ),
        ),
        it.InteractionCompletedEvent,
        "event",
    ),
    Case(
        "error",
        gi.ErrorEvent(event_id="v1_a:6", error=gi.Error(code="INVALID_ARGUMENT", message="bad")),
        it.ErrorEvent,
        "event",
    ),
]

CONFIG_CASES = [
    Case(
        "generation_config-full",
        quietly(
            lambda: gi.GenerationConfig(
                max_output_tokens=128,
                seed=7,
                stop_sequences=["END"],
                temperature=0.2,
                top_p=0.9,
                thinking_level="xhigh",
                thinking_summaries="auto",
                tool_choice="validated",
                speech_config=[gi.SpeechConfig(voice="Kore", language="en-US", speaker="A")],
                image_config=gi.ImageConfig(aspect_ratio="21:9", image_size="2K"),
                video_config=gi.VideoConfig(task="image_to_video"),
                transcription_config=gi.TranscriptionConfig(
                    language_codes=["en-US"],
                    custom_vocabulary=["interstate"],
                    mode="verbatim",
                    adaptation_phrases=["lang graph"],
                    diarization_mode="on",
                    language_hints=["en"],
                    timestamp_granularities=["word"],
                ),
            )
        ),
        it.GenerationConfig,
    ),
    Case(
        "generation_config-allowed_tools-speakers",
        gi.GenerationConfig(
            tool_choice=gi.ToolChoiceConfig(
                allowed_tools=gi.AllowedTools(mode="any", tools=["get_weather"])
            ),
            speech_config=gi.SpeakerConfig(
                speakers=[
                    gi.SpeechConfig(voice="Kore", speaker="A"),
                    gi.SpeechConfig(voice="Puck", speaker="B"),
                ]
            ),
        ),
        it.GenerationConfig,
    ),
    Case(
        "transcription_mode-verbatim",
        gi.VerbatimTranscriptionMode(diarization_mode="on", timestamp_granularities=["word"]),
        it.VerbatimTranscriptionMode,
        "transcription_mode",
    ),
    Case(
        "transcription_mode-smart",
        gi.SmartTranscriptionMode(source_text="expected words"),
        it.SmartTranscriptionMode,
        "transcription_mode",
    ),
    Case(
        "transcription_config-mode-object",
        gi.TranscriptionConfig(mode=gi.SmartTranscriptionMode(source_text="x")),
        it.TranscriptionConfig,
    ),
    Case(
        "response_format-text",
        gi.TextResponseFormat(mime_type="application/json", schema_={"type": "object"}),
        it.TextResponseFormat,
        "response_format",
    ),
    Case(
        "response_format-image",
        gi.ImageResponseFormat(
            mime_type="image/jpeg", aspect_ratio="1:8", image_size="4K", delivery="uri"
        ),
        it.ImageResponseFormat,
        "response_format",
    ),
    Case(
        "response_format-audio",
        gi.AudioResponseFormat(
            mime_type="audio/ogg_opus", sample_rate=48000, bit_rate=64000, delivery="inline"
        ),
        it.AudioResponseFormat,
        "response_format",
    ),
    Case(
        "response_format-video",
        gi.VideoResponseFormat(
            aspect_ratio="9:16",
            resolution="1080p",
            duration="8s",
            delivery="uri",
            gcs_uri="gs://b/o",
        ),
        it.VideoResponseFormat,
        "response_format",
    ),
    Case(
        "safety_setting",
        gi.SafetySetting(type="jailbreak", threshold="block_only_high", method="probability"),
        it.SafetySetting,
    ),
    Case(
        "webhook_config",
        gi.WebhookConfig(uris=["https://hook.example/x"], user_metadata={"run": 1}),
        it.WebhookConfig,
    ),
    Case("usage", USAGE, it.Usage),
    Case("error", gi.Error(code="NOT_FOUND", message="no such interaction"), it.ApiErrorDetail),
]

FIND = gi.FindRequest(
    description="look for overflows",
    finding_id="f-1",
    mode="verify",
    source_files=[gi.FileContent(path="a.c", content="int main(){}")],
)
AGENT_CASES = [
    Case("dynamic", gi.DynamicAgentConfig(), it.DynamicAgentConfig, "agent_config"),
    Case(
        "deep-research",
        gi.DeepResearchAgentConfig(
            thinking_summaries="auto",
            visualization="off",
            collaborative_planning=True,
            enable_bigquery_tool=False,
        ),
        it.DeepResearchAgentConfig,
        "agent_config",
    ),
    Case(
        "antigravity",
        gi.AntigravityAgentConfig(model="gemini-3.5-flash", max_total_tokens=100000),
        it.AntigravityAgentConfig,
        "agent_config",
    ),
    Case(
        "code-mender",
        gi.CodeMenderAgentConfig(
            model="gemini-3.1-pro-preview",
            session_id="s-1",
            session_config=gi.SessionConfig(max_rounds=4),
            find_request=FIND,
            fix_request=gi.FixRequest(
                description="fix it",
                finding_id="f-1",
                source_files=[gi.FileContent(path="a.c", content="int main(){return 0;}")],
            ),
        ),
        it.CodeMenderAgentConfig,
        "agent_config",
    ),
]

ENVIRONMENT = gi.Environment(
    environment_id="env-1",
    env={"PLAIN": "x", "SECRET": gi.EnvVar(credential="credentials/c1"), "V": gi.EnvVar(value="v")},
    network=gi.EnvironmentNetworkEgressAllowlist(
        allowlist=[
            gi.AllowlistEntry(
                domain="api.example.com", credential="credentials/c2", transform={"X-Key": "k"}
            ),
            gi.AllowlistEntry(domain="pypi.org", transform=[{"A": "1"}, {"B": "2"}]),
        ]
    ),
    sources=[
        gi.Source(type="repository", source="https://github.com/o/r", target="/src"),
        gi.Source(type="inline", content="cHJpbnQoMSk=", encoding="base64", target="/a.py"),
    ],
)
ENVIRONMENT_CASES = [
    Case("environment-allowlist", ENVIRONMENT, it.Environment, "environment"),
    Case(
        "environment-network-disabled",
        gi.Environment(network="disabled", sources=[gi.Source(type="gcs", source="gs://b/x")]),
        it.Environment,
        "environment",
    ),
    Case(
        "environment-allowlist-disabled",
        gi.Environment(network=gi.EnvironmentNetworkEgressAllowlist(allowlist="disabled")),
        it.Environment,
        "environment",
    ),
]

FUNCTION_TOOL = TOOL_CASES[0].sdk
HISTORY = [
    gi.UserInputStep(content=[gi.TextContent(text="weather?")]),
    gi.ThoughtStep(signature=SIG),
    gi.FunctionCallStep(id="call_1", name="get_weather", arguments={"city": "Paris"}),
    gi.FunctionResultStep(call_id="call_1", name="get_weather", result={"temp_c": 21}),
]
CREATE_COMMON: dict[str, Any] = dict(
    system_instruction="Be terse.",
    previous_interaction_id="v1_prev",
    store=False,
    background=False,
    stream=True,
    continuation_token="tok",
    labels={"team": "core", "env": ""},
    safety_settings=[gi.SafetySetting(type="harassment", threshold="block_none")],
    service_tier="flex",
    webhook_config=gi.WebhookConfig(uris=["https://hook.example/x"]),
    response_mime_type="application/json",
    response_modalities=["text", "image"],
)
REQUEST_CASES = [
    Case(
        "create-model-string-input",
        gi.CreateModelInteraction(
            model="gemini-3-flash-preview",
            input="Hello?",
            tools=[FUNCTION_TOOL, gi.GoogleSearch()],
            generation_config=gi.GenerationConfig(max_output_tokens=64, thinking_level="low"),
            response_format=gi.TextResponseFormat(
                mime_type="application/json", schema_={"type": "object"}
            ),
            environment="env-1",
            cached_content="cachedContents/abc",
            **CREATE_COMMON,
        ),
        it.CreateInteractionRequest,
    ),
    Case(
        "create-model-content-input",
        gi.CreateModelInteraction(
            model="gemini-2.5-pro", input=gi.TextContent(text="single block")
        ),
        it.CreateInteractionRequest,
    ),
    Case(
        "create-model-content-list-input",
        gi.CreateModelInteraction(
            model="my-local-model",
            input=[gi.TextContent(text="Describe"), IMAGE],
            response_format=[
                gi.TextResponseFormat(mime_type="text/plain"),
                gi.AudioResponseFormat(mime_type="audio/wav"),
            ],
        ),
        it.CreateInteractionRequest,
    ),
    Case(
        "create-model-step-list-input",
        gi.CreateModelInteraction(model="gemini-3.5-flash", input=HISTORY, store=False),
        it.CreateInteractionRequest,
    ),
    Case(
        "create-agent",
        gi.CreateAgentInteraction(
            agent="deep-research-preview-04-2026",
            agent_config=gi.DeepResearchAgentConfig(thinking_summaries="auto"),
            input="research X",
            environment=ENVIRONMENT,
            tools=[gi.CodeExecution()],
            **CREATE_COMMON,
        ),
        it.CreateInteractionRequest,
    ),
]

#: Fields the SDK computes client-side and a server never sends (reference §4.1, §4.3).
SDK_COMPUTED = ("output_text", "output_image", "output_audio", "output_video", "continuation_ids")

INTERACTION_CASES = [
    Case(
        "interaction-model",
        gi.Interaction(
            id="v1_abc",
            status="completed",
            created="2026-01-01T00:00:00Z",
            updated="2026-01-01T00:00:05Z",
            model="gemini-3-flash-preview",
            previous_interaction_id="v1_prev",
            system_instruction="Be terse.",
            tools=[FUNCTION_TOOL],
            generation_config=gi.GenerationConfig(seed=1),
            response_format=[gi.TextResponseFormat(mime_type="text/plain")],
            safety_settings=[gi.SafetySetting(type="hate_speech", threshold="off")],
            labels={"team": "core"},
            service_tier="priority",
            webhook_config=gi.WebhookConfig(uris=["https://hook.example/x"]),
            environment="env-1",
            environment_id="env-1",
            input=HISTORY,
            steps=[
                *HISTORY,
                gi.ModelOutputStep(content=[gi.TextContent(text="It is "), TEXT, IMAGE]),
                gi.ThoughtStep(summary=[gi.TextContent(text="done")]),
                gi.ModelOutputStep(content=[gi.TextContent(text="21C.")]),
            ],
            usage=USAGE,
            errors=[gi.Error(code="quota", message="slow down")],
            continuation_token="tok",
            cached_content="cachedContents/x",
        ),
        it.Interaction,
    ),
    Case(
        "interaction-agent",
        gi.Interaction(
            id="v1_agent",
            status="in_progress",
            agent="antigravity-preview-05-2026",
            agent_config=gi.AntigravityAgentConfig(model="gemini-3.5-flash"),
            environment=ENVIRONMENT,
            input="build it",
        ),
        it.Interaction,
    ),
]

ALL_CASES = (
    CONTENT_CASES
    + ANNOTATION_CASES
    + STEP_CASES
    + TOOL_CASES
    + DELTA_CASES
    + EVENT_CASES
    + CONFIG_CASES
    + AGENT_CASES
    + ENVIRONMENT_CASES
    + REQUEST_CASES
    + INTERACTION_CASES
)


def case_id(case: Case) -> str:
    return f"{case.group or case.expected.__name__}:{case.id}"


def server_payload(case: Case) -> dict[str, Any]:
    """The SDK's JSON for the case, minus the fields only the SDK itself computes."""
    payload = sdk_dump(case.sdk)
    if isinstance(case.sdk, gi.Interaction):
        for name in SDK_COMPUTED:
            payload.pop(name, None)
    return payload


# --- the round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_sdk_payload_round_trips(case: Case) -> None:
    payload = server_payload(case)

    assert wire_names(type(case.sdk)) - set(SDK_COMPUTED) <= wire_names(case.expected)
    ours = TypeAdapter(case.ours_type).validate_python(payload)
    assert type(ours) is case.expected
    assert unknowns(ours) == []
    assert extras(ours) == []
    wire = ours.to_wire()
    assert wire == payload

    back = sdk_parse(json.loads(json.dumps(wire)), case.sdk_type)
    assert type(back) is type(case.sdk)
    assert unknowns(back) == []
    assert server_payload(Case(case.id, back, case.expected)) == payload


@pytest.mark.parametrize("case", INTERACTION_CASES, ids=case_id)
def test_output_text_matches_sdk(case: Case) -> None:
    ours = it.Interaction.model_validate(server_payload(case))
    assert ours.output_text == case.sdk.output_text
    for name in ("output_image", "output_audio", "output_video"):
        expected = getattr(case.sdk, name)
        got = getattr(ours, name)
        assert (got and got.to_wire()) == (expected and sdk_dump(expected))


def test_interaction_with_sdk_computed_fields_keeps_them_as_extras() -> None:
    """An SDK-dumped Interaction (with ``output_text``) still parses and round-trips."""
    payload = sdk_dump(INTERACTION_CASES[0].sdk)
    assert payload["output_text"] == "21C."
    ours = it.Interaction.model_validate(payload)
    assert ours.to_wire() == payload
    assert ours.output_text == "21C."


# --- completeness ------------------------------------------------------------------------------


#: The SDK package of the Interactions schema (``google.genai.interactions`` also re-exports the
#: agents, environments, triggers and webhooks APIs, which are out of scope).
SDK_INTERACTIONS_PACKAGE = "google.genai._gaos.types.interactions."


def _sdk_model_classes() -> set[type[BaseModel]]:
    return {
        obj
        for name in gi.__all__
        if isinstance(obj := getattr(gi, name), type)
        and issubclass(obj, BaseModel)
        and obj.__module__.startswith(SDK_INTERACTIONS_PACKAGE)
    }


#: SDK models with no case above, and why.
NOT_EXERCISED = {
    # The delete response; interstate answers ``{}`` and needs no model for it.
    "Empty",
    # The SDK's transport wrapper ``{"data": event}`` around an SSE event, not a wire shape.
    "InteractionSSEStreamEvent",
}


def test_every_sdk_model_is_exercised() -> None:
    assert len(_sdk_model_classes()) > 100  # the filter above still finds the schema
    seen = {type(v) for case in ALL_CASES for v in walk(case.sdk)}
    missing = {
        cls.__name__
        for cls in _sdk_model_classes() - seen
        if not cls.__name__.startswith("Unknown") and cls.__name__ not in NOT_EXERCISED
    }
    assert missing == set(), f"SDK models with no compatibility case: {sorted(missing)}"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_union_variants_match_sdk(group: str) -> None:
    ours, sdk, key = GROUPS[group]
    assert known_tags(ours, key) == known_tags(sdk, key)
    covered = {sdk_dump(c.sdk)[key] for c in ALL_CASES if c.group == group}
    assert covered == known_tags(sdk, key)


# --- unknown variants --------------------------------------------------------------------------

UNKNOWN_CASES = [
    ("content", {"type": "hologram", "data": B64, "depth": {"layers": 3}}, it.UnknownContent),
    ("annotation", {"type": "video_citation", "start_index": 1, "clip": "c"}, it.UnknownAnnotation),
    ("step", {"type": "robot_action_call", "id": "r", "arguments": {"x": 1}}, it.UnknownStep),
    ("tool", {"type": "robot_arm", "dof": 6}, it.UnknownTool),
    ("delta", {"type": "hologram", "data": "chunk"}, it.UnknownDelta),
    ("event", {"event_type": "step.pause", "index": 2, "event_id": "e:9"}, it.UnknownEvent),
    ("agent_config", {"type": "robotics", "arm": "left"}, it.UnknownAgentConfig),
    ("transcription_mode", {"type": "phonetic", "alphabet": "ipa"}, it.UnknownTranscriptionMode),
]


@pytest.mark.parametrize(
    ("group", "payload", "expected"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES]
)
def test_unknown_variant_round_trips_like_the_sdk(
    group: str, payload: dict[str, Any], expected: type[BaseModel]
) -> None:
    ours_type, sdk_type, _ = GROUPS[group]
    ours = TypeAdapter(ours_type).validate_python(payload)
    assert type(ours) is expected
    assert ours.to_wire() == payload

    sdk_obj = sdk_parse(ours.to_wire(), sdk_type)
    assert type(sdk_obj).__name__.startswith("Unknown")
    assert sdk_dump(sdk_obj) == payload


# --- built with interstate, read by the SDK ----------------------------------------------------

#: The body the SDK sent for a content-dict list plus options (reference §9.1, observed).
OBSERVED_CREATE_BODY = {
    "model": "gemini-3-flash-preview",
    "generation_config": {"max_output_tokens": 128, "temperature": 0.2, "thinking_level": "low"},
    "input": [
        {
            "content": [
                {"text": "Describe", "type": "text"},
                {"mime_type": "image/png", "type": "image", "uri": "https://x/y.png"},
            ],
            "type": "user_input",
        }
    ],
    "labels": {"team": "x"},
    "response_format": {
        "mime_type": "application/json",
        "schema": {"type": "object"},
        "type": "text",
    },
    "store": False,
    "system_instruction": "Be terse.",
    "tools": [
        {
            "description": "d",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "type": "function",
        }
    ],
    "my_extra": 1,
}


def test_request_built_with_interstate_matches_the_observed_sdk_body() -> None:
    request = it.CreateInteractionRequest(
        model="gemini-3-flash-preview",
        generation_config=it.GenerationConfig(
            max_output_tokens=128, temperature=0.2, thinking_level="low"
        ),
        input=[
            it.UserInputStep(
                content=[
                    it.TextContent(text="Describe"),
                    it.ImageContent(mime_type="image/png", uri="https://x/y.png"),
                ]
            )
        ],
        labels={"team": "x"},
        response_format=it.TextResponseFormat(
            mime_type="application/json", schema={"type": "object"}
        ),
        store=False,
        system_instruction="Be terse.",
        tools=[
            it.FunctionTool(
                description="d",
                name="get_weather",
                parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            )
        ],
        my_extra=1,
    )
    assert request.to_wire() == OBSERVED_CREATE_BODY
    sdk_request = sdk_parse(request.to_wire(), gi.CreateModelInteraction)
    assert sdk_dump(sdk_request) == OBSERVED_CREATE_BODY


#: ``data:`` payloads of a stream the SDK parsed correctly (reference §6.3, observed).
OBSERVED_STREAM = [
    (
        {
            "event_type": "interaction.created",
            "event_id": "v1_7d08:0",
            "interaction": {
                "id": "v1_7d08",
                "status": "in_progress",
                "created": "2026-01-01T00:00:00Z",
                "model": "gemini-3-flash-preview",
                "object": "interaction",
            },
        },
        it.InteractionCreatedEvent,
    ),
    (
        {
            "event_type": "interaction.status_update",
            "event_id": "v1_7d08:1",
            "interaction_id": "v1_7d08",
            "status": "in_progress",
        },
        it.InteractionStatusUpdate,
    ),
    (
        {
            "event_type": "step.start",
            "event_id": "v1_7d08:2",
            "index": 0,
            "step": {"type": "thought"},
        },
        it.StepStart,
    ),
    (
        {
            "event_type": "step.delta",
            "event_id": "v1_7d08:3",
            "index": 0,
            "delta": {
                "type": "thought_summary",
                "content": {"type": "text", "text": "thinking..."},
            },
        },
        it.StepDelta,
    ),
    (
        {
            "event_type": "step.delta",
            "event_id": "v1_7d08:4",
            "index": 0,
            "delta": {"type": "thought_signature", "signature": "c2ln"},
        },
        it.StepDelta,
    ),
    ({"event_type": "step.stop", "event_id": "v1_7d08:5", "index": 0}, it.StepStop),
    (
        {
            "event_type": "step.start",
            "event_id": "v1_7d08:6",
            "index": 1,
            "step": {"type": "model_output", "content": []},
        },
        it.StepStart,
    ),
    (
        {
            "event_type": "step.delta",
            "event_id": "v1_7d08:7",
            "index": 1,
            "delta": {"type": "text", "text": "Hello f"},
        },
        it.StepDelta,
    ),
    ({"event_type": "step.stop", "event_id": "v1_7d08:8", "index": 1}, it.StepStop),
    (
        {
            "event_type": "interaction.completed",
            "event_id": "v1_7d08:9",
            "interaction": {
                "id": "v1_7d08",
                "status": "completed",
                "updated": "2026-01-01T00:00:01Z",
                "usage": {"total_tokens": 7},
            },
        },
        it.InteractionCompletedEvent,
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"),
    OBSERVED_STREAM,
    ids=[f"{i}-{d['event_type']}" for i, (d, _) in enumerate(OBSERVED_STREAM)],
)
def test_observed_stream_events(data: dict[str, Any], expected: type[BaseModel]) -> None:
    event = it.parse_event(json.loads(json.dumps(data)))
    assert type(event) is expected
    assert unknowns(event) == []
    assert event.to_wire() == data
    sdk_event = sdk_parse(event.to_wire(), gi.InteractionSSEEvent)
    assert type(sdk_event).__name__ == expected.__name__
    assert sdk_dump(sdk_event) == data
