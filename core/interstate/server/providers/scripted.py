"""A deterministic model for tests, examples and the offline demo.

A script is a list of rules (or ``{"rules": [...], "default": reply}``). The first rule whose
``when`` matches the turn gives the reply; with no match (or no script) the model echoes.

``when`` (all keys optional, all must match):
  ``contains``  substring of the latest user text     ``after``  type of the last input step
                                                      (of the history, for an empty input)
  ``model``     glob on the model name                ``turn``   0-based position in the chain
  ``tool``      a function tool of that name is offered this turn

A reply may have:
  ``text``            the answer; ``{input}``, ``{result}``, ``{turn}``, ``{model}`` are filled in
  ``thought``         a thought summary emitted before the answer
  ``function_calls``  ``[{"name", "arguments"}]``: the turn ends in ``requires_action``
  ``chunk_size``      stream ``text`` in deltas of this many characters (default: one delta)
  ``delay`` / ``chunk_delay``  seconds to wait before answering / between deltas
  ``error``           ``{"status", "message", "retry_after"?}``: fail with that HTTP status
  ``status``          final status override (e.g. ``"incomplete"``)

Without a script: ``echo: <latest user text>``, or ``result: <json>`` after a function result.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
from pathlib import Path
from typing import Any, AsyncIterator

from interstate.server.history import joined_chars, json_chars
from interstate.server.providers.base import (
    CloseStep,
    Delta,
    Finish,
    ModelTurn,
    OpenStep,
    Provider,
    ProviderError,
    ProviderItem,
)

Script = dict[str, Any]


def load_script(source: str | Path | list[Any] | dict[str, Any] | None) -> Script:
    """A script from a JSON file path, a list of rules or a ``{"rules", "default"}`` dict."""
    if source is None:
        return {"rules": []}
    if isinstance(source, (str, Path)):
        try:
            source = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"Cannot read the scripted model's script {source}: {exc}") from exc
    if isinstance(source, list):
        source = {"rules": source}
    if not isinstance(source, dict) or not isinstance(source.get("rules", []), list):
        raise ValueError("A script is a list of rules or {'rules': [...], 'default': {...}}")
    for rule in source.get("rules", []):
        if not isinstance(rule, dict) or not isinstance(rule.get("reply"), dict):
            raise ValueError(f"Each script rule needs a 'reply' object; got {rule!r}")
    return {"rules": list(source.get("rules", [])), "default": source.get("default")}


def _text_of(step: dict[str, Any]) -> str:
    return "".join(
        c.get("text", "") for c in step.get("content") or [] if c.get("type") == "text"
    )


def latest_user_text(steps: list[dict[str, Any]]) -> str:
    for step in reversed(steps):
        if step.get("type") == "user_input":
            return _text_of(step)
    return ""


def _latest_result(steps: list[dict[str, Any]]) -> str:
    for step in reversed(steps):
        if step.get("type") == "function_result":
            result = step.get("result")
            return result if isinstance(result, str) else json.dumps(result, sort_keys=True)
    return ""


def _last_step_type(turn: ModelTurn) -> str | None:
    """The type of the last input step; for a turn with no input (a continuation that sends
    nothing new), the type of the last step of its history."""
    steps = turn.input or turn.history
    return steps[-1].get("type") if steps else None


def count_tokens(value: Any) -> int:
    """A deterministic stand-in for a tokenizer: one token per four characters of JSON."""
    return math.ceil(len(json.dumps(value, separators=(",", ":"))) / 4) if value else 0


def prompt_tokens(turn: ModelTurn) -> int:
    """``count_tokens`` of the history and input, without encoding a history whose size the
    runner already knows (so a deep chain costs nothing extra per turn)."""
    if turn.history_json_chars is None:
        return count_tokens([*turn.history, *turn.input])
    return math.ceil(joined_chars(turn.history_json_chars, json_chars(turn.input)) / 4)


class ScriptedProvider(Provider):
    name = "scripted"

    def __init__(self, script: str | Path | list[Any] | dict[str, Any] | None = None) -> None:
        self.script = load_script(script)

    def _matches(self, when: dict[str, Any], turn: ModelTurn, steps: list[dict[str, Any]]) -> bool:
        if "contains" in when and when["contains"] not in latest_user_text(steps):
            return False
        if "after" in when and _last_step_type(turn) != when["after"]:
            return False
        if "model" in when and not fnmatch.fnmatchcase(turn.model, when["model"]):
            return False
        if "turn" in when and when["turn"] != turn.depth:
            return False
        tools = {t.get("name") for t in turn.tools or [] if t.get("type") == "function"}
        return not ("tool" in when and when["tool"] not in tools)

    def _reply_for(self, turn: ModelTurn) -> dict[str, Any]:
        steps = [*turn.history, *turn.input]
        for rule in self.script["rules"]:
            if self._matches(rule.get("when") or {}, turn, steps):
                return rule["reply"]
        if self.script.get("default"):
            return self.script["default"]
        if _last_step_type(turn) == "function_result":
            return {"text": "result: {result}"}
        return {"text": "echo: {input}"}

    async def generate(self, turn: ModelTurn) -> AsyncIterator[ProviderItem]:
        reply = self._reply_for(turn)
        steps = [*turn.history, *turn.input]
        if reply.get("delay"):
            await asyncio.sleep(float(reply["delay"]))
        if reply.get("error"):
            error = reply["error"]
            raise ProviderError(
                int(error.get("status", 500)),
                error.get("message", "scripted failure"),
                retry_after=error.get("retry_after"),
            )
        output: list[Any] = []
        if reply.get("thought"):
            yield OpenStep({"type": "thought"})
            summary = {"type": "text", "text": reply["thought"]}
            yield Delta({"type": "thought_summary", "content": summary})
            yield CloseStep()
            output.append(reply["thought"])
        if "text" in reply:
            fields = {  # computed only when the text asks for it
                "input": lambda: latest_user_text(steps),
                "result": lambda: _latest_result(steps),
                "turn": lambda: turn.depth,
                "model": lambda: turn.model,
            }
            text = str(reply["text"])
            for name, value in fields.items():
                if "{" + name + "}" in text:
                    text = text.replace("{" + name + "}", str(value()))
            size = int(reply.get("chunk_size") or len(text) or 1)
            yield OpenStep({"type": "model_output", "content": []})
            for start in range(0, max(len(text), 1), size):
                if start and reply.get("chunk_delay"):
                    await asyncio.sleep(float(reply["chunk_delay"]))
                yield Delta({"type": "text", "text": text[start : start + size]})
            yield CloseStep()
            output.append(text)
        for index, call in enumerate(reply.get("function_calls") or []):
            step = {
                "type": "function_call",
                "id": call.get("id") or f"call_{turn.interaction_id[-10:]}_{index}",
                "name": call["name"],
                "arguments": call.get("arguments") or {},
            }
            yield OpenStep(step)
            yield CloseStep()
            output.append(step)
        input_tokens = prompt_tokens(turn) + count_tokens(turn.system_instruction)
        output_tokens = count_tokens(output)
        usage = {
            "total_input_tokens": input_tokens,
            "total_output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        yield Finish(status=reply.get("status"), usage=usage)
