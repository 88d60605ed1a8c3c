"""The OpenAPI document of the server, built from the same pydantic wire types it validates with.

The create body's schema is as strict as the server (``strict``): its components (named
``Request.<Model>``) refuse properties they do not declare, list the enumerations of
``strict.ENUMS``, and their unions are closed (no ``Unknown*`` member; interstate's
``interstate_quote`` input block is its own component). The response components stay as
lenient as the wire types, so a client parsing with them keeps what a newer server sends.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import interstate.types as wire
from interstate.types._base import TypedModel
from interstate.server import openapi_params as params
from interstate.server.openapi_params import (
    EVENT_ID, FILTER, IDEMPOTENCY_KEY, PAGE_SIZE, PAGE_TOKEN, bounded_name, choice, param,
)
from interstate.server.strict import ENUMS, FORMAT_TYPES, enum_for
from interstate.types import (
    CreateInteractionRequest,
    ErrorBody,
    Interaction,
)

_REQUEST = "Request."
_QUOTE = "InterstateQuote"
#: Values of an enum that the server refuses (``strict.map_deprecated``), so the schema omits them.
_SERVED_ENUMS = {"response_modalities": FORMAT_TYPES,
                 "response_mime_type": ENUMS[("TextResponseFormat", "mime_type")]}


#: One server-sent event: its ``data`` is the JSON text of an Interactions API event.
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"},
                   "retry": {"type": "integer"}},
}  # fmt: skip


def _op(summary: str, response: str, *, body: str | None = None, params: list[Any] | None = None,
        stream: bool = False, description: str | None = None) -> dict[str, Any]:  # fmt: skip
    content: dict[str, Any] = {"application/json": {"schema": {"$ref": response}}}
    if stream:  # before OpenAPI 3.2 (itemSchema), an event stream's schema is one event's
        content["text/event-stream"] = {"schema": _SSE_EVENT}
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [
            {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
             "example": "v1"},
            *(params or []),
        ],  # fmt: skip
        "responses": {
            "200": {"description": "OK", "content": content},
            "default": {
                "description": "Error (Google-shaped body)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            },
        },
    }
    if description:
        op["description"] = description
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": body}}}}
    return op


def _param(name: str, where: str = "query", type_: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": {"type": type_}}


def _close(schema: Any, ref: str) -> Any:
    """``schema`` with its unions closed: ``Unknown*`` members dropped, except unknown content,
    which becomes interstate's own ``interstate_quote`` block."""
    if isinstance(schema, list):
        kept = [_close(item, ref) for item in schema]
        return [item for item in kept if item is not None]
    if not isinstance(schema, dict):
        return schema
    target = schema.get("$ref", "")
    if target.startswith(ref + _REQUEST + "Unknown"):
        return {"$ref": ref + _REQUEST + _QUOTE} if target.endswith("UnknownContent") else None
    return {key: _close(value, ref) for key, value in schema.items()}


def _enum(schema: dict[str, Any], values: tuple[str, ...]) -> None:
    """Put ``values`` on the string branches of a property's schema (not into ``$ref``s)."""
    if schema.get("type") == "string":
        schema["enum"] = list(values)
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            _enum(branch, values)
    if isinstance(schema.get("items"), dict):
        _enum(schema["items"], values)


def _strict(schema: dict[str, Any], model: type[BaseModel] | None) -> dict[str, Any]:
    schema = {**schema, "additionalProperties": False}
    if model is not None and issubclass(model, TypedModel):  # the server picks the variant by it
        schema["required"] = sorted({*schema.get("required", []), "type"})
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        values = _SERVED_ENUMS.get(name) if model is CreateInteractionRequest else None
        values = values or (enum_for(model, name) if model is not None else None)
        if values:
            _enum(prop, values)
    return schema


def request_schemas(ref: str) -> dict[str, Any]:
    """The components of the create body, as strict as ``strict.check_create_body``."""
    top = CreateInteractionRequest.model_json_schema(ref_template=ref + _REQUEST + "{model}")
    defs = top.pop("$defs")
    components = {
        _REQUEST + name: _strict(schema, getattr(wire, name, None))
        for name, schema in defs.items()
        if not name.startswith("Unknown")
    }
    body = _strict(top, CreateInteractionRequest)
    properties = body["properties"]
    # The rules between fields (``CreateInteractionRequest.check``, ``service.parse_create``):
    # a model or one of this server's agents (an unknown one is a 404), never both; no
    # agent_config (this server's agents take none); generation_config and cached_content only
    # with a model; an agent turn is stored; no continuation token; background only for a
    # stored interaction.
    components.update(params.record_schemas(properties, properties["agent_config"]))
    name = {"type": "string", "minLength": 1}
    none = {"type": "null"}
    properties["model"] = {"anyOf": [name, none], "title": "Model"}
    properties["agent"] = {"anyOf": [name, none], "title": "Agent"}
    properties["agent_config"] = none
    properties["continuation_token"] = {"anyOf": [none, {"type": "string", "maxLength": 0}]}
    properties["labels"] = {"anyOf": [{"$ref": ref + "InterstateLabels"}, none]}
    body["oneOf"] = [
        {"required": ["model"], "properties": {"model": name, "agent": none}},
        {"required": ["agent"], "properties": {"agent": name, "model": none, "generation_config": none,
                                               "cached_content": none, "store": {"not": {"const": False}}}},
    ]  # fmt: skip
    body["not"] = {"required": ["store", "background"],
                   "properties": {"store": {"const": False}, "background": {"const": True}}}
    components["CreateInteractionRequest"] = body
    components[_REQUEST + _QUOTE] = {
        "type": "object",
        "description": "interstate extension: text an earlier interaction holds, by reference",
        "properties": {"type": {"const": "interstate_quote"},
                       "interaction_id": {"type": "string", "minLength": 1},
                       "start": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
                       "end": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}},
        "required": ["type", "interaction_id"],
        "additionalProperties": False,
    }  # fmt: skip
    return _close(components, ref)


def _overlapping(schema: Any) -> Any:
    """``schema`` with every ``oneOf`` made an ``anyOf``: a response's unions are open (an
    ``Unknown*`` member takes any tag), so a value can match a known member and the unknown one,
    which ``oneOf`` forbids (a list of steps also reads as a list of unknown content blocks)."""
    if isinstance(schema, list):
        return [_overlapping(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {("anyOf" if key == "oneOf" else key): _overlapping(value) for key, value in schema.items()}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    ref = "#/components/schemas/"
    _, schemas = models_json_schema(
        [(m, "validation") for m in (Interaction, ErrorBody)], ref_template=ref + "{model}"
    )
    interaction_id = _param("interaction_id", "path", required=True)
    any_object = {"type": "object", "additionalProperties": True}
    components = {**_overlapping(schemas.get("$defs", {})), **request_schemas(ref), **params.components(),
                  "AnyObject": any_object}
    obj = ref + "AnyObject"
    boolean = {"type": "boolean"}
    patch = ref + "NulFreeObject"
    paths = {
        "/{version}/interactions": {
            "post": _op("Create an interaction", ref + "Interaction",
                        body=ref + "CreateInteractionRequest", stream=True, params=[
                            # interstate extensions (docs/server.md, Semantics)
                            param("x-interstate-idempotency-key", IDEMPOTENCY_KEY, "header"),
                            _param("x-interstate-inherit-config", "header", "boolean")]),
        },
        "/{version}/interactions/{interaction_id}": {
            "get": _op("Get an interaction", ref + "Interaction", stream=True, params=[
                interaction_id, param("stream", boolean), param("include_input", boolean),
                param("last_event_id", {"type": "string", "pattern": EVENT_ID})],
                description="last_event_id is taken with stream=true only, and must be an event "
                            "id of this interaction (400 otherwise)."),
            "delete": _op("Delete an interaction", obj, params=[interaction_id]),
        },
        "/{version}/interactions/{interaction_id}/cancel": {
            "post": _op("Cancel a queued or running interaction", ref + "Interaction",
                        params=[interaction_id],
                        description="A finished interaction is not cancelled: 400 FAILED_PRECONDITION."),
        },
        "/{version}/agents": {
            "get": _op("List the agents registered on this server", obj, params=[
                param("page_size", PAGE_SIZE), _param("page_token"), _param("parent")]),
        },
        "/{version}/interstate/agents": {
            "get": _op("interstate: the registered agents and their kinds", obj),
        },
        "/{version}/interstate/record": {
            "post": _op("interstate: record turns without calling a model", obj,
                        body=ref + "InterstateRecord"),
        },
        "/{version}/interstate/interactions": {
            "get": _op("interstate: list interactions", obj, params=[
                param("label", FILTER), param("metadata", FILTER), _param("status"),
                _param("previous_interaction_id"), _param("root_interaction_id"),
                param("leaves", choice("true", "false")), param("order", choice("asc", "desc")),
                param("page_size", PAGE_SIZE), param("page_token", {"type": "string", "pattern": PAGE_TOKEN}),
                param("include_input", choice("true", "false"))]),
        },
        "/{version}/interstate/interactions/{interaction_id}": {
            "get": _op("interstate: one interaction with metadata", obj, params=[interaction_id]),
        },
        "/{version}/interstate/interactions/{interaction_id}/chain": {
            "get": _op("interstate: the chain from the root", obj, params=[interaction_id]),
        },
        "/{version}/interstate/interactions/{interaction_id}/metadata": {
            "patch": _op("interstate: merge-patch metadata", obj, body=patch, params=[interaction_id]),
        },
        "/{version}/interstate/export": {
            "get": _op("interstate: export trees as JSON Lines", obj, params=[_param("id", required=True)]),
        },
        "/{version}/interstate/import": {
            "post": _op("interstate: import JSON Lines", obj),
        },
        "/{version}/interstate/embeddings": {
            "post": _op("interstate: attach embeddings to interactions", obj,
                        body=ref + "InterstateEmbeddings"),
        },
        "/{version}/interstate/search": {
            "post": _op("interstate: search by labels, metadata and vector similarity", obj,
                        body=ref + "InterstateSearch"),
        },
        "/{version}/interstate/delete": {
            "post": _op("interstate: delete every interaction matching filters", obj,
                        body=ref + "InterstateDelete"),
        },
        "/{version}/interstate/batch": {
            "post": _op("interstate: apply record/metadata/delete/ref operations atomically", obj,
                        body=ref + "InterstateBatch"),
        },
        "/{version}/interstate/refs": {
            "get": _op("interstate: read refs by name or prefix", obj, params=[
                param("name", bounded_name()), _param("prefix"),
                param("resolve", choice("true", "false", "chain")), param("page_size", PAGE_SIZE),
                _param("page_token")],
                description="Name refs (name=..., repeatable) or a prefix (prefix=...): 400 without either."),
        },
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "interstate", "version": "1", "description":
                 "The Gemini Interactions API on a database you own, plus interstate extensions."},
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"}},
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }  # fmt: skip
