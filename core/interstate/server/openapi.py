"""The OpenAPI document of the server, built from the same pydantic wire types it validates with."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from interstate.types import CreateInteractionRequest, ErrorBody, Interaction


def _op(summary: str, response: str, *, body: str | None = None, params: list[Any] | None = None,
        stream: bool = False) -> dict[str, Any]:  # fmt: skip
    content: dict[str, Any] = {"application/json": {"schema": {"$ref": response}}}
    if stream:
        content["text/event-stream"] = {"schema": {"type": "string"}}
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
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": body}}}}
    return op


def _param(name: str, where: str = "query", type_: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": {"type": type_}}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(m, "validation") for m in (CreateInteractionRequest, Interaction, ErrorBody)],
        ref_template="#/components/schemas/{model}",
    )
    ref = "#/components/schemas/"
    interaction_id = _param("interaction_id", "path", required=True)
    any_object = {"type": "object", "additionalProperties": True}
    schemas["$defs"] = schemas.get("$defs", {})
    components = {**schemas.pop("$defs"), "AnyObject": any_object}
    obj = ref + "AnyObject"
    paths = {
        "/{version}/interactions": {
            "post": _op("Create an interaction", ref + "Interaction",
                        body=ref + "CreateInteractionRequest", stream=True, params=[
                            # interstate extensions (docs/server.md, Semantics)
                            _param("x-interstate-idempotency-key", "header"),
                            _param("x-interstate-inherit-config", "header", "boolean")]),
        },
        "/{version}/interactions/{interaction_id}": {
            "get": _op("Get an interaction", ref + "Interaction", stream=True, params=[
                interaction_id, _param("stream", type_="boolean"),
                _param("include_input", type_="boolean"), _param("last_event_id")]),
            "delete": _op("Delete an interaction", obj, params=[interaction_id]),
        },
        "/{version}/interactions/{interaction_id}/cancel": {
            "post": _op("Cancel a queued or running interaction", ref + "Interaction",
                        params=[interaction_id]),
        },
        "/{version}/interstate/record": {
            "post": _op("interstate: record turns without calling a model", obj, body=obj),
        },
        "/{version}/interstate/interactions": {
            "get": _op("interstate: list interactions", obj, params=[
                _param("label"), _param("metadata"), _param("status"),
                _param("previous_interaction_id"), _param("root_interaction_id"),
                _param("leaves", type_="boolean"), _param("order"),
                _param("page_size", type_="integer"), _param("page_token"),
                _param("include_input", type_="boolean")]),
        },
        "/{version}/interstate/interactions/{interaction_id}": {
            "get": _op("interstate: one interaction with metadata", obj, params=[interaction_id]),
        },
        "/{version}/interstate/interactions/{interaction_id}/chain": {
            "get": _op("interstate: the chain from the root", obj, params=[interaction_id]),
        },
        "/{version}/interstate/interactions/{interaction_id}/metadata": {
            "patch": _op("interstate: merge-patch metadata", obj, body=obj, params=[interaction_id]),
        },
        "/{version}/interstate/export": {
            "get": _op("interstate: export trees as JSON Lines", obj, params=[_param("id", required=True)]),
        },
        "/{version}/interstate/import": {
            "post": _op("interstate: import JSON Lines", obj),
        },
        "/{version}/interstate/embeddings": {
            "post": _op("interstate: attach embeddings to interactions", obj, body=obj),
        },
        "/{version}/interstate/search": {
            "post": _op("interstate: search by labels, metadata and vector similarity", obj, body=obj),
        },
        "/{version}/interstate/delete": {
            "post": _op("interstate: delete every interaction matching filters", obj, body=obj),
        },
        "/{version}/interstate/batch": {
            "post": _op("interstate: apply record/metadata/delete/ref operations atomically", obj,
                        body=obj),
        },
        "/{version}/interstate/refs": {
            "get": _op("interstate: read refs by name or prefix", obj, params=[
                _param("name"), _param("prefix"), _param("resolve", type_="boolean"),
                _param("page_size", type_="integer"), _param("page_token")]),
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
