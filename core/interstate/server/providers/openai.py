"""Any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server) as a provider.

Each turn is one ``POST {base_url}/chat/completions`` with ``stream: true``; the whole chain is
sent as chat messages (these endpoints keep no state). Mapping, steps → messages:

* ``system_instruction`` → a ``system`` message first;
* ``user_input`` → ``user`` (text only: a string, text parts joined by newlines; with images:
  content parts, ``image_url`` from the image's ``uri`` or a ``data:`` URL of its ``data``;
  wav/mp3 audio data → ``input_audio``; other media are refused with 400);
* ``model_output`` → ``assistant`` (its text); ``function_call`` steps → ``tool_calls`` on one
  assistant message (joined to the assistant text just before them);
* ``function_result`` → a ``tool`` message (``tool_call_id`` = ``call_id``; a string result as
  is, a content list as its text, anything else JSON-encoded);
* ``thought`` and server-side tool steps are not sent.

Streamed back: ``reasoning_content`` (or ``reasoning``) as a ``thought`` step of
``thought_summary`` deltas, text as a ``model_output`` step of ``text`` deltas, then each tool
call (accumulated across chunks) as a complete ``function_call`` step. ``finish_reason: length``
ends the turn ``incomplete``. A non-streamed JSON reply is accepted too.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Iterable

import httpx
from httpx_sse import EventSource

from interstate.redact import redact
from interstate.server.providers._http import HttpProvider, open_stream, transport_error
from interstate.server.providers.base import (
    CloseStep,
    Delta,
    Finish,
    ModelTurn,
    OpenStep,
    ProviderError,
    ProviderItem,
)

#: Local models can take long to read a prompt; the read timeout applies between chunks.
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)

_TOOL_CHOICE = {"auto": "auto", "none": "none", "any": "required", "validated": "auto"}
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}
_IMAGE_DETAIL = {"low": "low", "medium": "auto", "high": "high", "ultra_high": "high"}


def _bad_request(message: str) -> ProviderError:
    return ProviderError(400, message)


def _texts(content: Iterable[Any]) -> list[str]:
    return [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]


def user_content(content: list[dict[str, Any]], where: str) -> str | list[dict[str, Any]]:
    """A user step's content as chat content: a string, or parts when it holds media."""
    if all(c.get("type") == "text" for c in content):
        return "\n".join(_texts(content))
    parts: list[dict[str, Any]] = []
    for item in content:
        kind = item.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": item.get("text", "")})
        elif kind == "image" and (item.get("uri") or item.get("data")):
            url = item.get("uri") or f"data:{item.get('mime_type') or 'image/png'};base64,{item['data']}"
            image: dict[str, Any] = {"url": url}
            if item.get("resolution") in _IMAGE_DETAIL:
                image["detail"] = _IMAGE_DETAIL[item["resolution"]]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "audio" and item.get("data") and item.get("mime_type") in _AUDIO_FORMATS:
            audio = {"data": item["data"], "format": _AUDIO_FORMATS[item["mime_type"]]}
            parts.append({"type": "input_audio", "input_audio": audio})
        else:
            raise _bad_request(
                f"The OpenAI-compatible provider ({where}) cannot send {kind} content "
                f"({item.get('mime_type') or 'no mime_type'}) to the model: it sends text, images "
                "(uri or data) and wav/mp3 audio data"
            )
    return parts


def result_text(result: Any) -> str:
    """A function result as a tool message's content."""
    if isinstance(result, str):
        return result
    if isinstance(result, list) and result and all(
        isinstance(c, dict) and isinstance(c.get("type"), str) for c in result
    ):
        return "\n".join(_texts(result))
    return json.dumps(result, ensure_ascii=False)


def chat_messages(
    system_instruction: str | None, steps: list[dict[str, Any]], *, where: str = "openai"
) -> list[dict[str, Any]]:
    """The chat messages for a chain's steps (see the module docstring for the mapping)."""
    messages: list[dict[str, Any]] = []
    if system_instruction:
        messages.append({"role": "system", "content": system_instruction})
    # The assistant message that function_call steps attach to, while it is the latest message.
    assistant: dict[str, Any] | None = None
    for step in steps:
        kind = step.get("type")
        if kind == "user_input":
            content = step.get("content") or []
            if content:
                messages.append({"role": "user", "content": user_content(content, where)})
                assistant = None
        elif kind == "model_output":
            text = "".join(_texts(step.get("content") or []))
            if text:
                assistant = {"role": "assistant", "content": text}
                messages.append(assistant)
        elif kind == "function_call":
            if assistant is None:
                assistant = {"role": "assistant", "content": None}
                messages.append(assistant)
            arguments = step.get("arguments")
            assistant.setdefault("tool_calls", []).append(
                {
                    "id": step.get("id"),
                    "type": "function",
                    "function": {
                        "name": step.get("name"),
                        "arguments": json.dumps(
                            arguments if arguments is not None else {}, ensure_ascii=False
                        ),
                    },
                }
            )
        elif kind == "function_result":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": step.get("call_id"),
                    "content": result_text(step.get("result")),
                }
            )
            assistant = None
        # thought steps and server-side tool steps have no chat message.
    return messages


def chat_tools(tools: list[dict[str, Any]] | None, where: str = "openai") -> list[dict[str, Any]]:
    out = []
    for tool in tools or []:
        if tool.get("type") != "function":
            raise _bad_request(
                f"The OpenAI-compatible provider ({where}) supports only function tools, not "
                f"{tool.get('type')!r}"
            )
        function = {k: tool[k] for k in ("name", "description", "parameters") if tool.get(k) is not None}
        out.append({"type": "function", "function": function})
    return out


def _apply_tool_choice(body: dict[str, Any], choice: Any) -> None:
    if isinstance(choice, str):
        if choice in _TOOL_CHOICE:
            body["tool_choice"] = _TOOL_CHOICE[choice]
        return
    if not isinstance(choice, dict):
        return
    allowed = choice.get("allowed_tools") or {}
    mode = allowed.get("mode") or "auto"
    names = [n for n in allowed.get("tools") or [] if isinstance(n, str)]
    if names and body.get("tools"):
        # Only the allowed tools are offered, so "auto"/"required" apply to them alone.
        body["tools"] = [t for t in body["tools"] if t["function"].get("name") in names]
    if mode == "none":
        body["tool_choice"] = "none"
    elif mode == "any" and len(names) == 1:
        body["tool_choice"] = {"type": "function", "function": {"name": names[0]}}
    else:
        body["tool_choice"] = _TOOL_CHOICE.get(mode, "auto")


def _apply_response_format(body: dict[str, Any], response_format: Any, where: str) -> None:
    formats = response_format if isinstance(response_format, list) else [response_format]
    for fmt in formats:
        if not isinstance(fmt, dict):
            continue
        kind = fmt.get("type", "text")
        if kind == "text":
            if fmt.get("mime_type") == "application/json":
                if fmt.get("schema") is not None:
                    body["response_format"] = {
                        "type": "json_schema",
                        "json_schema": {"name": "response", "schema": fmt["schema"]},
                    }
                else:
                    body["response_format"] = {"type": "json_object"}
        else:
            raise _bad_request(
                f"The OpenAI-compatible provider ({where}) produces text only; it cannot honour "
                f"a response_format of type {kind!r}"
            )


def chat_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage → the Interactions usage fields."""
    out: dict[str, Any] = {}
    if isinstance(usage.get("prompt_tokens"), int):
        out["total_input_tokens"] = usage["prompt_tokens"]
    if isinstance(usage.get("completion_tokens"), int):
        out["total_output_tokens"] = usage["completion_tokens"]
    if isinstance(usage.get("total_tokens"), int):
        out["total_tokens"] = usage["total_tokens"]
    elif out:
        out["total_tokens"] = out.get("total_input_tokens", 0) + out.get("total_output_tokens", 0)
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    if isinstance(reasoning, int) and reasoning:
        out["total_thought_tokens"] = reasoning
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if isinstance(cached, int) and cached:
        out["total_cached_tokens"] = cached
    return out


class _ChatStream:
    """Turns chat-completion chunks into provider items."""

    def __init__(self, turn: ModelTurn, where: str) -> None:
        self.turn = turn
        self.where = where
        self.open: str | None = None  # "thought" or "model_output"
        self.calls: dict[Any, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def _switch(self, kind: str) -> list[ProviderItem]:
        if self.open == kind:
            return []
        items: list[ProviderItem] = [CloseStep()] if self.open else []
        self.open = kind
        shell = {"type": "model_output", "content": []} if kind == "model_output" else {"type": "thought"}
        return [*items, OpenStep(shell)]

    def feed(self, chunk: Any) -> list[ProviderItem]:
        if not isinstance(chunk, dict):
            raise ProviderError(502, f"{self.where} sent a chunk that is not a JSON object")
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            code = error.get("code") if isinstance(error, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 502
            raise ProviderError(status, f"{self.where} failed mid-stream: {message}")
        if isinstance(chunk.get("usage"), dict):
            self.usage = chat_usage(chunk["usage"])
        items: list[ProviderItem] = []
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # n > 1 is never requested
            delta = choice.get("delta") or choice.get("message") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                items += self._switch("thought")
                items.append(Delta({"type": "thought_summary", "content": {"type": "text", "text": reasoning}}))
            content = delta.get("content")
            if isinstance(content, list):
                content = "".join(_texts(content))
            if isinstance(content, str) and content:
                items += self._switch("model_output")
                items.append(Delta({"type": "text", "text": content}))
            for position, call in enumerate(delta.get("tool_calls") or []):
                self._add_call(position, call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return items

    def _add_call(self, position: int, call: dict[str, Any]) -> None:
        key = call.get("index", position)
        slot = self.calls.setdefault(key, {"id": None, "name": "", "arguments": ""})
        if call.get("id") and not slot["id"]:
            slot["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name") and not slot["name"]:
            slot["name"] = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            slot["arguments"] += arguments
        elif isinstance(arguments, dict):
            slot["arguments"] += json.dumps(arguments)

    def finish(self) -> list[ProviderItem]:
        items: list[ProviderItem] = [CloseStep()] if self.open else []
        self.open = None
        for number, call in enumerate(self.calls.values()):  # in order of first appearance
            text = call["arguments"].strip()
            try:
                arguments = json.loads(text) if text else {}
            except json.JSONDecodeError:
                arguments = {"_raw": call["arguments"]}
            if not isinstance(arguments, dict):
                arguments = {"value": arguments}
            step = {
                "type": "function_call",
                "id": call["id"] or f"call_{self.turn.interaction_id[-10:]}_{number}",
                "name": call["name"],
                "arguments": arguments,
            }
            items += [OpenStep(step), CloseStep()]
        status = "incomplete" if self.finish_reason == "length" else None
        return [*items, Finish(status=status, usage=self.usage)]


class OpenAIProvider(HttpProvider):
    """A provider over ``POST {base_url}/chat/completions`` (``base_url`` ends in ``/v1``)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        if not base_url:
            raise ValueError("OpenAIProvider needs a base URL, e.g. http://localhost:11434/v1")
        super().__init__(base_url, timeout=timeout, http_client=http_client,
                         max_retries=max_retries, retry_backoff=retry_backoff)  # fmt: skip
        self.api_key = api_key

    @property
    def where(self) -> str:
        return f"the OpenAI-compatible endpoint {redact(self.base_url)}"

    def chat_request(self, turn: ModelTurn) -> dict[str, Any]:
        """The JSON body sent for ``turn``."""
        where = redact(self.base_url)
        body: dict[str, Any] = {
            "model": turn.model,
            "messages": chat_messages(turn.system_instruction, [*turn.history, *turn.input], where=where),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        tools = chat_tools(turn.tools, where)
        if tools:
            body["tools"] = tools
        config = turn.generation_config or {}
        for ours, theirs in (
            ("max_output_tokens", "max_tokens"),
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("seed", "seed"),
            ("stop_sequences", "stop"),
        ):
            if config.get(ours) is not None:
                body[theirs] = config[ours]
        if config.get("tool_choice") is not None:
            _apply_tool_choice(body, config["tool_choice"])
        if turn.response_format:
            _apply_response_format(body, turn.response_format, where)
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "text/event-stream, application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    async def generate(self, turn: ModelTurn) -> AsyncIterator[ProviderItem]:
        body = self.chat_request(turn)
        client = self._http()
        url = f"{self.base_url}/chat/completions"
        response = await open_stream(
            client,
            lambda: client.build_request("POST", url, json=body, headers=self._headers()),
            where=self.where,
            max_retries=self.max_retries,
            backoff=self.retry_backoff,
        )
        stream = _ChatStream(turn, self.where)
        try:
            async for chunk in self._chunks(response):
                for item in stream.feed(chunk):
                    yield item
        except httpx.TransportError as exc:
            raise transport_error(exc, self.where) from exc
        finally:
            await response.aclose()
        for item in stream.finish():
            yield item

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[Any]:
        if "text/event-stream" in response.headers.get("content-type", ""):
            async for sse in EventSource(response).aiter_sse():
                data = sse.data.strip()
                if not data:
                    continue
                if data == "[DONE]":
                    return
                try:
                    yield json.loads(data)
                except json.JSONDecodeError:
                    raise ProviderError(
                        502, f"{self.where} sent an event that is not JSON: {data[:200]!r}"
                    ) from None
            return
        raw = await response.aread()
        try:
            yield json.loads(raw)
        except json.JSONDecodeError:
            raise ProviderError(
                502,
                f"{self.where} answered neither an event stream nor JSON: {raw[:200]!r}. "
                "Check that the base URL ends in /v1 (e.g. http://localhost:11434/v1).",
            ) from None
