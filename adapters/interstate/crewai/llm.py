"""``InteractionsLLM``: a CrewAI ``BaseLLM`` that keeps each conversation on the server.

CrewAI's agent loop passes the whole message list to ``call()`` on every iteration. This LLM
sends only what is new, chained with ``previous_interaction_id``:

1. the messages are cleaned (CrewAI-internal keys dropped) and fingerprinted prefix by prefix;
2. the longest prefix that an earlier call of the same *lane* sent is looked up — its
   interaction is the parent; everything after it is the delta (see ``messages.delta_steps``);
3. the delta goes out as input steps, with the system prompt as ``system_instruction`` and the
   tools as function tools; the answer is recorded under the fingerprint of the full list.
   The Interactions API carries only history across turns, so against Google the per-turn
   configuration (system prompt, tools, generation config) is resent on every call.

On an interstate server (``client.supports_extensions``) three extensions cut the rest:

* **inherited configuration** — the header ``x-interstate-inherit-config: true`` and only the
  configuration that differs from the parent turn's (normally nothing after a chain's first
  call): the server fills in the rest from the parent, and the model still sees all of it;
* **configuration roots** — CrewAI starts a new conversation for every task, with the agent's
  same system prompt and tools; a new chain starts under an empty recorded turn that carries
  them (``shared``), so only the first task of an agent sends them;
* **quotes** — CrewAI pastes earlier task outputs into each task's prompt; a stretch of a prompt
  that repeats an output of an earlier call (of any ``InteractionsLLM`` of this process on the
  same server) goes as an ``interstate_quote`` of that interaction (``quotes``), which the server
  turns back into the same text before the model sees it.

If the server refuses a quote or a root (deleted since), the call is sent again as it would go
to Google. ``inherit_config=False`` turns the first two off, ``quote_outputs=False`` the third.

A lane is ``(agent id, task id)`` from ``from_agent`` / ``from_task``. CrewAI's memory makes its
extra calls (extract, analyse, consolidate) through a copy of the agent's LLM from background
threads with neither set, so they are in the ``(None, None)`` lane and can never continue — or be
continued by — an agent's chain; the chain table is content-addressed and locked, so which
thread calls does not matter.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from crewai.llms.base_llm import BaseLLM, llm_call_context
from pydantic import BaseModel, PrivateAttr

from interstate.client import Client
from interstate.errors import BadRequestError, InteractionFailedError, NotFoundError

from .messages import (
    Reply,
    clean_message,
    crewai_tool_calls,
    delta_steps,
    fingerprints,
    interstate_tools,
    split_system,
    text_of,
)
from .shared import Shared, shared_for

__all__ = ["InteractionsLLM"]

Lane = tuple[str | None, str | None]
#: The effective per-turn configuration of an interaction, as a digest per field.
Config = dict[str, str]
INHERIT_HEADER = "x-interstate-inherit-config"
_LABEL_VALUE = re.compile(r"[^a-z0-9_\-]+")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _label(value: str) -> str:
    return _LABEL_VALUE.sub("-", value.lower()).strip("-")[:63] or "x"


class _Chains:
    """(lane, fingerprint of a sent message list) → the interactions that answered it."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._entries: OrderedDict[tuple[Lane, str], list[tuple[str, Reply, Config]]] = OrderedDict()

    def find(
        self, lane: Lane, prints: list[str], messages: list[dict[str, Any]], first: int
    ) -> tuple[int, str, Reply, Config] | None:
        """The longest earlier prefix ``messages[:k]`` (``first <= k < len``) of this lane."""
        with self._lock:
            for k in range(len(prints) - 1, first - 1, -1):
                entries = self._entries.get((lane, prints[k - 1])) if k else None
                if not entries:
                    continue
                self._entries.move_to_end((lane, prints[k - 1]))
                following = messages[k]
                for entry in reversed(entries):  # the one CrewAI echoes
                    if following.get("role") == "assistant" and _echoes(following, entry[1]):
                        return (k, *entry)
                return (k, *entries[-1])
        return None

    def add(
        self, lane: Lane, fingerprint: str, interaction_id: str, reply: Reply, config: Config
    ) -> None:
        with self._lock:
            entries = self._entries.setdefault((lane, fingerprint), [])
            entries.append((interaction_id, reply, config))
            del entries[:-8]
            self._entries.move_to_end((lane, fingerprint))
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)


@dataclass(frozen=True)
class _Request:
    """A create's arguments, the effective configuration digests, and the interactions the
    arguments reference through interstate extensions (configuration root, quoted outputs)."""

    params: dict[str, Any]
    config: Config
    references: list[str]


def _digest(value: Any) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    ).hexdigest()


def _echoes(message: dict[str, Any], reply: Reply) -> bool:
    if reply.calls:
        return [c.get("id") for c in message.get("tool_calls") or []] == [c[0] for c in reply.calls]
    return reply.text is not None and text_of(message.get("content")).strip().startswith(
        reply.text.strip()
    )


class InteractionsLLM(BaseLLM):
    """A CrewAI LLM on the Interactions API (an interstate server, embedded, or Google).

    ``InteractionsLLM(model="gemini-3-flash-preview", url="sqlite:///crew.db")`` or with
    ``client=Client.from_url(...)``. Options: ``labels`` (added to every interaction),
    ``system_prompt`` (``"every_turn"``: the system prompt is sent as ``system_instruction`` on
    every call, as the API requires; ``"history"``: sent once, as the first input step of each
    chain, so later calls carry only the delta — fewer bytes, but the model sees the
    instructions as a user turn), ``function_calling`` (False selects CrewAI's ReAct text
    protocol), ``max_chains`` (size of the table of open conversations), ``inherit_config``
    (on an interstate server, send the system prompt, tools and generation config only when they
    differ from the parent turn's, and start new chains under a configuration root; the server
    reuses the parent's — an interstate extension, ignored against Google, where they are resent
    every turn), ``quote_outputs`` (on an interstate server, send text that repeats an earlier
    output as a reference to it).
    """

    llm_type: str = "interstate"
    provider: str = "interstate"
    url: str | None = None
    labels: dict[str, str] = {}
    system_prompt: Literal["every_turn", "history"] = "every_turn"
    function_calling: bool = True
    max_chains: int = 4096
    inherit_config: bool = True
    quote_outputs: bool = True
    context_window: int = 128_000

    _client: Client = PrivateAttr()
    _chains: _Chains = PrivateAttr()
    _shared: Shared = PrivateAttr()
    _owns_client: bool = PrivateAttr(default=False)

    def __init__(self, client: Client | None = None, **data: Any) -> None:
        super().__init__(**data)
        self._owns_client = client is None
        self._client = client if client is not None else Client.from_url(self.url)
        self._chains = _Chains(self.max_chains)
        self._shared = shared_for(self._client, self.url if client is None else None)

    @property
    def client(self) -> Client:
        return self._client

    def close(self) -> None:
        """Close the client this LLM opened from ``url`` (a ``client=`` you passed stays
        yours); copies share it, so close the original once the crew is done."""
        if self._owns_client:
            self._owns_client = False
            self._client.close()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> "InteractionsLLM":
        """Copies (``Crew.copy()``, ``kickoff_for_each``) share the client and the chain table:
        a connection cannot be deep-copied, and chains are content-addressed anyway."""
        new = self.model_copy(deep=False)
        new.labels = dict(self.labels)
        new.additional_params = dict(self.additional_params)
        return new

    # -- capabilities ---------------------------------------------------------------------
    def supports_function_calling(self) -> bool:
        return self.function_calling

    def supports_stop_words(self) -> bool:
        return True

    def get_context_window_size(self) -> int:
        return self.context_window

    def get_input_tokens_count(
        self,
        messages: str | list[Any],
        tools: list[dict[str, Any]] | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> int:
        """One token per four characters of text (the server counts exactly; this is a
        preflight estimate for CrewAI's context-window checks)."""
        if isinstance(messages, str):
            return (len(messages) + 3) // 4
        return (sum(len(text_of(m.get("content"))) for m in messages) + 3) // 4

    # -- the call -------------------------------------------------------------------------
    def call(
        self,
        messages: str | list[Any],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | Any:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        cleaned = [clean_message(m) for m in messages]
        with llm_call_context():
            return self._call(cleaned, tools, callbacks, available_functions, from_task,
                              from_agent, response_model)  # fmt: skip

    def _call(
        self,
        cleaned: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        callbacks: list[Any] | None,
        available_functions: dict[str, Any] | None,
        from_task: Any | None,
        from_agent: Any | None,
        response_model: type[BaseModel] | None,
    ) -> str | Any:
        self._emit_call_started_event(
            messages=cleaned, tools=tools, callbacks=callbacks,
            available_functions=available_functions, from_task=from_task, from_agent=from_agent,
        )  # fmt: skip
        self._invoke_before_llm_call_hooks(cleaned, from_agent)
        try:
            result, interaction = self._send(cleaned, tools, from_task, from_agent, response_model)
        except Exception as exc:
            self._emit_call_failed_event(error=str(exc), from_task=from_task, from_agent=from_agent)
            raise
        if isinstance(result, list) and available_functions:
            result = self._run_functions(result, available_functions)
        if isinstance(result, str):
            result = self._invoke_after_llm_call_hooks(cleaned, result, from_agent)
        usage = interaction.usage
        usage_dict = {
            "prompt_tokens": (usage.total_input_tokens or 0) if usage else 0,
            "completion_tokens": (usage.total_output_tokens or 0) if usage else 0,
            "total_tokens": (usage.total_tokens or 0) if usage else 0,
        }
        self._track_token_usage_internal(usage_dict)
        from crewai.events.types.llm_events import LLMCallType

        call_type = LLMCallType.TOOL_CALL if isinstance(result, list) else LLMCallType.LLM_CALL
        self._emit_call_completed_event(
            response=result, call_type=call_type, from_task=from_task, from_agent=from_agent,
            messages=cleaned, usage=usage_dict, response_id=interaction.id,
        )  # fmt: skip
        if response_model is not None and isinstance(result, str):
            return _parse_model(response_model, result)
        return result

    def _send(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        from_task: Any | None,
        from_agent: Any | None,
        response_model: type[BaseModel] | None,
    ) -> tuple[str | list[dict[str, Any]], Any]:
        lane: Lane = (_key(from_agent), _key(from_task))
        prints = fingerprints(messages)
        found = self._chains.find(lane, prints, messages, max(split_system(messages)[1], 1))
        function_tools = interstate_tools(tools) if self.function_calling else None
        labels = {"interstate-kind": "crewai-llm", **self.labels}
        role = getattr(from_agent, "role", None)
        labels["crewai-call"] = "agent" if from_agent is not None else "internal"
        if isinstance(role, str) and role:
            labels["crewai-agent"] = _label(role)
        extensions = self._client.supports_extensions
        request = self._request(messages, found, function_tools, response_model, extensions)
        try:
            interaction = self._client.interactions.create(**request.params, labels=labels)
        except (NotFoundError, BadRequestError):
            if not request.references:
                raise
            # A quoted output or the configuration root is gone (deleted, or another server's
            # id): forget them, and send this call as it goes to Google — all of it as text.
            self._shared.outputs.forget(request.references)
            self._shared.roots.forget(request.references)
            request = self._request(messages, found, function_tools, response_model, False)
            interaction = self._client.interactions.create(**request.params, labels=labels)
        if interaction.status in ("failed", "cancelled"):
            raise InteractionFailedError.of(interaction)
        if extensions and self.quote_outputs and interaction.status == "completed":
            self._shared.outputs.add(interaction.id, interaction.output_text)
        calls = crewai_tool_calls(interaction.steps or []) if function_tools else []
        if calls:
            reply = Reply(calls=tuple((c["id"], c["function"]["name"], c["function"]["arguments"])
                                      for c in calls))  # fmt: skip
            result: str | list[dict[str, Any]] = calls
        else:
            result = self._apply_stop_words(interaction.output_text or "")
            reply = Reply(text=result)
        if response_model is None:  # one-shot structured calls are never continued
            self._chains.add(lane, prints[-1], interaction.id, reply, request.config)
        return result, interaction

    def _request(
        self,
        messages: list[dict[str, Any]],
        found: tuple[int, str, Reply, Config] | None,
        function_tools: list[dict[str, Any]] | None,
        response_model: type[BaseModel] | None,
        extensions: bool,
    ) -> _Request:
        """The create for ``messages``: the delta after ``found`` (or all of it), and the
        per-turn configuration unless it can be inherited; with ``extensions``, a new chain
        starts under its configuration root and repeated outputs go as quotes."""
        system, n_system = split_system(messages)
        parent: str | None = None
        parent_config: Config | None = None
        if found is not None:
            k, parent, reply, parent_config = found
            steps = delta_steps(messages[k:], reply)
        else:
            steps = delta_steps(messages[n_system:])
            if system and self.system_prompt == "history":
                steps.insert(0, {"type": "user_input",
                                 "content": [{"type": "text", "text": f"[system]\n{system}"}]})  # fmt: skip
        if not steps:  # nothing new (e.g. the same list sent twice): ask again from the parent
            steps = [{"type": "user_input", "content": [{"type": "text", "text": "Continue."}]}]
        per_turn: dict[str, Any] = {
            "system_instruction": system if self.system_prompt == "every_turn" else None,
            "tools": function_tools,
            "generation_config": self._generation_config() or None,
            "response_format": None if response_model is None else {
                "type": "text", "mime_type": "application/json",
                "schema": response_model.model_json_schema(),
            },
        }  # fmt: skip
        per_turn = {k: v for k, v in per_turn.items() if v}
        effective: Config = {k: _digest(v) for k, v in per_turn.items()}
        references: list[str] = []
        inherit = extensions and self.inherit_config
        if inherit and parent is None and per_turn:
            parent = self._shared.roots.get_or_record(  # one per labels too: they are the user's
                _digest([self.model, self.labels, effective]), lambda: self._record_root(per_turn)
            )
            parent_config = effective
            references.append(parent)
        params: dict[str, Any] = {"model": self.model}
        if (
            inherit
            and parent_config is not None
            and set(parent_config) <= set(effective)  # absent means "inherit": nothing to drop
        ):
            per_turn = {k: v for k, v in per_turn.items() if parent_config.get(k) != effective[k]}
            params["extra_headers"] = {INHERIT_HEADER: "true"}
        if extensions and self.quote_outputs:
            steps, quoted = self._shared.outputs.quote_steps(steps)
            references += quoted
        params["input"] = steps
        if parent:
            params["previous_interaction_id"] = parent
        params.update(per_turn)
        return _Request(params, effective, references)

    def _record_root(self, config: dict[str, Any]) -> str:
        """Record the configuration root of ``config`` (see ``shared``): an empty turn."""
        root = self._client.interstate.record(
            model=self.model, input=[], labels={**self.labels, "interstate-kind": "crewai-config"},
            **config,
        )  # fmt: skip
        return root.id

    def _generation_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.stop_sequences:
            config["stop_sequences"] = list(self.stop_sequences)[:5]
        if self.temperature is not None:
            config["temperature"] = self.temperature
        if self.top_p is not None:
            config["top_p"] = self.top_p
        if self.seed is not None:
            config["seed"] = self.seed
        max_tokens = self._effective_max_tokens()
        if max_tokens:
            config["max_output_tokens"] = int(max_tokens)
        return config

    @staticmethod
    def _run_functions(calls: list[dict[str, Any]], functions: dict[str, Any]) -> Any:
        """With ``available_functions``, CrewAI expects the LLM to run the first known call."""
        for call in calls:
            name = call["function"]["name"]
            if name in functions:
                args = json.loads(call["function"]["arguments"] or "{}")
                return str(functions[name](**args))
        return calls

    async def acall(self, *args: Any, **kwargs: Any) -> str | Any:
        import asyncio

        return await asyncio.to_thread(self.call, *args, **kwargs)


def _key(obj: Any) -> str | None:
    if obj is None:
        return None
    return str(getattr(obj, "id", None) or id(obj))


def _parse_model(model: type[BaseModel], text: str) -> BaseModel:
    text = text.strip()
    match = _FENCE.match(text)
    if match:
        text = match.group(1)
    return model.model_validate_json(text)
