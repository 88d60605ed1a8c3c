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

Two interstate extensions (docs/server.md) cut what chained calls still resend. Both are on by
default and apply only where ``client.supports_extensions`` (embedded or ``interstate serve``);
requests to Google's endpoint are always plain:

* ``quote_inputs`` — text that is the output of a stored interaction (in a group chat: every
  other agent's reply, which is most of each call's new input) goes as an ``interstate_quote``
  of that interaction (``_quotes``). The server substitutes the text before storing or calling
  the model, so the prompt is byte-for-byte what it would have been. A quote of an interaction
  that is gone (404) is retried as text, and the interaction forgotten.
* ``inherit_config`` — a chained call whose system instruction, tools, generation config and
  response format are exactly its parent's (known in this process) sends none of them, with
  ``x-interstate-inherit-config: true``: the server reuses the parent's, the model sees the same.
  On by default because it changes nothing the model sees and the system prompt is most of a
  chained call's bytes once inputs are quoted.
"""

from __future__ import annotations

import asyncio
import json
import math
import weakref
from collections import deque
from contextlib import asynccontextmanager
from typing import (
    Any,
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Literal,
    Mapping,
    Sequence,
)

from autogen_core import CancellationToken, Component
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,  # type: ignore[attr-defined]
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
from ._calls import (
    ONE_OFF_ARG,
    RUN_OBSERVER,
    CallRecord,
    InteractionFailedError,
    Plan,
    caller,
    default_info,
    request_options,
)
from ._chains import ChainIndex, config_of, note_config
from ._quotes import output_text

__all__ = [
    "CallRecord",
    "InteractionFailedError",
    "InteractionsChatCompletionClient",
    "InteractionsChatCompletionClientConfig",
]

INHERIT_HEADER = "x-interstate-inherit-config"
_INHERITED = ("system_instruction", "tools", "generation_config", "response_format")
_SETTLED = ("completed", "requires_action", "incomplete")
#: New attempts after a 404 for a remembered id (a parent or a quoted interaction), per call.
_MAX_STALE = 3


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
    inherit_config: bool = True
    quote_inputs: bool = True


class InteractionsChatCompletionClient(ChatCompletionClient, Component[InteractionsChatCompletionClientConfig]):
    """An AutoGen ``ChatCompletionClient`` on the Interactions API that chains turns.

    ``url`` picks the server (``sqlite:///file.db`` / ``memory://`` embedded, ``http://...`` an
    ``interstate serve``, ``google``; default ``$INTERSTATE_URL``, else the embedded default
    database). Pass ``client=`` to use an ``interstate.client.AsyncClient`` of your own.
    ``quote_inputs`` and ``inherit_config`` (default on; interstate servers only) are the two
    extensions in the module docstring; turn them off to send what a plain Interactions API
    client sends.
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
        inherit_config: bool = True,
        quote_inputs: bool = True,
    ) -> None:
        self._model = model
        self._inherit_config = inherit_config
        self._quote_inputs = quote_inputs
        self._url = url
        self._api_key = api_key
        self._injected = client
        #: One AsyncClient (and its chain index) per event loop: httpx clients are loop-bound.
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncClient, ChainIndex]
        ] = weakref.WeakKeyDictionary()
        self._injected_index = ChainIndex(client) if client is not None else None
        self._model_info = model_info or default_info(model)
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
    async def _plan(
        self, messages: Sequence[LLMMessage], options: dict[str, Any], one_off: bool,
        agent: str | None, *, quotes: bool,
    ) -> Plan:  # fmt: skip
        system, body = cv.split_system(messages)
        if not body:  # only a system prompt (e.g. a selector prompt for OpenAI families)
            system, body = None, [UserMessage(content=system or "", source="user")]
        hashes = cv.prefix_hashes(body)
        index = self.chain_index()
        matched, parent = 0, None
        if not one_off:
            matched, parent = await index.longest(body, hashes)
        steps = cv.messages_to_steps(body[matched:])
        quoted: list[str] = []
        if quotes and self._quote_inputs:
            steps, quoted = await index.outputs.quote_steps(steps, look_up=not one_off)
        params = {
            "model": self._model,
            # Nothing new (the list ends with the model's own stored reply): no input at all,
            # the model continues the chain.
            "input": steps or None,
            "previous_interaction_id": parent,
            "system_instruction": system,
            **options,
        }
        config = json.dumps([params[k] for k in _INHERITED], sort_keys=True)
        if (self._inherit_config and parent and index.shared
                and config_of(index.scope, parent) == config):  # fmt: skip
            params.update({k: None for k in _INHERITED})
            params["extra_headers"] = {INHERIT_HEADER: "true"}
        if one_off:
            params["store"] = False
        record = CallRecord(len(body), len(body) - matched, parent, None, not one_off, agent,
                            quoted)  # fmt: skip
        return Plan(params, body, hashes, matched, one_off, agent, config, record)

    async def _open(
        self, messages: Sequence[LLMMessage], options: dict[str, Any], one_off: bool,
        agent: str | None, send: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> tuple[Plan, Any]:  # fmt: skip
        """Plan and ``send`` a call; after a 404 for a remembered id, forget it and go again.

        A 404 names a quoted interaction or the parent. Quotes are suspected first: the call
        goes again with their text; if that works they were gone and are forgotten, if it 404s
        too the parent is stale and is forgotten (quotes are used again after that).
        """
        quotes, suspects = True, []
        for _attempt in range(_MAX_STALE + 1):
            plan = await self._plan(messages, options, one_off, agent, quotes=quotes)
            try:
                response = await send(plan.params)
            except APIStatusError as exc:
                if exc.status_code != 404:
                    raise
                if plan.record.quoted:
                    quotes, suspects = False, plan.record.quoted
                elif plan.matched:
                    self.chain_index().forget(plan.hashes[plan.matched - 1])
                    quotes, suspects = True, []
                else:
                    raise
                continue
            if suspects:
                self.chain_index().outputs.forget(suspects)
            return plan, response
        raise RuntimeError("No usable chain after repeated stale interaction ids")

    async def _finish(
        self, plan: Plan, interaction_id: str | None, steps: list[Any], status: str | None
    ) -> tuple[Any, str | None]:
        content, thought = cv.assistant_parts(steps)
        plan.record.interaction_id = interaction_id
        self.calls.append(plan.record)
        if plan.one_off or not interaction_id:
            return content, thought
        index = self.chain_index()
        output = None
        # Quotable: a finished text reply that is exactly what a quote of it resolves to.
        if (index.shared and status == "completed" and isinstance(content, str)
                and output_text(steps) == content):  # fmt: skip
            output = index.outputs.remember(interaction_id, content)
        full = cv.extend_hash(plan.hashes[-1], cv.assistant_reply(content, thought))
        note_config(index.scope, interaction_id, plan.config)
        try:
            await index.tag(interaction_id, full, cv.shape(plan.body[plan.matched :]), output)
        except Exception:
            # Untagged: later calls resend from an earlier prefix; nothing is inconsistent.
            index.forget(full)
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

    @asynccontextmanager
    async def _observed(self, one_off: bool, agent: str | None) -> AsyncIterator[None]:
        """Report an agent call to the run observer (``TeamStateStore.run`` checkpoints)."""
        observer = None if one_off else RUN_OBSERVER.get()
        if observer is not None:
            await observer.before_call(agent)
        ok = False
        try:
            yield
            ok = True
        finally:
            if observer is not None:
                observer.after_call(agent, ok)

    def _classify(self, extra_create_args: Mapping[str, Any]) -> tuple[bool, str | None]:
        one_off, agent = caller()
        if extra_create_args.get(ONE_OFF_ARG) is not None:
            one_off = bool(extra_create_args[ONE_OFF_ARG])
        return one_off or self._chain == "never", agent

    def _options(
        self, tools: Sequence[Tool | ToolSchema], tool_choice: Any,
        json_output: bool | type[BaseModel] | None, extra_create_args: Mapping[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        return request_options(self._generation_config, self._labels, tools, tool_choice,
                               json_output, extra_create_args)  # fmt: skip

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

        async def send(params: dict[str, Any]) -> Interaction:
            future = asyncio.ensure_future(self.interstate_client().interactions.create(**params))
            if cancellation_token is not None:
                cancellation_token.link_future(future)
            return await future

        async with self._observed(one_off, agent):
            plan, interaction = await self._open(messages, options, one_off, agent, send)
            if interaction.status not in _SETTLED:
                raise InteractionFailedError(interaction)
            steps = [s.to_wire() for s in interaction.steps or []]
            content, thought = await self._finish(plan, interaction.id, steps, interaction.status)
        return self._result(interaction, content, thought)

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

        async def send(params: dict[str, Any]) -> Any:
            return await self.interstate_client().interactions.create(stream=True, **params)

        async with self._observed(one_off, agent):
            plan, stream = await self._open(messages, options, one_off, agent, send)
            accumulator = StepAccumulator()
            final: Any = None
            interaction_id: str | None = None
            async with stream:
                async for event in stream:
                    if cancellation_token is not None and cancellation_token.is_cancelled():
                        raise asyncio.CancelledError()
                    if isinstance(event, ErrorEvent):
                        errors = [event.error] if event.error else None
                        raise InteractionFailedError(Interaction(id=interaction_id, status="failed",
                                                                 errors=errors))  # fmt: skip
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
            if final is None or final.status not in _SETTLED:
                raise InteractionFailedError(final or Interaction(id=interaction_id,
                                                                  status="failed"))  # fmt: skip
            content, thought = await self._finish(plan, interaction_id, accumulator.steps,
                                                  final.status)  # fmt: skip
        yield self._result(final, content, thought)

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
            quote_inputs=self._quote_inputs,
        )  # fmt: skip

    @classmethod
    def _from_config(cls, config: InteractionsChatCompletionClientConfig) -> Self:
        return cls(
            config.model, url=config.url,
            api_key=config.api_key.get_secret_value() if config.api_key else None,
            model_info=config.model_info, generation_config=config.generation_config,
            chain=config.chain, labels=config.labels, token_limit=config.token_limit,
            max_retries=config.max_retries, inherit_config=config.inherit_config,
            quote_inputs=config.quote_inputs,
        )  # fmt: skip
