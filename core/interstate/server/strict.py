"""Request strictness: a create body is checked, field by field, before anything else reads it.

The wire types (``interstate.types``) are deliberately lenient: they keep unknown fields and
parse unknown union tags into ``Unknown*`` models, so a client reading a newer server's response
loses nothing. A server must not be lenient the same way: a typo (``sytem_instruction``,
``generation_config.temprature``) silently dropped runs a different turn than the caller asked
for. So the server walks a create body against the same models and answers what Google's JSON
APIs answer (400 ``INVALID_ARGUMENT``):

* a name no model declares: ``Invalid JSON payload received. Unknown name "temprature" at
  'generation_config': Cannot find field.`` (at any depth: tools, steps, content, ...);
* a value outside an enumeration of the reference (``ENUMS``), or a ``type`` tag no variant of a
  union has: ``Invalid value at 'service_tier' ("ultra"); expected one of: ...``;
* a bad label: ``Invalid value at 'labels.<key>': ...``; an empty ``model`` or ``agent``.

Open or closed, decided per union (docs/spec-coverage.md): every union of a *request* is closed
(the server can only serve what it knows), except interstate's own input block
``interstate_quote`` (``EXTENSION_CONTENT_TYPES``), which ``quotes`` resolves. Free-form values
stay free: function ``parameters``, ``response_format.schema``, call ``arguments``, ``result``
objects, ``webhook_config.user_metadata``, ``custom_config``, ``metadata_filter``.

The deprecated ``response_mime_type`` and ``response_modalities`` are mapped onto
``response_format`` (which is then echoed), never ignored (``map_deprecated``).

``lenient=True`` (``interstate serve --lenient-requests``) is for clients newer than the server:
unknown names are dropped and unknown values kept, each logged as a warning, instead of refused.
"""

from __future__ import annotations

import copy
import json
import logging
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Discriminator, Tag

from interstate.server.errors import invalid_argument
from interstate.server.inputs import QUOTE_CHARS
from interstate.types import MAX_LABELS, CreateInteractionRequest, validate_labels
from interstate.types._base import UnknownVariant
from interstate.types.content import EXTENSION_CONTENT_TYPES

log = logging.getLogger("interstate.server.strict")

_MEDIA_RESOLUTION = ("low", "medium", "high", "ultra_high")
_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "1:8",
                  "8:1", "1:4", "4:1")  # fmt: skip
_IMAGE_SIZES = ("512", "1K", "2K", "4K")
_DELIVERY = ("inline", "uri")
_TOOL_CHOICE = ("auto", "any", "none", "validated")
_SEARCH_TYPES = ("web_search", "image_search", "enterprise_web_search")
_RETRIEVAL_TYPES = ("vertex_ai_search", "rag_store", "exa_ai_search", "parallel_ai_search")
_SUMMARIES = ("auto", "none")
_MODALITIES = ("text", "image", "audio", "video", "document")
_AUDIO_MIME = ("audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac",
               "audio/mpeg", "audio/m4a", "audio/l16", "audio/opus", "audio/alaw", "audio/mulaw",
               "audio/webm")  # fmt: skip

#: The enumerations of the wire reference, by (wire model, field): a string value (or each
#: string of a list) must be one of these. The names are interstate's models (``types``);
#: tests/server/test_conformance_fields.py checks each against the SDK's own ``Literal``.
#: ``model`` and ``agent`` are open enums (any model id a provider serves), so they are absent.
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("InteractionFields", "service_tier"): ("flex", "standard", "priority", "deferred"),
    ("InteractionFields", "response_modalities"): _MODALITIES,
    ("SafetySetting", "type"): (
        "hate_speech", "dangerous_content", "harassment", "sexually_explicit", "civic_integrity",
        "image_hate", "image_dangerous_content", "image_harassment", "image_sexually_explicit",
        "jailbreak"),
    ("SafetySetting", "threshold"): (
        "block_low_and_above", "block_medium_and_above", "block_only_high", "block_none", "off"),
    ("SafetySetting", "method"): ("severity", "probability"),
    ("GenerationConfig", "thinking_level"): ("minimal", "low", "medium", "high", "xhigh"),
    ("GenerationConfig", "thinking_summaries"): _SUMMARIES,
    ("GenerationConfig", "tool_choice"): _TOOL_CHOICE,
    ("AllowedTools", "mode"): _TOOL_CHOICE,
    ("ImageConfig", "aspect_ratio"): _ASPECT_RATIOS,
    ("ImageConfig", "image_size"): _IMAGE_SIZES,
    ("VideoConfig", "task"): (
        "text_to_video", "image_to_video", "reference_to_video", "edit", "extend", "upscale"),
    ("TranscriptionConfig", "mode"): ("verbatim", "smart"),
    ("TextResponseFormat", "mime_type"): ("application/json", "text/plain"),
    ("ImageResponseFormat", "mime_type"): ("image/jpeg",),
    ("ImageResponseFormat", "aspect_ratio"): _ASPECT_RATIOS,
    ("ImageResponseFormat", "image_size"): _IMAGE_SIZES,
    ("ImageResponseFormat", "delivery"): _DELIVERY,
    ("AudioResponseFormat", "mime_type"): (
        "audio/mp3", "audio/ogg_opus", "audio/l16", "audio/wav", "audio/alaw", "audio/mulaw"),
    ("AudioResponseFormat", "delivery"): _DELIVERY,
    ("VideoResponseFormat", "aspect_ratio"): ("16:9", "9:16"),
    ("VideoResponseFormat", "resolution"): ("360p", "720p", "1080p", "4k"),
    ("VideoResponseFormat", "delivery"): _DELIVERY,
    ("ImageContent", "mime_type"): ("image/png", "image/jpeg", "image/webp", "image/heic",
                                    "image/heif", "image/gif", "image/bmp", "image/tiff"),
    ("ImageContent", "resolution"): _MEDIA_RESOLUTION,
    ("AudioContent", "mime_type"): _AUDIO_MIME,
    ("DocumentContent", "mime_type"): (
        "application/pdf", "text/csv",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-powerpoint", "application/vnd.oasis.opendocument.presentation",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel", "application/vnd.oasis.opendocument.spreadsheet"),
    ("VideoContent", "mime_type"): ("video/mp4", "video/mpeg", "video/mpg", "video/mov",
                                    "video/avi", "video/x-flv", "video/webm", "video/wmv",
                                    "video/3gpp"),
    ("VideoContent", "resolution"): _MEDIA_RESOLUTION,
    ("VideoContent", "processing"): ("static", "agentic"),
    ("GoogleSearchTool", "search_types"): _SEARCH_TYPES,
    ("ComputerUseTool", "environment"): ("browser", "mobile", "desktop"),
    ("ComputerUseTool", "disabled_safety_policies"): (
        "financial_transactions", "sensitive_data_modification", "communication_tool",
        "account_creation", "data_modification", "user_consent_management",
        "legal_terms_and_agreements"),
    ("RetrievalTool", "retrieval_types"): _RETRIEVAL_TYPES,
    ("Ranking", "ranking_config"): ("rank_service",),
    ("DeepResearchAgentConfig", "thinking_summaries"): _SUMMARIES,
    ("DeepResearchAgentConfig", "visualization"): ("off", "auto"),
    ("FindRequest", "mode"): ("scan", "verify"),
    ("Environment", "network"): ("disabled",),
    ("EnvironmentNetworkEgressAllowlist", "allowlist"): ("disabled",),
    ("Source", "type"): ("gcs", "inline", "repository", "skill_registry"),
    ("CodeExecutionCallArguments", "language"): ("python", "bash"),
    ("GoogleSearchCallStep", "search_type"): _SEARCH_TYPES,
    ("RetrievalCallStep", "retrieval_type"): _RETRIEVAL_TYPES,
    ("URLContextResult", "status"): ("success", "error", "paywall", "unsafe"),
}  # fmt: skip


#: The fields of interstate's ``interstate_quote`` input block.
QUOTE_FIELDS = frozenset({"type", "interaction_id", "start", "end"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a body: an ``unknown`` name (dropped when lenient), a bad ``value``."""

    kind: Literal["unknown", "value"]
    message: str


def _shown(value: Any) -> str:
    """A value from the body as JSON (``"ultra"``), cut for an error message."""
    return _short(json.dumps(value, ensure_ascii=False))


def _short(text: str) -> str:
    """A name from the body, cut for an error message (which must not echo a huge value)."""
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "..."


def _at(path: str) -> str:
    return f" at '{path}'" if path else ""


def enum_for(model: type[BaseModel], field: str) -> tuple[str, ...] | None:
    """The enumeration of ``model.field`` (inherited along the model's bases), if it has one."""
    for cls in model.__mro__:
        values = ENUMS.get((cls.__name__, field))
        if values is not None:
            return values
    return None


def _strip(tp: Any) -> Any:
    """``tp`` without ``Annotated`` metadata (keeping a discriminated union whole)."""
    while get_origin(tp) is Annotated and not _discriminator(tp):
        tp = get_args(tp)[0]
    return tp


def _discriminator(tp: Any) -> Discriminator | None:
    if get_origin(tp) is not Annotated:
        return None
    return next((m for m in get_args(tp)[1:] if isinstance(m, Discriminator)), None)


def _kinds(tp: Any) -> frozenset[str]:
    """The JSON kinds a type takes: ``object``, ``array``, ``string``, ``scalar`` or ``any``."""
    tp = _strip(tp)
    origin = get_origin(tp)
    if _discriminator(tp) is not None:  # e.g. ``input``: a string, an object or a list
        return frozenset().union(*(_kinds(get_args(m)[0]) for m in _members(get_args(tp)[0])))
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_kinds(m) for m in _members(tp)))
    if origin is dict or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return frozenset({"object"})
    if origin is list:
        return frozenset({"array"})
    if tp is str:
        return frozenset({"string"})
    return frozenset({"any" if tp is Any else "scalar"})


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "scalar"


def _members(tp: Any) -> list[Any]:
    return [a for a in get_args(tp) if a is not type(None)]


class _Walker:
    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.problems: list[Problem] = []

    def value(self, value: Any, tp: Any, path: str) -> None:
        tp = _strip(tp)
        discriminator = _discriminator(tp)
        if discriminator is not None:
            return self.tagged(value, tp, discriminator, path)
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            kind = _json_kind(value)
            members = _members(tp)
            member = next((m for m in members if kind in _kinds(m)), None) or next(
                (m for m in members if "any" in _kinds(m)), None)  # fmt: skip
            if member is not None:
                self.value(value, member, path)
        elif origin is list and isinstance(value, list):
            for index, item in enumerate(value):
                self.value(item, get_args(tp)[0], f"{path}[{index}]")
        elif origin is dict and isinstance(value, dict):
            for key, item in value.items():
                self.value(item, get_args(tp)[1], f"{path}.{key}")
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(value, dict):
            self.model(value, tp, path)

    def tagged(self, value: Any, tp: Any, discriminator: Discriminator, path: str) -> None:
        """A union whose member a callable picks by tag: ``Unknown*`` members are refused."""
        union = get_args(tp)[0]
        by_tag: dict[str, Any] = {}
        for member in _members(union):
            inner, *metadata = get_args(member)
            tag = next(m.tag for m in metadata if isinstance(m, Tag))
            # A member that is itself a tagged union keeps its discriminator (Annotated flattens).
            rest = [m for m in metadata if not isinstance(m, Tag)]
            by_tag[tag] = Annotated[(inner, *rest)] if rest else inner
        pick = discriminator.discriminator
        models = all(isinstance(m, type) and issubclass(m, BaseModel) for m in by_tag.values())
        if models and isinstance(value, dict) and not isinstance(value.get("type"), str):
            return self.unknown_variant(value, by_tag, path)  # no default variant: name it
        try:
            tag = pick(value) if callable(pick) else value.get(pick)
        except (ValueError, AttributeError):
            return  # a shape the model itself refuses, with its own message
        member = by_tag.get(tag) if isinstance(tag, str) else None
        if isinstance(member, type) and issubclass(member, UnknownVariant):
            if isinstance(value, dict):
                self.unknown_variant(value, by_tag, path)
            return
        if member is not None:
            self.value(value, member, path)

    def unknown_variant(self, value: dict[str, Any], by_tag: dict[str, Any], path: str) -> None:
        tag = value.get("type")
        if isinstance(tag, str) and tag in EXTENSION_CONTENT_TYPES:  # interstate's own input block (quotes.py checks it)
            for key in sorted(value.keys() - QUOTE_FIELDS):
                self.unknown(value, key, path)
            self.quote(value, path)
            return
        known = [t for t, m in by_tag.items() if not issubclass(m, UnknownVariant)]
        where = f"{path}.type" if path else "type"
        shown = "missing" if tag is None else _shown(tag)
        self.problems.append(Problem("value", (
            f"Invalid value at '{where}' ({shown}); expected one of: {', '.join(known)}"
        )))  # fmt: skip

    def model(self, value: dict[str, Any], model: type[BaseModel], path: str) -> None:
        fields = {(info.alias or name): (name, info) for name, info in model.model_fields.items()}
        for key in list(value):
            if key not in fields:
                self.unknown(value, key, path)
                continue
            name, info = fields[key]
            where = f"{path}.{key}" if path else key
            self.enum(value[key], enum_for(model, name), where)
            self.value(value[key], info.annotation, where)

    def quote(self, value: dict[str, Any], path: str) -> None:
        """An ``interstate_quote``: a stored interaction's id, bounds that are counts or null."""
        at = f"{path}." if path else ""
        interaction_id = value.get("interaction_id")
        if not isinstance(interaction_id, str) or not interaction_id:
            self.problems.append(Problem("value", (
                f"Invalid value at '{at}interaction_id' ({_shown(interaction_id)}); an "
                "interstate_quote names a stored interaction by its id")))  # fmt: skip
        for name in ("start", "end"):
            bound = value.get(name)
            whole = type(bound) is int or (type(bound) is float and bound.is_integer())
            if bound is not None and (not whole or bound < 0):
                self.problems.append(Problem("value", (
                    f"Invalid value at '{at}{name}' ({_shown(bound)}); expected an integer >= 0")))

    def unknown(self, value: dict[str, Any], key: str, path: str) -> None:
        """``key`` of ``value`` is a name nothing declares (dropped when lenient)."""
        self.problems.append(Problem("unknown", (
            f'Invalid JSON payload received. Unknown name "{_short(key)}"{_at(path)}: '
            "Cannot find field."
        )))  # fmt: skip
        if self.lenient:
            del value[key]

    def enum(self, value: Any, allowed: tuple[str, ...] | None, path: str) -> None:
        if allowed is None:
            return
        items = [(path, value)] if isinstance(value, str) else [
            (f"{path}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str)
        ] if isinstance(value, list) else []  # fmt: skip
        for where, item in items:
            if item not in allowed:
                self.problems.append(Problem("value", (
                    f"Invalid value at '{where}' ({_shown(item)}); expected one of: "
                    + ", ".join(allowed)
                )))  # fmt: skip


def _labels(labels: Any) -> list[Problem]:
    """The label rules (``validate_labels``), each refusal naming ``labels.<key>``."""
    if not isinstance(labels, dict):
        return []  # not an object: the model refuses it
    if len(labels) > MAX_LABELS:
        message = f"Invalid value at 'labels': {len(labels)} labels, at most {MAX_LABELS}"
        return [Problem("value", message)]
    problems = []
    for key, item in labels.items():
        try:
            validate_labels({key: item})
        except ValueError as exc:
            problems.append(Problem("value", f"Invalid value at 'labels.{_short(key)}': {exc}"))
    return problems


#: The ``type``s of ``response_format`` (and so the ``response_modalities`` that map onto one).
FORMAT_TYPES = ("text", "image", "audio", "video")
_TEXT_MIME = ENUMS[("TextResponseFormat", "mime_type")]


def map_deprecated(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the deprecated ``response_mime_type`` / ``response_modalities`` moved onto
    ``response_format`` (so the turn gets what was asked for, and GET echoes it):

    * ``response_mime_type`` (``application/json`` or ``text/plain``) becomes the ``mime_type`` of
      the text format; a legacy ``response_format`` that is a bare JSON schema becomes its
      ``schema``; a text format with another ``mime_type`` is a conflict (400);
    * each of ``response_modalities`` (text, image, audio, video) gets a format of its type.
    """
    if "response_mime_type" not in body and "response_modalities" not in body:
        return body
    body = dict(body)
    mime = body.pop("response_mime_type", None)
    modalities = body.pop("response_modalities", None)
    given = body.get("response_format")
    formats = list(given) if isinstance(given, list) else [] if given is None else [given]
    pointer = 'response_format (e.g. {"type": "text", "mime_type": "application/json"})'
    if mime is not None:
        if mime not in _TEXT_MIME:
            raise invalid_argument(
                f"Invalid value at 'response_mime_type' ({_shown(mime)}); expected one of: "
                f"{', '.join(_TEXT_MIME)}. response_mime_type is deprecated: send {pointer}"
            )
        if isinstance(given, dict) and given.get("type") not in FORMAT_TYPES:
            formats = [{"type": "text", "mime_type": mime, "schema": given}]  # a bare schema
        texts = [
            i for i, f in enumerate(formats) if isinstance(f, dict) and f.get("type") == "text"
        ]
        for index in texts:
            if formats[index].get("mime_type", mime) != mime:
                raise invalid_argument(
                    f"response_mime_type {_shown(mime)} contradicts response_format's mime_type "
                    f"{_shown(formats[index]['mime_type'])}; response_mime_type is deprecated: "
                    "drop it and keep response_format"
                )
            formats[index] = {**formats[index], "mime_type": mime}
        if not texts:
            formats.append({"type": "text", "mime_type": mime})
    if modalities is not None:
        if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
            raise invalid_argument("response_modalities must be a list of strings")
        for index, modality in enumerate(modalities):
            if modality not in FORMAT_TYPES:
                raise invalid_argument(
                    f"Invalid value at 'response_modalities[{index}]' ({_shown(modality)}); "
                    f"expected one of: {', '.join(FORMAT_TYPES)}. response_modalities is "
                    f"deprecated: send {pointer}"
                )
            if not any(isinstance(f, dict) and f.get("type") == modality for f in formats):
                formats.append({"type": modality})
    if formats:  # both deprecated fields sent as null change nothing
        one = len(formats) == 1 and not isinstance(given, list)
        body["response_format"] = formats[0] if one else formats
    return body


def check_create_body(body: Any, *, lenient: bool = False) -> Any:
    """The create body to run, or a 400 ``ServiceError`` naming the first problem's path.

    ``lenient``: unknown names are dropped (from a copy) and unknown values kept, each logged;
    an empty ``model`` or ``agent``, bad labels and unmappable deprecated fields are refused either way."""
    if not isinstance(body, dict):
        return body  # the model refuses it with its own message
    if body.get("model") == "":
        raise invalid_argument(
            "Invalid value at 'model' (\"\"); name the model that should answer, e.g. "
            '"model": "gemini-3-flash-preview" (a model the server\'s providers serve)'
        )
    if body.get("agent") == "":
        raise invalid_argument(
            "Invalid value at 'agent' (\"\"); name an agent registered on this server "
            "(GET /v1beta/interstate/agents lists them), or pass model=..."
        )
    body = map_deprecated(body)
    walker = _Walker(lenient=False)
    walker.model(body, CreateInteractionRequest, "")
    refused = _labels(body.get("labels"))
    if not lenient:
        refused = walker.problems + refused
    elif walker.problems:
        for problem in walker.problems:
            log.warning("lenient request: %s (%s)", problem.message,
                        "dropped" if problem.kind == "unknown" else "kept")  # fmt: skip
        if any(p.kind == "unknown" for p in walker.problems):
            body = copy.deepcopy(body)
            _Walker(lenient=True).model(body, CreateInteractionRequest, "")
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise invalid_argument(refused[0].message + more)
    return body


def check_value(value: Any, tp: Any, path: str) -> None:
    """A 400 ``ServiceError`` for the first unknown name, value or type in ``value`` of type
    ``tp`` (a recorded turn's ``steps``), as ``check_create_body`` answers for a create."""
    walker = _Walker(lenient=False)
    walker.value(value, tp, path)
    if walker.problems:
        raise invalid_argument(walker.problems[0].message)
