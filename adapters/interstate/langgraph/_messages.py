"""LangChain messages <-> Interactions steps: the one place that defines the mapping.

A message becomes typed steps plus a compact *side record* (a JSON object) holding what steps
cannot say — the message id, name, additional_kwargs, response_metadata, usage_metadata,
invalid tool calls, artifacts, ... — so that ``steps_to_message(steps, side) == message``
exactly. Every conversion is checked by decoding it again; a message that would not come back
equal is stored whole in its side record (``"raw"``) and rendered as a text step, so the mapping
is exact for every message, and typed for the ones that matter:

===================  =============================================================
HumanMessage         ``user_input`` (text, or the content blocks as given)
AIMessage            ``model_output`` (if it has content) + one ``function_call``
                     per tool call (``id``, ``name``, ``arguments``)
ToolMessage          ``function_result`` (``call_id`` = ``tool_call_id``, ``name``,
                     ``result`` = the content, ``is_error`` for status "error")
SystemMessage, ...   ``user_input`` with the type kept in the side record
===================  =============================================================

``message_hash`` / ``chain_hash`` give a conversation a stable identity (type, id, content,
tool calls) shared by the checkpointer and ``ChatInteractions``, which uses it to find the
interaction that already holds a prefix of the messages it is asked to send.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
from typing import Any, Iterable, Sequence

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
    message_to_dict,
    messages_from_dict,
)

__all__ = [
    "message_to_steps",
    "steps_to_message",
    "messages_to_steps",
    "ai_message_from_steps",
    "is_json",
    "message_hash",
    "chain_hash",
    "hash_label",
]

_CLASSES: dict[str, type[BaseMessage]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        HumanMessage, AIMessage, ToolMessage, SystemMessage, ChatMessage, FunctionMessage,
        HumanMessageChunk, AIMessageChunk, ToolMessageChunk, SystemMessageChunk,
        ChatMessageChunk, FunctionMessageChunk,
    )
}  # fmt: skip
#: Fields the steps carry (content always; these per class).
_IN_STEPS = {"type", "content", "tool_calls", "tool_call_id"}
#: The message type a side record leaves out, by the type of the message's first step.
_DEFAULT_TYPE = {"user_input": "human", "model_output": "ai", "function_call": "ai",
                 "function_result": "tool"}  # fmt: skip


_ATOMS = (str, int, float, bool, type(None), bytes)


def _copy_tree(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {k: _copy_tree(v) for k, v in value.items()}
    if kind is list:
        return [_copy_tree(v) for v in value]
    return copy.deepcopy(value)


def fresh_message(message: BaseMessage) -> BaseMessage:
    """A deep copy of ``message`` that the caller may mutate (content blocks, tool calls and
    their args, metadata): what the checkpointer stores, caches and hands out never aliases
    anybody's objects. Made as pydantic's ``model_copy`` makes a copy (the four instance
    attributes of a v2 model), with the fields copied as JSON trees: ~4x faster than
    ``model_copy(deep=True)``, and a read hands out one per message."""
    fields = {}
    for key, value in message.__dict__.items():
        kind = type(value)
        if kind in _ATOMS:
            fields[key] = value
        else:
            fields[key] = kind() if not value and (kind is dict or kind is list) else _copy_tree(value)
    new = _new_object(type(message))
    _set_attribute(new, "__dict__", fields)
    _set_attribute(new, "__pydantic_fields_set__", set(message.__pydantic_fields_set__))
    extra, private = message.__pydantic_extra__, message.__pydantic_private__
    _set_attribute(new, "__pydantic_extra__", None if extra is None else _copy_tree(extra))
    _set_attribute(new, "__pydantic_private__", None if private is None else dict(private))
    return new


_new_object = object.__new__
_set_attribute = object.__setattr__


def _fields_of(side: dict[str, Any]) -> dict[str, Any]:
    given = side.get("f")
    fields = _copy_tree(given) if given else {}
    if "i" in side:
        fields["id"] = side["i"]
    return fields


def side_type(side: dict[str, Any], steps: Sequence[dict[str, Any]]) -> str:
    """The message type a side record stands for (given the message's steps)."""
    if "t" in side:
        return side["t"]
    return _DEFAULT_TYPE.get(steps[0].get("type", "") if steps else "", "ai")


def is_json(value: Any, depth: int = 0) -> bool:
    """True for values JSON represents exactly: None, bool, int, finite float, str, and lists /
    str-keyed dicts of them (no tuples, no other types)."""
    if depth > 64:
        return False
    kind = type(value)
    if value is None or kind in (bool, str):
        return True
    if kind is int:
        return -(2**63) <= value < 2**63
    if kind is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if kind is list:
        return all(is_json(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and is_json(v, depth + 1) for k, v in value.items())
    return False


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def _content_items(content: Any, side: dict[str, Any]) -> list[dict[str, Any]]:
    """Content as Interactions content items; marks the side record so it decodes back."""
    if isinstance(content, str):
        return [_text(content)] if content else []
    if isinstance(content, list) and all(
        type(b) is dict and isinstance(b.get("type"), str) and is_json(b) for b in content
    ):
        side["l"] = 1
        return copy.deepcopy(content)
    # Not representable as content items (strings mixed in, odd blocks): keep it whole, and
    # show its text so the step still reads as the conversation.
    side["x"] = copy.deepcopy(content)
    parts = content if isinstance(content, list) else [content]
    rendered = "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in parts
                       if isinstance(p, (str, dict)))  # fmt: skip
    return [_text(rendered)] if rendered else []


def _content_of(items: list[dict[str, Any]], side: dict[str, Any]) -> Any:
    if "x" in side:
        return _copy_tree(side["x"])
    if side.get("l"):
        return _copy_tree(items)
    if len(items) == 1:  # the common case, without a generator
        item = items[0]
        return str(item.get("text", "")) if item.get("type") == "text" else ""
    return "".join(str(i.get("text", "")) for i in items if i.get("type") == "text")


@functools.lru_cache(maxsize=64)
def _defaults(cls: type[BaseMessage]) -> tuple[tuple[str, Any], ...]:
    """``(field, default)`` of a message class, for the fields steps do not carry."""
    return tuple(
        (name, info.get_default(call_default_factory=True))
        for name, info in cls.model_fields.items()
        if name not in _IN_STEPS
    )


def _fields(message: BaseMessage) -> dict[str, Any]:
    """Fields not carried by steps whose value differs from the class default."""
    out: dict[str, Any] = {}
    for name, default in _defaults(type(message)):
        value = getattr(message, name)
        if value != default:
            out[name] = value
    return out


def _default_serde() -> Any:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer()


def message_to_steps(
    message: BaseMessage, serde: Any = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(steps, side record)`` for one message; always decodes back to an equal message.
    ``serde`` (a LangGraph serializer) encodes messages that JSON cannot hold."""
    try:
        steps, side = _convert(message)
        if steps_to_message(steps, side) == message:
            return steps, side
    except Exception:  # noqa: BLE001 - any surprise falls back to the raw form below
        pass
    return _raw(message, serde or _default_serde())


def _convert(message: BaseMessage) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    kind = message.type
    if _CLASSES.get(kind) is not type(message):
        raise TypeError("not a standard message class")
    side: dict[str, Any] = {"t": kind}
    fields = _fields(message)
    if "id" in fields:
        side["i"] = fields.pop("id")
    if fields:
        side["f"] = fields
    if isinstance(message, AIMessage):
        steps: list[dict[str, Any]] = []
        items = _content_items(message.content, side)
        if items or not message.tool_calls:
            steps.append({"type": "model_output", "content": items})
        for call in message.tool_calls:
            if set(call) - {"name", "args", "id", "type"} or not isinstance(call.get("id"), str):
                raise ValueError("tool call not representable")
            steps.append({"type": "function_call", "id": call["id"], "name": call["name"],
                          "arguments": copy.deepcopy(call["args"])})  # fmt: skip
    elif isinstance(message, ToolMessage):
        step: dict[str, Any] = {"type": "function_result", "call_id": message.tool_call_id}
        if message.name is not None:
            step["name"] = message.name
        content = message.content
        if isinstance(content, str):
            step["result"] = content
        else:
            items = _content_items(content, side)
            step["result"] = items if side.get("l") else (items[0]["text"] if items else "")
        if message.status == "error":
            step["is_error"] = True
        steps = [step]
    else:
        steps = [{"type": "user_input", "content": _content_items(message.content, side)}]
    if not is_json(side) or not is_json(steps):
        raise ValueError("steps or side record are not JSON")
    if len(steps) != 1:
        side["c"] = len(steps)
    if _DEFAULT_TYPE.get(steps[0]["type"]) == kind:
        del side["t"]
    return steps, side


def _raw(message: BaseMessage, serde: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    data = message_to_dict(message)
    if is_json(data) and messages_from_dict([data])[0] == message:
        raw: Any = data
    else:
        kind, blob = serde.dumps_typed(message)
        raw = [kind, base64.b64encode(blob).decode("ascii")]
    text = message.text if isinstance(message.content, (str, list)) else str(message.content)
    return [{"type": "user_input", "content": [_text(text)] if text else []}], {"raw": raw}


def steps_to_message(
    steps: Sequence[dict[str, Any]], side: dict[str, Any], serde: Any = None
) -> BaseMessage:
    """The message ``message_to_steps`` turned into ``steps`` and ``side``."""
    if "raw" in side:
        raw = side["raw"]
        if isinstance(raw, dict):
            return messages_from_dict([raw])[0]
        return (serde or _default_serde()).loads_typed((raw[0], base64.b64decode(raw[1])))
    cls = _CLASSES[side_type(side, steps)]
    if issubclass(cls, AIMessage):
        return ai_message_from_steps(steps, side, cls=cls)
    step = steps[0] if steps else {}
    if cls is HumanMessage and _plain(side):
        return _plain_message(HumanMessage, _content_of(step.get("content") or [], side), side)
    fields = _fields_of(side)
    if issubclass(cls, ToolMessage):
        result = step.get("result", "")
        content = _content_of(result, side) if isinstance(result, list) else result
        if "x" in side:
            content = _copy_tree(side["x"])
        status = "error" if step.get("is_error") else "success"
        return cls(content=content, tool_call_id=step.get("call_id", ""),
                   **{"status": status, **fields})  # fmt: skip
    return cls(content=_content_of(step.get("content") or [], side), **fields)


def ai_message_from_steps(
    steps: Sequence[dict[str, Any]], side: dict[str, Any], *, cls: type[BaseMessage] = AIMessage
) -> BaseMessage:
    """An AI message from model output steps: text (or blocks) of ``model_output`` steps, tool
    calls from ``function_call`` steps; ``thought`` steps are not part of it (their text lives in
    ``additional_kwargs`` when a chat model put it there)."""
    if len(steps) == 1 and steps[0].get("type") == "model_output":  # the common case
        items = steps[0].get("content") or []
        if cls is AIMessage and _plain(side):
            return _plain_message(AIMessage, _content_of(items, side), side)
        return cls(content=_content_of(items, side), tool_calls=[], **_fields_of(side))
    items: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for step in steps:
        kind = step.get("type")
        if kind == "model_output":
            items += list(step.get("content") or [])
        elif kind == "function_call":
            calls.append({"name": step.get("name", ""), "args": _copy_tree(step.get("arguments") or {}),
                          "id": step.get("id"), "type": "tool_call"})  # fmt: skip
    return cls(content=_content_of(items, side), tool_calls=calls, **_fields_of(side))


def _plain(side: dict[str, Any]) -> bool:
    """Whether a side record says no more than the message id (a string): the message is its
    class's defaults plus text content and that id (see ``_plain_message``)."""
    return not side or (len(side) == 1 and type(side.get("i")) is str)


@functools.lru_cache(maxsize=8)
def _prototype(cls: type[BaseMessage], with_id: bool) -> tuple[Any, ...]:
    """A message made by the class's constructor with the keywords the slow path passes (so the
    same fields count as set), taken apart for ``_plain_message``: its fields (atoms, and
    the empty dicts and lists that each copy gets afresh), the fields set, its extra. A class
    whose defaults hold anything else gets the prototype itself, copied by ``fresh_message``."""
    extra: dict[str, Any] = {"tool_calls": []} if cls is AIMessage else {}
    message = cls(content="", **extra, **({"id": "-"} if with_id else {}))
    fields = message.__dict__
    empties = tuple((k, type(v)) for k, v in fields.items() if type(v) in (dict, list) and not v)
    atoms = all(type(v) in _ATOMS for k, v in fields.items() if (k, type(v)) not in empties)
    given = message.__pydantic_extra__
    if not atoms or given or message.__pydantic_private__ is not None:
        return (message,)
    return dict(fields), empties, frozenset(message.__pydantic_fields_set__), given


def _plain_message(cls: type[BaseMessage], content: str, side: dict[str, Any]) -> BaseMessage:
    """``cls(content=content, id=side["i"])`` for a ``_plain`` side record, without pydantic's
    validation: the class's prototype with the two strings put in. Validating a string
    content and a string id changes neither, and a cold read of a long thread makes thousands
    of these (the constructor is most of a rebuild's time per message)."""
    prototype = _prototype(cls, "i" in side)
    if len(prototype) == 1:
        new = fresh_message(prototype[0])
        fields = new.__dict__
    else:
        base, empties, given, extra = prototype
        fields = base.copy()
        for key, kind in empties:
            fields[key] = kind()
        new = _new_object(cls)
        _set_attribute(new, "__dict__", fields)
        _set_attribute(new, "__pydantic_fields_set__", set(given))
        _set_attribute(new, "__pydantic_extra__", None if extra is None else {})
        _set_attribute(new, "__pydantic_private__", None)
    fields["content"] = content
    if "i" in side:
        fields["id"] = side["i"]
    return new


def messages_to_steps(
    messages: Iterable[BaseMessage], serde: Any = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All steps of ``messages`` (concatenated) and one side record per message."""
    steps: list[dict[str, Any]] = []
    sides: list[dict[str, Any]] = []
    for message in messages:
        message_steps, side = message_to_steps(message, serde)
        steps += message_steps
        sides.append(side)
    return steps, sides


def step_count(side: dict[str, Any]) -> int:
    return int(side.get("c", 1))


# -- identity -------------------------------------------------------------------------------


def _canonical(message: BaseMessage) -> bytes:
    calls = [[c.get("name"), c.get("args"), c.get("id")] for c in getattr(message, "tool_calls", [])]
    parts = [message.type, message.id, message.content, calls,
             getattr(message, "tool_call_id", None), message.name]  # fmt: skip
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), default=repr).encode()


def message_hash(message: BaseMessage) -> bytes:
    return hashlib.blake2b(_canonical(message), digest_size=16).digest()


def chain_hash(messages: Iterable[BaseMessage], start: bytes = b"") -> bytes:
    """The identity of a message list, extendable: ``chain_hash(b, chain_hash(a)) ==
    chain_hash(a + b)``."""
    value = start
    for message in messages:
        value = hashlib.blake2b(value + message_hash(message), digest_size=16).digest()
    return value


def hash_label(value: bytes) -> str:
    """A chain hash as a label value (lowercase base32, 20 characters)."""
    return base64.b32encode(value).decode("ascii").lower().rstrip("=")[:20]
