"""AutoGen messages <-> Interactions steps: the one place that defines the mapping.

Model-facing messages (``autogen_core.models.LLMMessage``):

==============================================  ===============================================
AutoGen                                         steps (wire dicts)
==============================================  ===============================================
leading ``SystemMessage``\\ s of a call          the request's ``system_instruction`` (per turn)
``SystemMessage`` later in the list (memory)    ``user_input`` with the text
``UserMessage(content, source)``                ``user_input`` (text and image blocks)
``AssistantMessage(content=str, thought)``      [``thought`` (summary)], ``model_output``
``AssistantMessage(content=[FunctionCall])``    [``thought``], one ``function_call`` per call
``FunctionExecutionResultMessage``              one ``function_result`` per result
==============================================  ===============================================

A model turn's output steps always become **one** ``AssistantMessage`` (``assistant_parts``);
text that comes with function calls goes to ``thought``, as AutoGen's OpenAI client does.

Steps carry no message boundaries or ``UserMessage.source``; ``shape`` records them (one
``[code, source, n_steps]`` per message) so ``steps_to_messages`` rebuilds the exact messages.

Chains are found by content: ``prefix_hashes`` gives one rolling hash per prefix of a message
list (system instruction excluded; an ``AssistantMessage``'s ``source`` excluded, since a model
client never knows which agent it answers; function-call arguments compared as parsed JSON).

Chat messages (``autogen_agentchat.messages``, the group chat's thread) are stored as steps with
their other fields as bookkeeping: ``chat_to_steps`` / ``chat_from_steps``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Literal, Mapping, Sequence

from autogen_core import FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel, TypeAdapter

Step = dict[str, Any]
#: One message's shape: [code, source or None, number of steps]; codes S, U, A, F.
Shape = list[Any]

__all__ = [
    "assistant_parts",
    "assistant_reply",
    "chat_from_steps",
    "chat_to_steps",
    "dump_llm_messages",
    "extend_hash",
    "finish_reason",
    "message_steps",
    "messages_to_steps",
    "parse_llm_messages",
    "prefix_hashes",
    "response_format",
    "shape",
    "split_system",
    "steps_to_messages",
    "tool_choice_to_wire",
    "tools_to_wire",
    "usage_of",
]

_LLM_LIST: TypeAdapter[list[LLMMessage]] = TypeAdapter(list[LLMMessage])


def parse_llm_messages(data: Iterable[Mapping[str, Any]]) -> list[LLMMessage]:
    return _LLM_LIST.validate_python(list(data))


def dump_llm_messages(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in messages]


# --- LLM messages -> steps ---------------------------------------------------------------------


def split_system(messages: Sequence[LLMMessage]) -> tuple[str | None, list[LLMMessage]]:
    """The leading system messages joined as a system instruction, and the rest."""
    index = 0
    while index < len(messages) and isinstance(messages[index], SystemMessage):
        index += 1
    texts = [m.content for m in messages[:index] if m.content]  # type: ignore[union-attr]
    return ("\n\n".join(texts) if texts else None), list(messages[index:])


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _user_content(content: str | list[Any]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [_text(content)]
    blocks: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, Image):
            blocks.append({"type": "image", "data": item.to_base64(), "mime_type": "image/png"})
        else:
            blocks.append(_text(str(item)))
    return blocks


def _arguments(text: str) -> dict[str, Any]:
    """FunctionCall arguments (a JSON string) as the object a ``function_call`` step carries."""
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def message_steps(message: LLMMessage) -> list[Step]:
    """The steps one (non-leading) message becomes."""
    if isinstance(message, SystemMessage):
        return [{"type": "user_input", "content": [_text(message.content)]}]
    if isinstance(message, UserMessage):
        return [{"type": "user_input", "content": _user_content(message.content)}]
    if isinstance(message, AssistantMessage):
        steps: list[Step] = []
        if message.thought is not None:
            steps.append({"type": "thought", "summary": [_text(message.thought)]})
        if isinstance(message.content, str):
            steps.append({"type": "model_output", "content": [_text(message.content)]})
        else:
            for call in message.content:
                steps.append({"type": "function_call", "id": call.id, "name": call.name,
                              "arguments": _arguments(call.arguments)})  # fmt: skip
        return steps
    if isinstance(message, FunctionExecutionResultMessage):
        steps = []
        for result in message.content:
            step: Step = {"type": "function_result", "call_id": result.call_id,
                          "name": result.name, "result": result.content}  # fmt: skip
            if result.is_error is not None:
                step["is_error"] = result.is_error
            steps.append(step)
        return steps
    raise TypeError(f"Not an LLMMessage: {type(message).__name__}")


def messages_to_steps(messages: Sequence[LLMMessage]) -> list[Step]:
    return [step for message in messages for step in message_steps(message)]


_CODES = {SystemMessage: "S", UserMessage: "U", AssistantMessage: "A",
          FunctionExecutionResultMessage: "F"}  # fmt: skip


def shape(messages: Sequence[LLMMessage]) -> list[Shape]:
    """``[code, source, n_steps]`` per message: what ``steps_to_messages`` needs besides steps."""
    return [
        [_CODES[type(m)], getattr(m, "source", None), len(message_steps(m))] for m in messages
    ]


# --- steps -> LLM messages ---------------------------------------------------------------------


def _block_text(blocks: Iterable[Mapping[str, Any]] | None) -> str:
    return "".join(b.get("text", "") for b in blocks or [] if b.get("type") == "text")


def assistant_parts(steps: Sequence[Step]) -> tuple[str | list[FunctionCall], str | None]:
    """``(content, thought)`` of the one AssistantMessage a model turn's output becomes."""
    thoughts: list[str] = []
    texts: list[str] = []
    calls: list[FunctionCall] = []
    for step in steps:
        kind = step.get("type")
        if kind == "thought":
            summary = _block_text(step.get("summary"))
            if summary:
                thoughts.append(summary)
        elif kind == "model_output":
            texts.append(_block_text(step.get("content")))
        elif kind == "function_call":
            arguments = step.get("arguments") or {}
            raw = arguments.get("_raw") if set(arguments) == {"_raw"} else None
            calls.append(FunctionCall(id=str(step.get("id")), name=str(step.get("name")),
                                      arguments=raw if isinstance(raw, str) else json.dumps(arguments)))  # fmt: skip
    if calls:
        # Text the model wrote next to its calls travels as the thought (AutoGen's convention).
        if "".join(texts):
            thoughts.append("".join(texts))
        return calls, ("\n".join(thoughts) if thoughts else None)
    return "".join(texts), ("\n".join(thoughts) if thoughts else None)


def _user_from(step: Step, source: str) -> UserMessage:
    blocks = step.get("content") or []
    if all(b.get("type") == "text" for b in blocks) and len(blocks) == 1:
        return UserMessage(content=blocks[0].get("text", ""), source=source)
    content: list[str | Image] = []
    for block in blocks:
        if block.get("type") == "image" and block.get("data"):
            content.append(Image.from_base64(block["data"]))
        else:
            content.append(block.get("text", ""))
    return UserMessage(content=content, source=source)


def _results_from(steps: Sequence[Step]) -> FunctionExecutionResultMessage:
    results = []
    for step in steps:
        result = step.get("result")
        results.append(FunctionExecutionResult(
            content=result if isinstance(result, str) else json.dumps(result),
            name=str(step.get("name") or ""), call_id=str(step.get("call_id")),
            is_error=step.get("is_error"),
        ))  # fmt: skip
    return FunctionExecutionResultMessage(content=results)


def _group(steps: Sequence[Step]) -> list[Shape]:
    """A best-effort shape for steps stored without one (not written by this adapter)."""
    groups: list[Shape] = []
    for step in steps:
        kind = step.get("type")
        code = {"user_input": "U", "function_result": "F"}.get(str(kind), "A")
        last = groups[-1] if groups else None
        same_a = code == "A" and last and last[0] == "A" and kind != "thought"
        if last and ((code == "F" and last[0] == "F") or same_a):
            last[2] += 1
        else:
            groups.append([code, "user" if code == "U" else None, 1])
    return groups


def steps_to_messages(
    steps: Sequence[Step], shapes: Sequence[Shape] | None, *, assistant_source: str = "assistant"
) -> list[LLMMessage]:
    """Rebuild messages from steps cut by ``shapes`` (``shape`` of the originals)."""
    messages: list[LLMMessage] = []
    position = 0
    for code, source, count in shapes if shapes is not None else _group(steps):
        group = list(steps[position : position + count])
        position += count
        if code == "S":
            messages.append(SystemMessage(content=_block_text(group[0].get("content"))))
        elif code == "U":
            messages.append(_user_from(group[0], source or "user"))
        elif code == "A":
            content, thought = assistant_parts(group)
            messages.append(AssistantMessage(content=content, thought=thought,
                                             source=source or assistant_source))  # fmt: skip
        else:
            messages.append(_results_from(group))
    if position != len(steps):
        raise ValueError(f"shape covers {position} steps, but there are {len(steps)}")
    return messages


# --- content hashes ----------------------------------------------------------------------------


def _canonical(message: LLMMessage) -> Any:
    if isinstance(message, SystemMessage):
        return ["S", message.content]
    if isinstance(message, UserMessage):
        content: Any = message.content
        if not isinstance(content, str):
            content = [
                {"img": hashlib.sha256(c.to_base64().encode()).hexdigest()}
                if isinstance(c, Image) else str(c)
                for c in content
            ]
        return ["U", message.source, content]
    if isinstance(message, AssistantMessage):
        body: Any = message.content
        if not isinstance(body, str):
            body = [[c.id, c.name, _arguments(c.arguments)] for c in body]
        return ["A", body, message.thought]
    if isinstance(message, FunctionExecutionResultMessage):
        return ["F", [[r.call_id, r.name, r.content, r.is_error] for r in message.content]]
    raise TypeError(f"Not an LLMMessage: {type(message).__name__}")


def extend_hash(previous: str, message: LLMMessage) -> str:
    """The hash of a prefix extended by one message (``""`` is the empty prefix)."""
    data = json.dumps(_canonical(message), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(f"{previous}\n{data}".encode()).hexdigest()[:40]


def prefix_hashes(messages: Sequence[LLMMessage], start: str = "") -> list[str]:
    """``hashes[i]`` identifies ``messages[: i + 1]``."""
    out: list[str] = []
    current = start
    for message in messages:
        current = extend_hash(current, message)
        out.append(current)
    return out


def assistant_reply(content: str | list[FunctionCall], thought: str | None) -> AssistantMessage:
    """The message an agent stores for a result (its ``source`` does not enter hashes)."""
    return AssistantMessage(content=content, thought=thought, source="assistant")


# --- request options ---------------------------------------------------------------------------


def tools_to_wire(tools: Sequence[Tool | ToolSchema]) -> list[dict[str, Any]]:
    wire = []
    for tool in tools:
        schema: Mapping[str, Any] = tool.schema if isinstance(tool, Tool) else tool
        entry: dict[str, Any] = {"type": "function", "name": schema["name"]}
        if schema.get("description"):
            entry["description"] = schema["description"]
        if schema.get("parameters") is not None:
            entry["parameters"] = dict(schema["parameters"])
        wire.append(entry)
    return wire


def tool_choice_to_wire(choice: Tool | Literal["auto", "required", "none"]) -> Any:
    if choice == "auto":
        return None
    if choice == "required":
        return "any"
    if choice == "none":
        return "none"
    name = choice.schema["name"] if isinstance(choice, Tool) else str(choice)
    return {"allowed_tools": {"mode": "any", "tools": [name]}}


def response_format(json_output: bool | type[BaseModel] | None) -> dict[str, Any] | None:
    if json_output is None or json_output is False:
        return None
    fmt: dict[str, Any] = {"type": "text", "mime_type": "application/json"}
    if isinstance(json_output, type) and issubclass(json_output, BaseModel):
        fmt["schema"] = json_output.model_json_schema()
    return fmt


def usage_of(usage: Any) -> RequestUsage:
    if usage is None:
        return RequestUsage(prompt_tokens=0, completion_tokens=0)
    return RequestUsage(prompt_tokens=usage.total_input_tokens or 0,
                        completion_tokens=usage.total_output_tokens or 0)  # fmt: skip


def finish_reason(status: str | None, content: str | list[FunctionCall]) -> Any:
    if not isinstance(content, str) and content:
        return "function_calls"
    return {"completed": "stop", "incomplete": "length"}.get(status or "", "unknown")


# --- chat messages (the group chat thread) -----------------------------------------------------


def chat_to_steps(dump: Mapping[str, Any]) -> tuple[list[Step], dict[str, Any]]:
    """A dumped chat message (``msg.dump()``) as steps plus bookkeeping (everything else).

    Text content becomes one step (``user_input`` from ``user``, ``model_output`` otherwise);
    tool call requests and results become ``function_call`` / ``function_result`` steps; any
    other content stays in the bookkeeping. ``chat_from_steps`` inverts it exactly.
    """
    rest = {k: v for k, v in dump.items() if k != "content"}
    for key, empty in (("metadata", {}), ("models_usage", None)):
        if key in rest and rest[key] == empty:
            del rest[key]
    content = dump.get("content")
    kind = dump.get("type")
    if isinstance(content, str):
        step_type = "user_input" if dump.get("source") == "user" else "model_output"
        return [{"type": step_type, "content": [_text(content)]}], rest
    if kind == "ToolCallRequestEvent" and isinstance(content, list):
        steps = []
        raw: list[str | None] = []
        for call in content:
            arguments = _arguments(call["arguments"])
            steps.append({"type": "function_call", "id": call["id"], "name": call["name"],
                          "arguments": arguments})  # fmt: skip
            raw.append(None if json.dumps(arguments) == call["arguments"] else call["arguments"])
        if any(r is not None for r in raw):
            rest["_raw_arguments"] = raw
        return steps, rest
    if kind == "ToolCallExecutionEvent" and isinstance(content, list):
        steps = []
        for result in content:
            step: Step = {"type": "function_result", "call_id": result["call_id"],
                          "name": result["name"], "result": result["content"]}  # fmt: skip
            if result.get("is_error") is not None:
                step["is_error"] = result["is_error"]
            steps.append(step)
        return steps, rest
    return [], {**rest, "content": content}


def chat_from_steps(steps: Sequence[Step], rest: Mapping[str, Any]) -> dict[str, Any]:
    """The dumped chat message ``chat_to_steps`` took apart."""
    dump = {k: v for k, v in rest.items() if k != "_raw_arguments"}
    dump.setdefault("metadata", {})
    dump.setdefault("models_usage", None)
    if "content" in rest:
        return dump
    kind = rest.get("type")
    if kind == "ToolCallRequestEvent":
        raw = rest.get("_raw_arguments") or [None] * len(steps)
        dump["content"] = [
            {"id": s["id"], "name": s["name"],
             "arguments": r if r is not None else json.dumps(s.get("arguments") or {})}
            for s, r in zip(steps, raw)
        ]  # fmt: skip
    elif kind == "ToolCallExecutionEvent":
        dump["content"] = [
            {"content": s.get("result"), "name": s.get("name"), "call_id": s["call_id"],
             "is_error": s.get("is_error")}
            for s in steps
        ]  # fmt: skip
    else:
        dump["content"] = _block_text(steps[0].get("content")) if steps else ""
    return dump
