"""``InteractionsChatCompletionClient``: an AutoGen model client that sends only what is new.

Per call (``create`` / ``create_stream``):

1. Leading ``SystemMessage``\\ s become the turn's ``system_instruction`` (the Interactions API
   applies it to one turn, so it is sent on every call, like ``tools``).
2. The rest is matched against stored chains **by content** (``ChainIndex.longest``): the
   longest prefix some stored interaction's chain holds. One client is usually shared by several
   agents, so the caller does not matter; only the messages do.
3. The request carries ``previous_interaction_id`` = that interaction and ``input`` = the
   remaining messages as steps (``_convert``). Nothing matched: the whole list is sent and
   starts a chain. A stale id (404) is forgotten and the call goes again.
4. On success the new interaction is tagged with the hash of ``messages + reply`` (and the shape
   of its input), so the agent's next call — in this process or another — continues from it.
   A failed call stores nothing anyone continues from: the retry chains from the last success.

One-off prompts never chain: a call made by a group chat manager (SelectorGroupChat's speaker
selection, MagenticOne's planning, ledger and final-answer prompts) or by a SocietyOfMindAgent
(found by walking the caller's frames), or any call with
``extra_create_args={"interstate_one_off": True}``, is sent whole with ``store=False``: it is
neither looked up nor stored, so it cannot leave dead-end chains for later calls to pick up.
``chain="never"`` makes every call such a stateless full-history call.

``inherit_config=True`` (interstate servers that support the ``x-interstate-inherit-config``
extension, see docs/server.md): a chained call whose system instruction, tools, generation
config and response format are exactly its parent's sends none of them and lets the server
reuse the parent's. Off by default; never used on Google's endpoint.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import weakref
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Literal, Mapping, Protocol, Sequence

from autogen_core import CancellationToken, Component
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,  # type: ignore[attr-defined]
    ModelFamily,
    ModelInfo,
    RequestUsage,
    UserMessage,
    validate_model_info,
)
from autogen_core.tools import Tool, ToolSchema
from interstate.client import APIStatusError, AsyncClient
from interstate.types import ErrorEvent, Interaction, StepDelta
from interstate.types.accumulate import StepAccumulator
from pydantic import BaseModel, SecretStr
from typing_extensions import Self

from . import _convert as cv
from ._chains import ChainIndex, config_of, note_config

__all__ = [
    "CallRecord",
    "InteractionFailedError",
    "InteractionsChatCompletionClient",
    "InteractionsChatCompletionClientConfig",
]

_GENERATION_KEYS = {"max_output_tokens", "seed", "stop_sequences", "temperature", "top_p",
                    "thinking_level", "thinking_summaries"}  # fmt: skip
_ALIASES = {"max_tokens": "max_output_tokens", "stop": "stop_sequences"}
ONE_OFF_ARG = "interstate_one_off"
INHERIT_HEADER = "x-interstate-inherit-config"
_INHERITED = ("system_instruction", "tools", "generation_config", "response_format")
#: New attempts after a stale parent id, per call.
_MAX_STALE = 3


class InteractionFailedError(RuntimeError):
    """The interaction ended ``failed`` / ``cancelled`` (the model call did not succeed)."""

    def __init__(self, interaction: Interaction) -> None:
        detail = "; ".join(str(e.message) for e in interaction.errors or []) or "no detail"
        super().__init__(f"Interaction {interaction.id} ended {interaction.status}: {detail}")
        self.interaction = interaction


class RunObserver(Protocol):
    """Told about agent model calls during ``TeamStateStore.run`` (checkpoints)."""

    async def before_call(self, agent: str | None) -> None: ...

    def after_call(self, agent: str | None, ok: bool) -> None: ...


#: Set by ``TeamStateStore.run``; agent calls (not one-offs) report to it.
RUN_OBSERVER: ContextVar[RunObserver | None] = ContextVar("interstate_autogen_run", default=None)


@dataclass
class CallRecord:
    """What one call sent (kept in ``client.calls``; handy for tests and benchmarks)."""

    n_messages: int
    n_sent: int
    previous_interaction_id: str | None
    interaction_id: str | None
    stored: bool
    agent: str | None


@dataclass
class _Plan:
    params: dict[str, Any]
    body: list[LLMMessage]
    hashes: list[str]
    matched: int
    one_off: bool
    agent: str | None
    config: str = ""
    record: CallRecord = field(init=False)


class InteractionsChatCompletionClientConfig(BaseModel):
    """Declarative configuration (``dump_component`` / ``load_component``)."""

    model: str
    url: str | None = None
    api_key: SecretStr | None = None
    model_info: ModelInfo | None = None
    generation_config: dict[str, Any] | None = None
    chain: Literal["auto", "never"] = "auto"
    labels: dict[str, str] | None = None
    token_limit: int = 1_048_576
    max_retries: int = 4
    inherit_config: bool = False


def _caller() -> tuple[bool, str | None]:
    """``(one_off, agent_name)`` from the frames that led to this call."""
    try:
        from autogen_agentchat.agents import BaseChatAgent, SocietyOfMindAgent
        from autogen_agentchat.teams._group_chat._base_group_chat_manager import (
            BaseGroupChatManager,
        )
    except ImportError:  # pragma: no cover - agentchat is part of the autogen extra
        return False, None
    frame = sys._getframe(2)
    for _ in range(60):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, (BaseGroupChatManager, SocietyOfMindAgent)):
            return True, None
        if isinstance(owner, BaseChatAgent):
            return False, owner.name
        frame = frame.f_back
    return False, None


def _default_info(model: str) -> ModelInfo:
    families = {v for k, v in vars(ModelFamily).items() if k.isupper() and isinstance(v, str)}
    family = model if model in families else ModelFamily.UNKNOWN
    return ModelInfo(vision=True, function_calling=True, json_output=True, family=family,
                     structured_output=True, multiple_system_messages=True)  # fmt: skip


class InteractionsChatCompletionClient(ChatCompletionClient, Component[InteractionsChatCompletionClientConfig]):
    """An AutoGen ``ChatCompletionClient`` on the Interactions API that chains turns.

    ``url`` picks the server (``sqlite:///file.db`` / ``memory://`` embedded, ``http://...`` an
    ``interstate serve``, ``google``; default ``$INTERSTATE_URL``, else the embedded default
    database). Pass ``client=`` to use an ``interstate.client.AsyncClient`` of your own.
    """

    component_type = "model"
    component_config_schema = InteractionsChatCompletionClientConfig
    component_provider_override = "interstate.autogen.InteractionsChatCompletionClient"

    def __init__(
        self,
        model: str,
        *,
        url: str | None = None,
        api_key: str | None = None,
        client: AsyncClient | None = None,
        model_info: ModelInfo | None = None,
        generation_config: Mapping[str, Any] | None = None,
        chain: Literal["auto", "never"] = "auto",
        labels: Mapping[str, str] | None = None,
        token_limit: int = 1_048_576,
        max_retries: int = 4,
        inherit_config: bool = False,
    ) -> None:
        self._model = model
        self._inherit_config = inherit_config
        self._url = url
        self._api_key = api_key
        self._injected = client
        #: One AsyncClient (and its chain index) per event loop: httpx clients are loop-bound.
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncClient, ChainIndex]
        ] = weakref.WeakKeyDictionary()
        self._injected_index = ChainIndex(client) if client is not None else None
        self._model_info = model_info or _default_info(model)
        validate_model_info(self._model_info)
        self._generation_config = dict(generation_config or {})
        self._chain = chain
        self._labels = dict(labels) if labels else None
        self._token_limit = token_limit
        self._max_retries = max_retries
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
        #: The latest calls, oldest first (bounded).
        self.calls: deque[CallRecord] = deque(maxlen=10_000)

    # -- plumbing -----------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self._model

    def _current(self) -> tuple[AsyncClient, ChainIndex]:
        if self._injected is not None and self._injected_index is not None:
            return self._injected, self._injected_index
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = AsyncClient.from_url(self._url, api_key=self._api_key,
                                          max_retries=self._max_retries)  # fmt: skip
            entry = self._clients[loop] = (client, ChainIndex(client))
        return entry

    def interstate_client(self) -> AsyncClient:
        """The ``AsyncClient`` used in the running event loop (one per loop)."""
        return self._current()[0]

    def chain_index(self) -> ChainIndex:
        """The chain index of the running event loop's client."""
        return self._current()[1]

    async def close(self) -> None:
        for client, _ in list(self._clients.values()):
            await client.aclose()
        self._clients.clear()

    # -- requests -----------------------------------------------------------------------
    def _options(
        self,
        tools: Sequence[Tool | ToolSchema],
        tool_choice: Any,
        json_output: bool | type[BaseModel] | None,
        extra_create_args: Mapping[str, Any],
    ) -> dict[str, Any]:
        generation = dict(self._generation_config)
        for key, value in extra_create_args.items():
            if key == ONE_OFF_ARG:
                continue
            name = _ALIASES.get(key, key)
            if name not in _GENERATION_KEYS:
                raise ValueError(
                    f"Unsupported create argument {key!r}; use one of "
                    f"{sorted(_GENERATION_KEYS | set(_ALIASES) | {ONE_OFF_ARG})}"
                )
            generation[name] = list(value) if name == "stop_sequences" else value
        if tools:
            choice = cv.tool_choice_to_wire(tool_choice)
            if choice is not None:
                generation["tool_choice"] = choice
        return {
            "tools": cv.tools_to_wire(tools) or None,
            "generation_config": generation or None,
            "response_format": cv.response_format(json_output),
            "labels": self._labels,
        }

    async def _plan(
        self, messages: Sequence[LLMMessage], options: dict[str, Any], one_off: bool,
        agent: str | None,
    ) -> _Plan:  # fmt: skip
        system, body = cv.split_system(messages)
        if not body:  # only a system prompt (e.g. a selector prompt for OpenAI families)
            system, body = None, [UserMessage(content=system or "", source="user")]
        hashes = cv.prefix_hashes(body)
        matched, parent = 0, None
        if not one_off:
            matched, parent = await self.chain_index().longest(body, hashes)
        params = {
            "model": self._model,
            # Nothing new (the list ends with the model's own stored reply): no input at all,
            # the model continues the chain.
            "input": cv.messages_to_steps(body[matched:]) or None,
            "previous_interaction_id": parent,
            "system_instruction": system,
            **options,
        }
        config = json.dumps([params[k] for k in _INHERITED], sort_keys=True)
        index = self.chain_index()
        if (self._inherit_config and parent and index.shared
                and config_of(index.scope, parent) == config):  # fmt: skip
            params.update({k: None for k in _INHERITED})
            params["extra_headers"] = {INHERIT_HEADER: "true"}
        if one_off:
            params["store"] = False
        plan = _Plan(params, body, hashes, matched, one_off, agent, config)
        plan.record = CallRecord(len(body), len(body) - matched, parent, None, not one_off, agent)
        return plan

    async def _finish(
        self, plan: _Plan, interaction_id: str | None, steps: list[Any]
    ) -> tuple[Any, str | None]:
        content, thought = cv.assistant_parts(steps)
        plan.record.interaction_id = interaction_id
        if not plan.one_off and interaction_id:
            reply = cv.assistant_reply(content, thought)
            full = cv.extend_hash(plan.hashes[-1], reply)
            shapes = cv.shape(plan.body[plan.matched :])
            note_config(self.chain_index().scope, interaction_id, plan.config)
            try:
                await self.chain_index().tag(interaction_id, full, shapes)
            except Exception:
                # Untagged: later calls resend from an earlier prefix; nothing is inconsistent.
                self.chain_index().forget(full)
        return content, thought

    def _result(self, interaction: Any, content: Any, thought: str | None) -> CreateResult:
        usage = cv.usage_of(interaction.usage if interaction is not None else None)
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + usage.completion_tokens,
        )
        status = getattr(interaction, "status", None)
        return CreateResult(finish_reason=cv.finish_reason(status, content), content=content,
                            usage=usage, cached=False, thought=thought)  # fmt: skip

    def _stale(self, plan: _Plan, exc: Exception) -> bool:
        """A 404 for the parent: the remembered id is gone (deleted, or another database)."""
        if isinstance(exc, APIStatusError) and exc.status_code == 404 and plan.matched:
            self.chain_index().forget(plan.hashes[plan.matched - 1])
            return True
        return False

    # -- ChatCompletionClient -----------------------------------------------------------
    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        options = self._options(tools, tool_choice, json_output, extra_create_args)
        one_off, agent = self._classify(extra_create_args)
        observer = None if one_off else RUN_OBSERVER.get()
        if observer is not None:
            await observer.before_call(agent)
        ok = False
        try:
            for _attempt in range(_MAX_STALE + 1):
                plan = await self._plan(messages, options, one_off, agent)
                try:
                    future = asyncio.ensure_future(
                        self.interstate_client().interactions.create(**plan.params)
                    )
                    if cancellation_token is not None:
                        cancellation_token.link_future(future)
                    interaction = await future
                except Exception as exc:
                    if self._stale(plan, exc):
                        continue
                    raise
                if interaction.status not in ("completed", "requires_action", "incomplete"):
                    raise InteractionFailedError(interaction)
                steps = [s.to_wire() for s in interaction.steps or []]
                content, thought = await self._finish(plan, interaction.id, steps)
                self.calls.append(plan.record)
                ok = True
                return self._result(interaction, content, thought)
            raise RuntimeError("No usable chain after repeated stale interaction ids")
        finally:
            if observer is not None:
                observer.after_call(agent, ok)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
        include_usage: bool | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        options = self._options(tools, tool_choice, json_output, extra_create_args)
        one_off, agent = self._classify(extra_create_args)
        observer = None if one_off else RUN_OBSERVER.get()
        if observer is not None:
            await observer.before_call(agent)
        ok = False
        try:
            for _attempt in range(_MAX_STALE + 1):
                plan = await self._plan(messages, options, one_off, agent)
                try:
                    stream = await self.interstate_client().interactions.create(
                        stream=True, **plan.params
                    )
                except Exception as exc:
                    if self._stale(plan, exc):
                        continue
                    raise
                accumulator = StepAccumulator()
                final: Any = None
                interaction_id: str | None = None
                async with stream:
                    async for event in stream:
                        if cancellation_token is not None and cancellation_token.is_cancelled():
                            raise asyncio.CancelledError()
                        if isinstance(event, ErrorEvent):
                            message = event.error.message if event.error else "stream error"
                            raise RuntimeError(f"Interaction stream failed: {message}")
                        accumulator.apply_event(event.to_wire())
                        interaction = getattr(event, "interaction", None)
                        if interaction is not None:
                            interaction_id = interaction.id
                            if event.event_type == "interaction.completed":
                                final = interaction
                        if isinstance(event, StepDelta) and event.delta.type == "text":
                            step = accumulator.steps[event.index]
                            if step.get("type") == "model_output" and event.delta.text:
                                yield event.delta.text
                if final is None or final.status not in ("completed", "requires_action",
                                                         "incomplete"):  # fmt: skip
                    raise InteractionFailedError(final or Interaction(id=interaction_id,
                                                                      status="failed"))  # fmt: skip
                content, thought = await self._finish(plan, interaction_id, accumulator.steps)
                self.calls.append(plan.record)
                ok = True
                yield self._result(final, content, thought)
                return
            raise RuntimeError("No usable chain after repeated stale interaction ids")
        finally:
            if observer is not None:
                observer.after_call(agent, ok)

    def _classify(self, extra_create_args: Mapping[str, Any]) -> tuple[bool, str | None]:
        one_off, agent = _caller()
        if extra_create_args.get(ONE_OFF_ARG) is not None:
            one_off = bool(extra_create_args[ONE_OFF_ARG])
        return one_off or self._chain == "never", agent

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        """An estimate (one token per four characters of the request JSON): the server's
        tokenizer is not reachable from here."""
        system, body = cv.split_system(messages)
        payload = [system, cv.messages_to_steps(body), cv.tools_to_wire(tools)]
        return math.ceil(len(json.dumps(payload, separators=(",", ":"))) / 4)

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        return self._token_limit - self.count_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelCapabilities:  # type: ignore[override]
        info = self._model_info
        return ModelCapabilities(vision=info["vision"], function_calling=info["function_calling"],
                                 json_output=info["json_output"])  # fmt: skip

    @property
    def model_info(self) -> ModelInfo:
        return self._model_info

    # -- component ----------------------------------------------------------------------
    def _to_config(self) -> InteractionsChatCompletionClientConfig:
        return InteractionsChatCompletionClientConfig(
            model=self._model, url=self._url,
            api_key=SecretStr(self._api_key) if self._api_key else None,
            model_info=self._model_info, generation_config=self._generation_config or None,
            chain=self._chain, labels=self._labels, token_limit=self._token_limit,
            max_retries=self._max_retries, inherit_config=self._inherit_config,
        )  # fmt: skip

    @classmethod
    def _from_config(cls, config: InteractionsChatCompletionClientConfig) -> Self:
        return cls(
            config.model, url=config.url,
            api_key=config.api_key.get_secret_value() if config.api_key else None,
            model_info=config.model_info, generation_config=config.generation_config,
            chain=config.chain, labels=config.labels, token_limit=config.token_limit,
            max_retries=config.max_retries, inherit_config=config.inherit_config,
        )  # fmt: skip
