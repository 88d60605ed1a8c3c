"""Create bodies, field by field (issue 19): an unknown name at any depth, a value outside any
enumeration of the reference, a bad label and an empty ``model`` each get 400 INVALID_ARGUMENT
naming the field's path and write nothing; a body using every documented option is accepted and
echoed by GET; the deprecated response fields are mapped onto ``response_format``."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable

import httpx
import pytest
import sdk_models

from interstate.server.errors import ServiceError
from interstate.server.render import ECHOED_CONFIG
from interstate.server.service import InteractionService
from interstate.server.strict import ENUMS, check_create_body
from interstate.testing import ServerProcess

from .conftest import registry

MODEL = "scripted"
CREATE = "/v1beta/interactions"


def body(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "input": "hello", **fields}


def steps(*extra: dict[str, Any]) -> dict[str, Any]:
    """A store=false body whose input is a history ending in ``extra``."""
    user = {"type": "user_input", "content": [{"type": "text", "text": "hi"}]}
    return body(store=False, input=[user, *extra])


def content(block: dict[str, Any]) -> dict[str, Any]:
    return body(input=[{"type": "user_input", "content": [block]}])


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    """SQLite only (``service`` and ``http`` come from conftest): refusals happen before any
    store is read, and the accepted bodies are plain stored turns."""
    return f"sqlite:///{tmp_path}/strict.db"


async def refused(http: httpx.AsyncClient, sent: dict[str, Any]) -> str:
    """The message of a 400 INVALID_ARGUMENT answer; asserts nothing was stored."""
    r = await http.post(CREATE, json=sent)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT", error
    listed = await http.get("/v1beta/interstate/interactions")
    assert listed.json()["interactions"] == [], "a refused create wrote a row"
    return error["message"]


# -- unknown names, at every depth ------------------------------------------------------------

FN = {"type": "function", "name": "f", "parameters": {"type": "object"}}
UNKNOWN_NAMES: list[tuple[str, dict[str, Any]]] = [
    ("", body(sytem_instruction="Be brief.")),
    ("generation_config", body(generation_config={"temprature": 0.2})),
    ("generation_config.tool_choice.allowed_tools", body(generation_config={
        "tool_choice": {"allowed_tools": {"mode": "any", "tool": ["f"]}}})),
    ("generation_config.speech_config[0]", body(generation_config={"speech_config": [{"voic": "x"}]})),
    ("generation_config.image_config", body(generation_config={"image_config": {"size": "1K"}})),
    ("generation_config.transcription_config.mode", body(generation_config={
        "transcription_config": {"mode": {"type": "smart", "text": "x"}}})),
    ("tools[0]", body(tools=[{**FN, "descripton": "typo"}])),
    ("tools[0].allowed_tools[0]", body(tools=[{"type": "mcp_server", "name": "m", "url": "http://m",
                                              "allowed_tools": [{"mode": "any", "names": []}]}])),
    ("tools[0].rag_store_config.rag_retrieval_config", body(tools=[{"type": "retrieval",
        "rag_store_config": {"rag_retrieval_config": {"topk": 3}}}])),
    ("response_format", body(response_format={"type": "text", "mime": "application/json"})),
    ("response_format[1]", body(response_format=[{"type": "text"}, {"type": "image", "size": "1K"}])),
    ("safety_settings[0]", body(safety_settings=[{"type": "harassment", "threshold": "off", "x": 1}])),
    ("webhook_config", body(webhook_config={"uri": "https://hook"})),
    ("environment", body(environment={"type": "remote", "environment": "e"})),
    ("environment.sources[0]", body(environment={"type": "remote", "sources": [{"path": "p"}]})),
    ("environment.network.allowlist[0]", body(environment={"type": "remote", "network": {
        "allowlist": [{"domain": "example.com", "header": "x"}]}})),
    ("agent_config", {"agent": "deep-research-pro-preview-12-2025", "input": "x",
                      "agent_config": {"type": "deep-research", "visualisation": "auto"}}),
    ("agent_config.find_request", {"agent": "deep-research-pro-preview-12-2025", "input": "x",
        "agent_config": {"type": "code-mender", "find_request": {"scope": "all"}}}),
    ("input", body(input={"type": "text", "text": "hi", "lang": "en"})),
    ("input[0]", body(input=[{"type": "text", "text": "hi", "lang": "en"}])),
    ("input[0]", body(input=[{"type": "user_input", "role": "user", "content": []}])),
    ("input[0].content[0]", content({"type": "text", "text": "hi", "lang": "en"})),
    ("input[0].content[0].annotations[0]", content({"type": "text", "text": "hi", "annotations": [
        {"type": "url_citation", "url": "u", "page": 1}]})),
    ("input[0].content[0]", content({"type": "image", "uri": "gs://b/i.png", "detail": "high"})),
    ("input[0].content[0].processing", content({"type": "video", "uri": "gs://b/v.mp4",
                                                "processing": {"type": "static", "rate": 1}})),
    ("input[1]", steps({"type": "thought", "signature": "c2ln", "text": "hm"})),
    ("input[1].summary[0]", steps({"type": "thought", "summary": [{"type": "text", "text": "a", "b": 1}]})),
    ("input[1]", steps({"type": "function_call", "id": "c", "name": "f", "arguments": {}, "args": {}})),
    ("input[1].result[0]", steps({"type": "function_result", "call_id": "c",
                                  "result": [{"type": "text", "text": "r", "extra": True}]})),
    ("input[1].arguments", steps({"type": "code_execution_call", "id": "c",
                                  "arguments": {"code": "1", "lang": "python"}})),
    ("input[1].error", steps({"type": "model_output", "error": {"code": 3, "reason": "x"}})),
]


@pytest.mark.parametrize(("path", "sent"), UNKNOWN_NAMES, ids=[p or "body" for p, _ in UNKNOWN_NAMES])
async def test_an_unknown_name_is_refused_naming_its_path(
    http: httpx.AsyncClient, path: str, sent: dict[str, Any]
) -> None:
    message = await refused(http, sent)
    assert message.startswith('Invalid JSON payload received. Unknown name "'), message
    assert message.endswith(f" at '{path}': Cannot find field." if path else ": Cannot find field.")


# -- closed unions: an unknown type tag -------------------------------------------------------

UNKNOWN_TYPES: list[tuple[str, dict[str, Any]]] = [
    ("tools[0].type", body(tools=[{"type": "web_browser"}])),
    ("response_format.type", body(response_format={"type": "object", "properties": {}})),
    ("input[0].type", body(input=[{"type": "note", "text": "x"}])),
    ("input[0].content[0].type", content({"type": "hologram", "uri": "x"})),
    ("input[0].content[0].annotations[0].type", content({"type": "text", "text": "t",
                                                         "annotations": [{"type": "footnote"}]})),
    ("input[1].type", steps({"type": "model_reply", "content": []})),
    ("environment.type", body(environment={"type": "local"})),
    ("agent_config.type", {"agent": "deep-research-pro-preview-12-2025", "agent_config": {"type": "x"}}),
    ("generation_config.transcription_config.mode.type", body(generation_config={
        "transcription_config": {"mode": {"type": "fuzzy"}}})),
    ("input.type", body(input={"type": "hologram", "text": ""})),  # one bare content block
    ("input.type", body(input={"text": "no type"})),
    ("input[0].content[0].type", content({"type": {}, "text": "a tag that is an object"})),
    ("input[1].type", steps({"type": ["user_input"]})),
    ("input[0].type", body(input=[{"content": []}])),
]


@pytest.mark.parametrize(("path", "sent"), UNKNOWN_TYPES, ids=[p for p, _ in UNKNOWN_TYPES])
async def test_an_unknown_type_tag_is_refused(http: httpx.AsyncClient, path: str, sent: dict[str, Any]) -> None:
    message = await refused(http, sent)
    assert message.startswith(f"Invalid value at '{path}' ("), message
    assert "expected one of: " in message


# -- every enumeration ------------------------------------------------------------------------

BAD = "not-a-value"
#: Where each model of ``ENUMS`` sits in a create body: ``field -> value`` placed there.
PLACES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "InteractionFields": lambda d: body(**d),
    "SafetySetting": lambda d: body(safety_settings=[{"type": "harassment", "threshold": "off", **d}]),
    "GenerationConfig": lambda d: body(generation_config=d),
    "AllowedTools": lambda d: body(generation_config={"tool_choice": {"allowed_tools": d}}),
    "ImageConfig": lambda d: body(generation_config={"image_config": d}),
    "VideoConfig": lambda d: body(generation_config={"video_config": d}),
    "TranscriptionConfig": lambda d: body(generation_config={"transcription_config": d}),
    "TextResponseFormat": lambda d: body(response_format={"type": "text", **d}),
    "ImageResponseFormat": lambda d: body(response_format={"type": "image", **d}),
    "AudioResponseFormat": lambda d: body(response_format={"type": "audio", **d}),
    "VideoResponseFormat": lambda d: body(response_format=[{"type": "video", **d}]),
    "ImageContent": lambda d: content({"type": "image", "uri": "gs://b/o", **d}),
    "AudioContent": lambda d: content({"type": "audio", "uri": "gs://b/o", **d}),
    "DocumentContent": lambda d: content({"type": "document", "uri": "gs://b/o", **d}),
    "VideoContent": lambda d: content({"type": "video", "uri": "gs://b/o", **d}),
    "GoogleSearchTool": lambda d: body(tools=[{"type": "google_search", **d}]),
    "ComputerUseTool": lambda d: body(tools=[{"type": "computer_use", **d}]),
    "RetrievalTool": lambda d: body(tools=[{"type": "retrieval", **d}]),
    "Ranking": lambda d: body(tools=[{"type": "retrieval", "rag_store_config": {
        "rag_retrieval_config": {"ranking": d}}}]),
    "DeepResearchAgentConfig": lambda d: {"agent": "deep-research-pro-preview-12-2025",
                                          "agent_config": {"type": "deep-research", **d}},
    "FindRequest": lambda d: {"agent": "deep-research-pro-preview-12-2025",
                              "agent_config": {"type": "code-mender", "find_request": d}},
    "Environment": lambda d: body(environment={"type": "remote", **d}),
    "EnvironmentNetworkEgressAllowlist": lambda d: body(environment={"type": "remote", "network": d}),
    "Source": lambda d: body(environment={"type": "remote", "sources": [d]}),
    "CodeExecutionCallArguments": lambda d: steps({"type": "code_execution_call", "id": "c",
                                                   "arguments": {"code": "1", **d}}),
    "GoogleSearchCallStep": lambda d: steps({"type": "google_search_call", "id": "c",
                                             "arguments": {"queries": ["q"]}, **d}),
    "RetrievalCallStep": lambda d: steps({"type": "retrieval_call", "id": "c",
                                          "arguments": {"queries": ["q"]}, **d}),
    "URLContextResult": lambda d: steps({"type": "url_context_result", "call_id": "c",
                                         "result": [{"url": "u", **d}]}),
}
LIST_FIELDS = {"response_modalities", "search_types", "disabled_safety_policies", "retrieval_types"}


def placed(model: str, field: str, value: str) -> dict[str, Any]:
    return PLACES[model]({field: [value] if field in LIST_FIELDS else value})


@pytest.mark.parametrize(("model", "field"), sorted(ENUMS), ids=[f"{m}.{f}" for m, f in sorted(ENUMS)])
async def test_a_value_outside_an_enum_is_refused_naming_the_field(
    http: httpx.AsyncClient, model: str, field: str
) -> None:
    message = await refused(http, placed(model, field, BAD))
    assert re.match(rf"Invalid value at '([\w.\[\]]+\.)?{field}(\[0\])?' \(\"{BAD}\"\)", message), message


@pytest.mark.parametrize(("model", "field"), sorted(ENUMS), ids=[f"{m}.{f}" for m, f in sorted(ENUMS)])
def test_every_value_of_an_enum_passes_the_check(model: str, field: str) -> None:
    for value in ENUMS[model, field]:
        if (model, field, value) in UNSERVED:
            with pytest.raises(ServiceError, match="response_format"):
                check_create_body(placed(model, field, value))
        else:
            check_create_body(placed(model, field, value))  # raises on a refusal


#: Enum values that are refused with a pointer: no ``response_format`` type makes documents.
UNSERVED = {("InteractionFields", "response_modalities", "document")}


#: SDK model names where interstate's differ.
SDK_NAMES = {"CreateModelInteraction": "InteractionFields", "CreateAgentInteraction": "InteractionFields",
             "GoogleSearch": "GoogleSearchTool", "ComputerUse": "ComputerUseTool", "Retrieval": "RetrievalTool"}
OPEN_ENUMS = {("InteractionFields", "model"), ("InteractionFields", "agent")}


def test_the_enums_are_the_sdks_request_enums_exactly() -> None:
    sdk_enums = {
        (SDK_NAMES.get(name, name), field): values
        for name, model in sdk_models.reachable(*sdk_models.REQUEST_ROOTS).items()
        for field, values in sdk_models.enum_fields(model).items()
    }
    assert set(sdk_enums) - OPEN_ENUMS == set(ENUMS)
    for key, values in ENUMS.items():
        assert set(values) == set(sdk_enums[key]), key


# -- labels, model ----------------------------------------------------------------------------


@pytest.mark.parametrize(("labels", "path"), [
    ({"Thread": "a"}, "labels.Thread"),
    ({"thread": "A"}, "labels.thread"),
    ({"1st": "a"}, "labels.1st"),
    ({"ok": "a", "bad key": "b"}, "labels.bad key"),
    ({"k": "v" * 64}, "labels.k"),
    ({f"k{i}": "v" for i in range(65)}, "labels"),
])  # fmt: skip
async def test_a_bad_label_is_refused_naming_labels_key(
    http: httpx.AsyncClient, labels: dict[str, str], path: str
) -> None:
    message = await refused(http, body(labels=labels))
    assert message.startswith(f"Invalid value at '{path}': "), message


async def test_an_empty_model_is_refused(http: httpx.AsyncClient) -> None:
    message = await refused(http, body(model=""))
    assert message.startswith("Invalid value at 'model' (\"\")"), message


# -- what must be accepted --------------------------------------------------------------------

#: Every documented option of a model body at once (``continuation_token`` aside: this server
#: never returns ``requires_continuation``; agent bodies: Google's endpoint only).
FULL_OPTIONS: dict[str, Any] = {
    "system_instruction": "Be brief.",
    "tools": [
        FN | {"description": "a function"},
        {"type": "google_search", "search_types": ["web_search", "image_search"]},
        {"type": "google_maps", "enable_widget": True, "latitude": 48.8, "longitude": 2.3},
        {"type": "url_context"},
        {"type": "code_execution"},
        {"type": "file_search", "file_search_store_names": ["s"], "metadata_filter": "a=1", "top_k": 3},
        {"type": "mcp_server", "name": "m", "url": "https://mcp.example", "headers": {"a": "b"},
         "allowed_tools": [{"mode": "auto", "tools": ["t"]}]},
        {"type": "computer_use", "environment": "browser", "excluded_predefined_functions": ["x"],
         "disabled_safety_policies": ["account_creation"], "enable_prompt_injection_detection": True},
        {"type": "retrieval", "retrieval_types": ["rag_store"],
         "vertex_ai_search_config": {"datastores": ["d"], "engine": "e"},
         "rag_store_config": {"rag_resources": [{"rag_corpus": "c", "rag_file_ids": ["f"]}],
                              "rag_retrieval_config": {"top_k": 2, "filter": {
                                  "metadata_filter": "a", "vector_distance_threshold": 0.5,
                                  "vector_similarity_threshold": 0.5}, "hybrid_search": {"alpha": 0.5},
                                  "ranking": {"ranking_config": "rank_service",
                                              "rank_service": {"model_name": "r"}, "model_name": "r"}}},
         "exa_ai_search_config": {"api_key": "k", "custom_config": {"a": 1}},
         "parallel_ai_search_config": {"api_key": "k", "custom_config": {}}},
    ],
    "generation_config": {
        "max_output_tokens": 256, "seed": 7, "stop_sequences": ["END"], "temperature": 0.2,
        "top_p": 0.9, "thinking_level": "low", "thinking_summaries": "auto",
        "tool_choice": {"allowed_tools": {"mode": "validated", "tools": ["f"]}},
        "speech_config": [{"voice": "v", "language": "en", "speaker": "s"}],
        "image_config": {"aspect_ratio": "16:9", "image_size": "1K"},
        "video_config": {"task": "text_to_video"},
        "transcription_config": {"language_codes": ["en"], "custom_vocabulary": ["x"], "mode": {
            "type": "verbatim", "diarization_mode": "on", "timestamp_granularities": ["word"]}},
    },
    "response_format": [
        {"type": "text", "mime_type": "application/json", "schema": {"type": "object"}},
        {"type": "image", "mime_type": "image/jpeg", "aspect_ratio": "1:1", "image_size": "512",
         "delivery": "inline"},
        {"type": "audio", "mime_type": "audio/wav", "sample_rate": 24000, "bit_rate": 64000,
         "delivery": "uri"},
        {"type": "video", "aspect_ratio": "9:16", "resolution": "720p", "duration": "5s",
         "delivery": "uri", "gcs_uri": "gs://b/v"},
    ],
    "labels": {"thread": "t-1", "team": ""},
    "safety_settings": [{"type": "harassment", "threshold": "block_only_high", "method": "severity"}],
    "service_tier": "flex",
    "webhook_config": {"uris": ["https://hook.example"], "user_metadata": {"a": 1}},
    "environment": {"type": "remote", "environment_id": "e", "env": {"A": "1", "B": {"value": "2"}},
                    "network": {"allowlist": [{"domain": "example.com", "credential": "c",
                                               "transform": {"h": "v"}}]},
                    "sources": [{"type": "inline", "source": "s", "target": "t", "content": "c",
                                 "encoding": "utf-8"}]},
    "cached_content": "cachedContents/abc",
    "store": True,
    "background": False,
    "stream": False,
}
MEDIA = [
    {"type": "text", "text": "look", "annotations": [{"type": "url_citation", "url": "u", "title": "t",
                                                       "start_index": 0, "end_index": 4}]},
    {"type": "image", "uri": "gs://b/i.png", "mime_type": "image/png", "resolution": "high"},
    {"type": "audio", "uri": "gs://b/a.wav", "mime_type": "audio/wav", "sample_rate": 16000, "channels": 1},
    {"type": "document", "uri": "gs://b/d.pdf", "mime_type": "application/pdf"},
    {"type": "video", "uri": "gs://b/v.mp4", "mime_type": "video/mp4", "resolution": "low", "name": "v",
     "processing": {"type": "static", "fps": 1.0, "start_offset": "0s", "end_offset": "5s"}},
]


async def test_a_body_with_every_option_is_accepted_and_echoed(http: httpx.AsyncClient) -> None:
    first = await http.post(CREATE, json=body())
    assert first.status_code == 200, first.text
    sent = {"model": MODEL, "previous_interaction_id": first.json()["id"],
            "input": [{"type": "user_input", "content": MEDIA}], **FULL_OPTIONS}
    created = await http.post(CREATE, json=sent)
    assert created.status_code == 200, created.text
    got = (await http.get(f"{CREATE}/{created.json()['id']}")).json()
    assert got["status"] == "completed", got
    for key in (*ECHOED_CONFIG, "labels", "previous_interaction_id", "model"):
        assert got.get(key) == sent.get(key), key
    assert got["steps"][0] == sent["input"][0]  # the turn's input leads its timeline


async def test_deprecated_response_fields_are_mapped_onto_response_format(http: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    cases = [
        (body(response_mime_type="application/json"), {"type": "text", "mime_type": "application/json"}),
        (body(response_mime_type="application/json", response_format=schema),
         {"type": "text", "mime_type": "application/json", "schema": schema}),
        (body(response_mime_type="text/plain", response_format={"type": "text"}),
         {"type": "text", "mime_type": "text/plain"}),
        (body(response_modalities=["text", "image"]), [{"type": "text"}, {"type": "image"}]),
    ]
    for sent, expected in cases:
        created = await http.post(CREATE, json=sent)
        assert created.status_code == 200, created.text
        got = (await http.get(f"{CREATE}/{created.json()['id']}")).json()
        assert got["response_format"] == expected
        assert "response_mime_type" not in got and "response_modalities" not in got


@pytest.mark.parametrize(("sent", "named"), [
    (body(response_mime_type="image/png"), "response_mime_type"),
    (body(response_mime_type="application/json",
          response_format={"type": "text", "mime_type": "text/plain"}), "response_mime_type"),
    (body(response_modalities=["document"]), "response_modalities[0]"),
])  # fmt: skip
async def test_unmappable_deprecated_fields_are_refused_with_a_pointer(
    http: httpx.AsyncClient, sent: dict[str, Any], named: str
) -> None:
    message = await refused(http, sent)
    assert named in message and "response_format" in message, message


# -- leniency, as an explicit option ----------------------------------------------------------


async def test_lenient_requests_drop_unknown_names_and_log_them(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    svc = await InteractionService.open(f"sqlite:///{tmp_path}/lenient.db", registry(),
                                        lenient_requests=True)  # fmt: skip
    try:
        with caplog.at_level(logging.WARNING, logger="interstate.server.strict"):
            sent = body(future_field=1, generation_config={"seed": 1, "newer_knob": True})
            created = await svc.create("t", sent)
        assert isinstance(created, dict) and created["status"] == "completed"
        assert created["generation_config"] == {"seed": 1}
        logged = caplog.text
        assert 'Unknown name "future_field"' in logged and 'Unknown name "newer_knob"' in logged
        assert sent["generation_config"] == {"seed": 1, "newer_knob": True}  # the caller's dict
        with pytest.raises(ServiceError, match="labels.Bad"):  # rules still hold
            await svc.create("t", body(labels={"Bad": "x"}))
    finally:
        await svc.close()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_lenient_requests_flag_and_env(tmp_path: Any, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--provider", "scripted", "--no-auth"]
    if how == "flag":
        args.append("--lenient-requests")
    else:
        monkeypatch.setenv("INTERSTATE_LENIENT_REQUESTS", "1")
    log = tmp_path / "server.log"
    with ServerProcess(tmp_path / "s.db", args, log).start() as server:
        r = httpx.post(server.url + CREATE, json=body(sytem_instruction="typo"), timeout=30)
        assert r.status_code == 200, r.text
        strict = httpx.post(server.url + CREATE, json=body(labels={"Bad": "x"}), timeout=30)
        assert strict.status_code == 400
    assert 'Unknown name "sytem_instruction"' in log.read_text()


# -- every step, content and annotation type ---------------------------------------------------

TEXT = {"type": "text", "text": "cited", "annotations": [
    {"type": "url_citation", "url": "u", "title": "t", "start_index": 0, "end_index": 1},
    {"type": "file_citation", "document_uri": "d", "file_name": "f", "page_number": 1},
    {"type": "place_citation", "place_id": "p", "name": "n", "review_snippets": [{"review_id": "r"}]},
    {"type": "speech_metadata", "speaker": "s", "style": "calm"},
    {"type": "word_info", "text": "w", "speaker": "s", "start_offset": "0s", "end_offset": "1s"},
]}  # fmt: skip
IMAGE = {"type": "image", "data": "aGk=", "mime_type": "image/png"}
EVERY_STEP: list[dict[str, Any]] = [
    {"type": "user_input", "content": [TEXT, *MEDIA[1:]]},
    {"type": "thought", "signature": "c2ln", "summary": [{"type": "text", "text": "hm"}]},
    {"type": "model_output", "content": [{"type": "text", "text": "out"}, IMAGE]},
    {"type": "function_call", "id": "c1", "name": "f", "arguments": {"a": 1}},
    {"type": "function_result", "call_id": "c1", "name": "f", "result": {"ok": True}, "is_error": False},
    {"type": "code_execution_call", "id": "c2", "arguments": {"code": "print(1)", "language": "python"}},
    {"type": "code_execution_result", "call_id": "c2", "result": "1"},
    {"type": "google_search_call", "id": "c3", "arguments": {"queries": ["q"]}, "search_type": "web_search"},
    {"type": "google_search_result", "call_id": "c3", "result": [{"search_suggestions": "s"}]},
    {"type": "google_maps_call", "id": "c4", "arguments": {"queries": ["q"]}},
    {"type": "google_maps_result", "call_id": "c4", "result": [{"places": [{"place_id": "p"}],
                                                                "widget_context_token": "w"}]},
    {"type": "url_context_call", "id": "c5", "arguments": {"urls": ["https://example.com"]}},
    {"type": "url_context_result", "call_id": "c5", "result": [{"url": "u", "status": "success"}]},
    {"type": "file_search_call", "id": "c6"},
    {"type": "file_search_result", "call_id": "c6"},
    {"type": "mcp_server_tool_call", "id": "c7", "name": "t", "server_name": "s", "arguments": {}},
    {"type": "mcp_server_tool_result", "call_id": "c7", "name": "t", "server_name": "s", "result": "r"},
    {"type": "retrieval_call", "id": "c8", "arguments": {"queries": ["q"]}, "retrieval_type": "rag_store"},
    {"type": "retrieval_result", "call_id": "c8", "is_error": False},
    {"type": "processing_call", "id": "c9"},
    {"type": "processing_result", "call_id": "c9"},
    {"type": "user_input", "content": [{"type": "text", "text": "and now?"}]},
]


async def test_every_step_content_and_annotation_type_is_accepted_and_echoed(http: httpx.AsyncClient) -> None:
    assert {s["type"] for s in EVERY_STEP} == set(sdk_models.tags(sdk_models.sdk.Step))
    created = await http.post(CREATE, json=body(input=EVERY_STEP))
    assert created.status_code == 200, created.text
    assert [s["type"] for s in created.json()["steps"]] == ["model_output"]
    got = (await http.get(f"{CREATE}/{created.json()['id']}")).json()
    assert got["steps"][: len(EVERY_STEP)] == EVERY_STEP
    assert [s["type"] for s in got["steps"][len(EVERY_STEP):]] == ["model_output"]


@pytest.mark.parametrize("block", MEDIA, ids=[m["type"] for m in MEDIA])
async def test_one_bare_content_block_of_every_type_is_an_input(
    http: httpx.AsyncClient, block: dict[str, Any]
) -> None:
    """A bare block is walked as its own type (audio's ``sample_rate`` was once refused as a
    text block's unknown name)."""
    created = await http.post(CREATE, json=body(input=block))
    assert created.status_code == 200, created.text
    got = (await http.get(f"{CREATE}/{created.json()['id']}")).json()
    assert got["steps"][0] == {"type": "user_input", "content": [block]}


async def test_a_recorded_turns_stream_carries_content_deltas_and_whole_tool_steps(
    http: httpx.AsyncClient,
) -> None:
    recorded = await http.post("/v1beta/interstate/record", json={
        "model": MODEL, "input": EVERY_STEP[:1], "steps": EVERY_STEP[1:-1]})  # fmt: skip
    assert recorded.status_code == 200, recorded.text
    r = await http.get(f"{CREATE}/{recorded.json()['id']}", params={"stream": "true"})
    events = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")]
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "interaction.created" and kinds[-2:] == ["interaction.status_update",
                                                                "interaction.completed"]
    deltas = {e["delta"]["type"] for e in events if e["event_type"] == "step.delta"}
    assert deltas == {"thought_summary", "thought_signature", "text", "image"}
    whole = [e["step"] for e in events if e["event_type"] == "step.start"][2:]
    assert whole == EVERY_STEP[3:-1]  # tool steps: one step.start with the whole step, no deltas
    assert kinds.count("step.stop") == kinds.count("step.start") == len(EVERY_STEP) - 2
