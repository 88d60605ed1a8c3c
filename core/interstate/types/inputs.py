"""The ``input`` of an interaction: a string, one content block, a list of content blocks, or a
list of steps; and :func:`normalize_input`, which turns any of them into steps.

The parsed value keeps the shape that was sent, so ``to_wire()`` gives back exactly what the
client wrote; only :func:`normalize_input` rewrites it into steps.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, Discriminator, Tag, TypeAdapter

from .content import CONTENT_TYPES, EXTENSION_CONTENT_TYPES, Content, TextContent, UnknownContent
from .steps import STEP_TYPES, Step, UnknownStep, UserInputStep

__all__ = ["InteractionInput", "normalize_input"]

_Kind = Literal["step", "content", "unknown"]


def _item_kind(item: Any) -> _Kind:
    """Whether one element of an ``input`` list is a step, a content block, or unknown.

    Known ``type`` tags decide; otherwise a dict with ``content`` or ``role`` is a step.
    """
    if isinstance(item, UnknownStep):
        return "step"
    if isinstance(item, UnknownContent):
        return "content"
    if isinstance(item, dict):
        tag = item.get("type")
    elif isinstance(item, BaseModel):
        tag = getattr(item, "type", None)
    else:
        return "unknown"
    if not isinstance(tag, str):  # a tag that is an object or a list names no type
        tag = None
    if tag in STEP_TYPES:
        return "step"
    if tag in CONTENT_TYPES or tag in EXTENSION_CONTENT_TYPES:
        return "content"
    if isinstance(item, dict) and ("content" in item or "role" in item):
        return "step"
    return "unknown"


def _list_kind(items: Iterable[Any]) -> Literal["steps", "contents"]:
    """Classify a list as steps or content; unknown types follow the others (steps if alone).

    Raises ``ValueError`` when steps and content blocks are mixed.
    """
    kinds = {_item_kind(item) for item in items}
    if {"step", "content"} <= kinds:
        raise ValueError(
            "input mixes steps and content blocks; send either a list of content blocks "
            "(one user turn) or a list of steps (e.g. wrap the content in a "
            '{"type": "user_input", "content": [...]} step)'
        )
    return "contents" if "content" in kinds else "steps"


def _input_tag(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return _list_kind(value)
    return "content"


def _check_input(value: Any) -> Any:
    """Reject the shapes the discriminator cannot place, with a message saying what to send."""
    if isinstance(value, (list, tuple)):
        _list_kind(value)
    elif not isinstance(value, str) and _item_kind(value) == "step":
        raise ValueError("a single step must be sent in a list: input=[step]")
    return value


InteractionInput = Annotated[
    Union[
        Annotated[str, Tag("text")],
        Annotated[Content, Tag("content")],
        Annotated[list[Step], Tag("steps")],
        Annotated[list[Content], Tag("contents")],
    ],
    Discriminator(_input_tag),
    BeforeValidator(_check_input),
]
"""``input`` in any of its four shapes: str, Content, list[Step] or list[Content]."""


@functools.cache
def _input_adapter() -> TypeAdapter[Any]:
    # Built on first use: building validators at import time would make the import slow.
    return TypeAdapter(InteractionInput)


def normalize_input(value: Any) -> list[Step]:
    """Turn any ``input`` shape into a list of steps.

    A string becomes one ``user_input`` step holding one text block; a content block, or a list
    of them, becomes one ``user_input`` step holding them; a list of steps is returned as is.
    ``None`` gives ``[]``. Accepts raw JSON values or parsed models. Raises ``ValueError`` for
    a list that mixes steps and content blocks.
    """
    if value is None:
        return []
    _check_input(value)
    parsed = _input_adapter().validate_python(value)
    if isinstance(parsed, str):
        return [UserInputStep(content=[TextContent(text=parsed)])]
    if not isinstance(parsed, list):
        return [UserInputStep(content=[parsed])]
    if _list_kind(parsed) == "contents":
        return [UserInputStep(content=parsed)]
    return parsed
