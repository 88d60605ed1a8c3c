"""The OpenAPI document lists every route the app serves, and the create's extension headers."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import openapi_spec_validator
import pytest

from interstate.server.app import routes
from interstate.server.openapi import openapi_document
from interstate.server.strict import ENUMS

from . import test_conformance_fields as fields


def test_every_route_is_documented() -> None:
    paths = openapi_document()["paths"]
    served = set()
    for route in routes():
        for method in route.methods or ():
            if method != "HEAD":
                served.add((route.path, method.lower()))
    served -= {("/healthz", "get"), ("/openapi.json", "get")}
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert served - documented == set()
    assert documented - served == set()
    for path, ops in paths.items():  # path parameters are declared
        for op in ops.values():
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_create_declares_the_extension_headers() -> None:
    create = openapi_document()["paths"]["/{version}/interactions"]["post"]
    headers = {p["name"]: p for p in create["parameters"] if p["in"] == "header"}
    assert set(headers) == {"x-interstate-idempotency-key", "x-interstate-inherit-config"}
    assert headers["x-interstate-inherit-config"]["schema"] == {"type": "boolean"}


def create_body_validator() -> jsonschema.Draft202012Validator:
    document = openapi_document()
    create = document["paths"]["/{version}/interactions"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_the_create_schema_is_valid_openapi_and_accepts_every_documented_option() -> None:
    openapi_spec_validator.validate(openapi_document())
    body = {"model": "scripted", "previous_interaction_id": "v1_x",
            "input": [{"type": "user_input", "content": fields.MEDIA}], **fields.FULL_OPTIONS}
    assert list(create_body_validator().iter_errors(body)) == []
    quote = {"model": "m", "input": [{"type": "text", "text": "a"},
                                     {"type": "interstate_quote", "interaction_id": "v1_x"}]}
    assert list(create_body_validator().iter_errors(quote)) == []


@pytest.mark.parametrize("sent", [
    *(sent for _, sent in fields.UNKNOWN_NAMES),
    *(sent for _, sent in fields.UNKNOWN_TYPES),
    *(fields.placed(model, field, fields.BAD) for model, field in sorted(ENUMS)),
    fields.body(model=""),
    fields.body(labels={f"k{i}": "v" for i in range(65)}),
])  # fmt: skip
def test_the_create_schema_refuses_what_the_server_refuses(sent: dict[str, Any]) -> None:
    assert not create_body_validator().is_valid(sent)


def test_a_stored_interaction_with_its_input_steps_matches_the_response_schema() -> None:
    """Open unions overlap (a step is also an unknown content block), so responses use anyOf."""
    document = openapi_document()
    interaction = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/Interaction", "components": document["components"]})
    got = {"id": "v1_x", "status": "completed", "object": "interaction", "model": "m",
           "input": [{"type": "user_input", "content": [{"type": "text", "text": "hi"}]}],
           "steps": [{"type": "model_output", "content": [{"type": "text", "text": "hello"}]}]}
    assert list(interaction.iter_errors(got)) == []


def test_response_schemas_stay_open() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["Interaction"].get("additionalProperties") is True
    assert "UnknownStep" in schemas  # a newer server's step types still parse
