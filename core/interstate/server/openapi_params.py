"""Schemas of the extension routes' parameters and bodies, as strict as the server's checks.

The OpenAPI document (``openapi``) says what each route accepts, and the fuzz suite checks
both directions: a request the document allows is not refused for its shape, and one it
forbids is refused. So every rule here is the rule of the code it names, written as JSON
Schema. Rules between parameters, which OpenAPI cannot state (``last_event_id`` only with
``stream=true`` and of the same interaction; refs by ``name`` or ``prefix``), are in the
operation's description instead.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import Any

from interstate.server.extensions import MAX_PAGE_SIZE
from interstate.server.inputs import MAX_IDEMPOTENCY_KEY
from interstate.server.inputs import FINISHED_STATUSES
from interstate.server.refs import MAX_OPERATIONS, MAX_REF_NAME
from interstate.server.render import ECHOED_CONFIG
from interstate.server.search import MAX_DIMENSIONS, MAX_EMBEDDINGS_PER_REQUEST, MAX_TOP_K
from interstate.types import MAX_LABEL_LENGTH, MAX_LABELS
from interstate.types.interaction import _is_label_letter, _label_char_ok

#: ``extensions._CLIENT_ID``: a client-chosen interaction id.
CLIENT_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,200}$"}


def _char_class(ok: Any) -> str:
    """A regex character class of every code point ``ok`` accepts (surrogates excluded)."""
    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF or not ok(chr(cp)):
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    parts = [re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
             for a, b in ranges]  # fmt: skip
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=1)
def labels_schema() -> dict[str, Any]:
    """``types.validate_labels``: keys start with a lowercase letter (of any script), keys and
    values hold lowercase letters, digits, ``_`` and ``-``, at most 63 of them; at most 64."""
    letter, char = _char_class(_is_label_letter), _char_class(_label_char_ok)
    return {
        "type": "object",
        "maxProperties": MAX_LABELS,
        "propertyNames": {"maxLength": MAX_LABEL_LENGTH, "pattern": f"^{letter}{char}*$"},
        "additionalProperties": {"type": "string", "maxLength": MAX_LABEL_LENGTH, "pattern": f"^{char}*$"},
    }


#: JSON with no NUL character in any string or key (``inputs.check_stored_json``).
NUL_FREE_JSON = {
    "anyOf": [
        {"type": "string", "pattern": "^[^\\x00]*$"},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": "#/components/schemas/NulFreeJson"}},
        {"$ref": "#/components/schemas/NulFreeObject"},
    ]
}
NUL_FREE_OBJECT = {
    "type": "object",
    "propertyNames": {"pattern": "^[^\\x00]*$"},
    "additionalProperties": {"$ref": "#/components/schemas/NulFreeJson"},
}

#: ``vectors.json_path``: a dotted metadata key.
METADATA_KEY = r"^[A-Za-z0-9_\-]{1,100}(\.[A-Za-z0-9_\-]{1,100})*$"
#: ``extensions._pairs``: ``KEY:VALUE``, the key free of quotes, backslashes and control characters.
FILTER = {"type": "string", "pattern": '^[^:"\\\\\\x00-\\x1f]+:'}
#: ``extensions.PAGE_TOKEN``: ``<created>/<id>`` as a list returned it (or empty: the first page).
PAGE_TOKEN = r"^(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/[\s\S]*)?$"
#: ``render.parse_event_id``: ``<interaction id>:<sequence number>`` (or empty: from the start).
EVENT_ID = r"^([\s\S]*:[0-9]{1,18})?$"


def param(name: str, schema: dict[str, Any], where: str = "query", required: bool = False,
          description: str | None = None) -> dict[str, Any]:  # fmt: skip
    out = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


def bounded_name(limit: int = MAX_REF_NAME) -> dict[str, Any]:
    """``refs._string``: 1 to ``limit`` characters, no control characters."""
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": "^[^\\x00-\\x1f]*$"}


def choice(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


PAGE_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
IDEMPOTENCY_KEY = {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY}


def _filters(vector: bool) -> dict[str, Any]:
    """``search.parse_query``'s body."""
    keyed = {"type": "object", "propertyNames": {"pattern": METADATA_KEY}}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "vector": {"anyOf": [{"$ref": "#/components/schemas/InterstateVector"}, {"type": "null"}]}
            if vector else {"type": "null"},
            "labels": {"anyOf": [{"$ref": "#/components/schemas/InterstateLabels"}, {"type": "null"}]},
            "metadata": {"anyOf": [keyed, {"type": "null"}]},
            "metadata_prefix": {"anyOf": [{**keyed, "additionalProperties": {"type": "string"}},
                                          {"type": "null"}]},
            "metadata_any": {"anyOf": [{**keyed, "additionalProperties": {"type": "array"}},
                                       {"type": "null"}]},
            "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K},
            "offset": {"type": "integer", "minimum": 0, "maximum": 10**9},
            "min_score": {"anyOf": [{"type": "number", "minimum": -1, "maximum": 1}, {"type": "null"}]},
            "include_input": {"type": "boolean"},
        },
    }  # fmt: skip


def search_body() -> dict[str, Any]:
    return _filters(vector=True)


def delete_body() -> dict[str, Any]:
    """A delete names at least one filter: it never deletes a whole tenant."""
    body = _filters(vector=False)
    body["anyOf"] = [{"required": [name], "properties": {name: {"type": "object", "minProperties": 1}}}
                     for name in ("labels", "metadata", "metadata_prefix", "metadata_any")]  # fmt: skip
    return body


def embeddings_body() -> dict[str, Any]:
    item = {"type": "object", "required": ["interaction_id", "vector"],
            "properties": {"interaction_id": {"type": "string"},
                           "vector": {"$ref": "#/components/schemas/InterstateVector"}}}  # fmt: skip
    return {"type": "object", "required": ["embeddings"],
            "properties": {"embeddings": {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_EMBEDDINGS_PER_REQUEST}}}


VECTOR = {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": MAX_DIMENSIONS}


def components() -> dict[str, Any]:
    return {
        "NulFreeJson": NUL_FREE_JSON,
        "NulFreeObject": NUL_FREE_OBJECT,
        "InterstateLabels": labels_schema(),
        "InterstateVector": VECTOR,
        "InterstateSearch": search_body(),
        "InterstateDelete": delete_body(),
        "InterstateEmbeddings": embeddings_body(),
    }


def record_schemas(create: dict[str, Any], agent_config: dict[str, Any]) -> dict[str, Any]:
    """A recorded turn (``extensions.parse_turn``), a ``/record`` body and a batch body
    (``refs.parse_operations``); ``create`` is the create body's properties, whose shapes a
    turn's input and echoed configuration have."""
    nullable = lambda schema: {"anyOf": [schema, {"type": "null"}]}  # noqa: E731
    objects = "#/components/schemas/NulFreeObject"
    steps = next(branch for branch in create["input"]["anyOf"][0]["oneOf"] if branch.get("type") == "array"
                 and "UserInputStep" in str(branch["items"]))  # fmt: skip
    turn = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": nullable(CLIENT_ID),
            "input": create["input"],
            "steps": nullable(steps),
            "previous_interaction_id": {"type": ["string", "null"]},
            "model": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": sorted(FINISHED_STATUSES)},
            "labels": nullable({"$ref": "#/components/schemas/InterstateLabels"}),
            "metadata": nullable({"$ref": objects}),
            "usage": nullable({"$ref": objects}),
            **{name: create[name] for name in ECHOED_CONFIG if name != "agent_config"},
            "agent_config": agent_config,
        },
    }
    turns = {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/InterstateTurn"}}
    record = {"anyOf": [{"$ref": "#/components/schemas/InterstateTurn"},
                        {"type": "object", "required": ["interactions"], "additionalProperties": False,
                         "properties": {"interactions": turns}}]}  # fmt: skip
    flag = {"type": "boolean"}
    name, iid = bounded_name(), bounded_name(200)
    kinds = {
        "record": {"$ref": "#/components/schemas/InterstateTurn"},
        "patch_metadata": _args({"id": iid, "patch": {"$ref": objects}, "keep_existing": flag,
                                 "missing_ok": flag}, "id", "patch"),
        "delete": _args({"ids": {"type": "array", "items": iid}, "keep_referenced": flag}, "ids"),
        "set_ref": _args({"name": name, "interaction_id": iid, "order_key": nullable(name),
                          "metadata": nullable({"$ref": objects}), "force": flag}, "name", "interaction_id"),
        "patch_ref": _args({"name": name, "patch": {"$ref": objects}, "keep_existing": flag,
                            "missing_ok": flag}, "name", "patch"),
        "delete_refs": {**_args({"names": nullable({"type": "array", "items": name}),
                                 "prefix": {"type": ["string", "null"]}}),
                        "anyOf": [{"required": ["names"], "properties": {"names": {"type": "array", "minItems": 1}}},
                                  {"required": ["prefix"], "properties": {"prefix": {"type": "string"}}}]},
    }  # fmt: skip
    operation = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                 "properties": kinds}  # fmt: skip
    batch = {"type": "object", "required": ["operations"], "additionalProperties": False, "properties": {
        "operations": {"type": "array", "minItems": 1, "maxItems": MAX_OPERATIONS, "items": operation}}}
    return {"InterstateTurn": turn, "InterstateRecord": record, "InterstateBatch": batch}


def _args(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(required)}  # fmt: skip
