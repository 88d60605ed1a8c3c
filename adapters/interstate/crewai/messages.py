"""CrewAI messages ↔ interstate steps.

CrewAI hands an LLM the whole conversation (``list[LLMMessage]``: OpenAI-style dicts, plus
CrewAI-internal keys such as ``cache_breakpoint``, ``raw_tool_call_parts`` and ``files``) on
every call. ``InteractionsLLM`` sends only what the server's chain does not hold yet; this module
does the conversions and the bookkeeping that finds "what is new":

* ``fingerprints`` — a running hash over the cleaned messages, so a call can be matched to the
  interaction that answered a prefix of its list;
* ``delta_steps`` — the new messages as steps, skipping the assistant message that merely
  repeats the model's own reply (CrewAI's ReAct loop appends ``"\\nObservation: ..."`` to it:
  that suffix is sent as new user text, the rest is already in the chain);
* ``crewai_tool_calls`` / ``interstate_tools`` — tool calls and schemas both ways.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "INTERNAL_KEYS",
    "Reply",
    "clean_message",
    "text_of",
    "fingerprints",
    "split_system",
    "delta_steps",
    "interstate_tools",
    "crewai_tool_calls",
]

#: Keys CrewAI adds to messages for its own use; never sent to a model.
INTERNAL_KEYS = frozenset({"cache_breakpoint", "raw_tool_call_parts", "files"})
_KEEP = ("role", "content", "tool_calls", "tool_call_id", "name")


@dataclass(frozen=True)
class Reply:
    """What a model turn answered, as CrewAI saw it: text, or tool calls (id, name, args)."""

    text: str | None = None
    calls: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)


def text_of(content: Any) -> str:
    """The text of a message ``content``: a string, a list of content blocks, or None."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    return str(content)


def _call_parts(call: Any) -> tuple[str, str, str]:
    """(id, name, JSON arguments) of an OpenAI-style tool call dict or object."""
    if isinstance(call, Mapping):
        function = call.get("function") or {}
        call_id = call.get("id") or call.get("call_id") or ""
        name = function.get("name") or call.get("name") or ""
        arguments = function.get("arguments", call.get("arguments", {}))
    else:
        function = getattr(call, "function", None)
        call_id = getattr(call, "id", "") or ""
        name = getattr(function, "name", "") or ""
        arguments = getattr(function, "arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, sort_keys=True)
    return str(call_id), str(name), arguments


def clean_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message without CrewAI-internal keys (and tool calls as plain dicts)."""
    out: dict[str, Any] = {}
    for key in _KEEP:
        if key in message and message[key] is not None:
            out[key] = message[key]
    if "tool_calls" in out:
        out["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in (_call_parts(c) for c in out["tool_calls"])
        ]
    return out


def fingerprints(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """``result[k]`` identifies ``messages[:k + 1]`` (a running SHA-256 over cleaned messages)."""
    out: list[str] = []
    running = hashlib.sha256()
    for message in messages:
        running.update(
            json.dumps(clean_message(message), sort_keys=True, default=str).encode("utf-8")
        )
        running.update(b"\x1e")
        out.append(running.copy().hexdigest())
    return out


def split_system(messages: Sequence[Mapping[str, Any]]) -> tuple[str | None, int]:
    """The leading system messages' text (joined) and how many there are."""
    texts: list[str] = []
    for message in messages:
        if message.get("role") != "system":
            break
        texts.append(text_of(message.get("content")))
    return ("\n\n".join(texts) if texts else None), len(texts)


def _user(text: str) -> dict[str, Any]:
    return {"type": "user_input", "content": [{"type": "text", "text": text}]}


def _echo_remainder(message: Mapping[str, Any], reply: Reply) -> str | None:
    """What an assistant message adds to ``reply`` ("" = nothing; None = not an echo)."""
    if reply.calls:
        ids = tuple(_call_parts(c)[0] for c in message.get("tool_calls") or [])
        return "" if ids and ids == tuple(c[0] for c in reply.calls) else None
    if message.get("tool_calls") or reply.text is None:
        return None
    text = text_of(message.get("content")).strip()
    said = reply.text.strip()
    if text == said:
        return ""
    if said and text.startswith(said):
        return text[len(said) :].strip()
    return None


def delta_steps(
    messages: Sequence[Mapping[str, Any]], reply: Reply | None = None
) -> list[dict[str, Any]]:
    """``messages`` (the part of a conversation the server has not seen) as input steps.

    ``reply`` is the answer of the interaction being continued: an assistant message at the
    start that repeats it is dropped, and only what CrewAI appended to it is sent.
    """
    steps: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "assistant":
            if index == 0 and reply is not None:
                remainder = _echo_remainder(message, reply)
                if remainder is not None:
                    if remainder:
                        steps.append(_user(remainder))
                    continue
            text = text_of(message.get("content"))
            if text:
                steps.append({"type": "model_output", "content": [{"type": "text", "text": text}]})
            for call_id, name, arguments in (
                _call_parts(c) for c in message.get("tool_calls") or []
            ):
                try:
                    args = json.loads(arguments) if arguments else {}
                except json.JSONDecodeError:
                    args = {"_raw": arguments}
                steps.append({"type": "function_call", "id": call_id, "name": name,
                              "arguments": args if isinstance(args, dict) else {"value": args}})  # fmt: skip
        elif role == "tool":
            steps.append({
                "type": "function_result",
                "call_id": str(message.get("tool_call_id") or ""),
                "name": message.get("name"),
                "result": text_of(message.get("content")),
            })  # fmt: skip
        else:  # user, or a system message in the middle of the conversation
            text = text_of(message.get("content"))
            steps.append(_user(text if role != "system" else f"[system]\n{text}"))
    return [{k: v for k, v in s.items() if v is not None} for s in steps]


def interstate_tools(tools: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """CrewAI's OpenAI-style tool schemas as Interactions API function tools."""
    out = []
    for tool in tools or []:
        function = tool.get("function", tool)
        name = function.get("name")
        if not name:
            continue
        entry: dict[str, Any] = {"type": "function", "name": name}
        if function.get("description"):
            entry["description"] = function["description"]
        if function.get("parameters") is not None:
            entry["parameters"] = function["parameters"]
        out.append(entry)
    return out or None


def crewai_tool_calls(steps: Iterable[Any]) -> list[dict[str, Any]]:
    """``function_call`` output steps as the OpenAI-style tool calls CrewAI executes."""
    calls = []
    for step in steps:
        if getattr(step, "type", None) != "function_call":
            continue
        calls.append({
            "id": step.id,
            "type": "function",
            "function": {"name": step.name, "arguments": json.dumps(step.arguments or {})},
        })  # fmt: skip
    return calls
