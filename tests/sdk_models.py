"""The pinned official SDK's generated wire models (google-genai 3.3.0, ``google.genai._gaos``),
walked the way the spec-coverage and conformance tests need them: the models reachable from a
root, the ``type`` tags of a union, the ``Literal`` values of each field."""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from google.genai._gaos.types import interactions as sdk
from pydantic import BaseModel

#: The SDK's create bodies (model and agent) and what the server answers with.
REQUEST_ROOTS = (sdk.CreateModelInteraction, sdk.CreateAgentInteraction)
RESPONSE_ROOTS = (sdk.Interaction, sdk.InteractionSSEEvent)


def _unalias(tp: Any) -> Any:
    while hasattr(tp, "__value__"):  # typing_extensions.TypeAliasType
        tp = tp.__value__
    return tp


def _parts(tp: Any) -> list[Any]:
    """The types a field annotation is made of (through aliases, unions, lists, dicts)."""
    tp = _unalias(tp)
    origin = get_origin(tp)
    if origin is Annotated:
        return _parts(get_args(tp)[0])
    if origin in (Union, types.UnionType, list, dict):
        return [p for arg in get_args(tp) for p in _parts(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def members(union: Any) -> list[type[BaseModel]]:
    """The model members of an SDK union alias (e.g. ``sdk.Step``), its ``Unknown*`` excluded."""
    return [p for p in _parts(union) if _is_model(p) and not p.__name__.startswith("Unknown")]


def tag(model: type[BaseModel], key: str = "type") -> str:
    """The discriminator value of a union member (its ``type`` / ``event_type`` literal)."""
    values = literals(model.model_fields[key].annotation)
    assert len(values) == 1, (model, values)
    return values[0]


def tags(union: Any, key: str = "type") -> list[str]:
    return [tag(m, key) for m in members(union)]


def literals(tp: Any) -> list[Any]:
    """The ``Literal`` values of an annotation (an SDK open enum: ``Literal[...] | str``)."""
    tp = _unalias(tp)
    if get_origin(tp) is Literal:
        return list(get_args(tp))
    return [v for p in _parts(tp) if p is not tp for v in literals(p)]


def reachable(*roots: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every SDK model reachable from ``roots`` through field annotations, by name."""
    seen: dict[str, type[BaseModel]] = {}
    todo = list(roots)
    while todo:
        model = todo.pop()
        if model.__name__ in seen or model.__name__.startswith("Unknown"):
            continue
        seen[model.__name__] = model
        for info in model.model_fields.values():
            todo += [p for p in _parts(info.annotation) if _is_model(p)]
    return seen


def enum_fields(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """``model``'s enum-valued fields (discriminator tags, single literals, excluded)."""
    out = {}
    for name, info in model.model_fields.items():
        values = tuple(v for v in literals(info.annotation) if isinstance(v, str))
        if len(values) > 1 or (values and name != "type" and name != "event_type"):
            out[name] = values
    return out
