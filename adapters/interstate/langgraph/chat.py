"""``ChatInteractions``: a LangChain chat model on the Interactions API that sends only what is new.

    model = ChatInteractions.from_url("sqlite:///app.db", model="gemini-3-flash-preview")
    model = ChatInteractions(client=Client.from_url("google"), model="gemini-3-flash-preview")

Each call finds the longest prefix of its messages that an interaction already holds and sends
only the rest, with ``previous_interaction_id`` — so the bytes sent per turn stay flat as the
conversation grows. Where a prefix lives, in the order tried:

1. a checkpoint ``InteractionsSaver`` is storing or stored in this process (it registers the
   chain hash of its ``messages``; a call made while LangGraph still writes that checkpoint in
   the background waits for it, ``holder_wait`` seconds at most);
2. this model's own earlier turns — in memory, or (across processes) the stamp every AI message
   it returns carries in ``response_metadata["interstate"]``: its interaction id, that
   interaction's ``previous_interaction_id``, how many messages it sent, and the chain hash of
   the conversation up to and including the reply;
3. on an interstate server, inside a LangGraph run: the head checkpoint of the thread, whose
   ref records the chain hash of its messages.

With nothing found it sends everything. System messages become ``system_instruction``;
``bind_tools`` gives function declarations; tool calls and results travel as ``function_call``
/ ``function_result`` steps (one mapping, ``_messages``); usage becomes ``usage_metadata``.
Works against Google's endpoint (1 and 2 only) and against an interstate server.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from typing import Any, AsyncIterator, Iterator, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, ensure_config
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from interstate.client import AsyncClient, Client
from interstate.errors import APIError, InteractionFailedError
from interstate.types.accumulate import StepAccumulator

from ._codec import ref_name, thread_key
from ._messages import ai_message_from_steps, chain_hash, messages_to_steps
from ._registry import REGISTRY
from ._segments import STAMP, stamp_of

__all__ = ["ChatInteractions"]

#: How long a call inside a LangGraph run looks for the checkpoint LangGraph is about to store
#: (async durability stores it in the background): _POLLS x _POLL_SECONDS at most.
_POLLS = 25
_POLL_SECONDS = 0.002


def _function_declaration(tool: Any) -> dict[str, Any]:
    if isinstance(tool, dict) and tool.get("type") == "function" and "name" in tool:
        return dict(tool)  # already an Interactions function declaration
    function = convert_to_openai_tool(tool)["function"]
    out = {"type": "function", "name": function["name"]}
    if function.get("description"):
        out["description"] = function["description"]
    if function.get("parameters"):
        out["parameters"] = function["parameters"]
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in (None, "auto", "none", "any", "validated"):
        return choice
    if choice in ("required", True):
        return "any"
    if isinstance(choice, str):
        return {"allowed_tools": {"mode": "any", "tools": [choice]}}
    return choice


class _Call:
    """One model call, flavour-neutral: the request, and the reply as a message."""

    def __init__(self, model: "ChatInteractions", messages: Sequence[BaseMessage], kwargs: dict[str, Any]) -> None:
        self.model = model
        system = [m for m in messages if m.type == "system"]
        self.conversation = [m for m in messages if m.type != "system"]
        self.system = "\n\n".join(m.text for m in system) or None
        self.hashes = [b""]
        for message in self.conversation:
            self.hashes.append(chain_hash([message], self.hashes[-1]))
        configurable = ensure_config().get("configurable") or {}
        self.thread_id = configurable.get("thread_id")
        ns = str(configurable.get("checkpoint_ns") or "")
        # A node runs in its task's namespace ("node:task"); its state is in the parent one.
        self.checkpoint_ns = ns.rsplit("|", 1)[0] if "|" in ns else ""
        self.kwargs = kwargs
        self.start = 0
        self.previous: str | None = None

    @property
    def full(self) -> bytes:
        return self.hashes[-1]

    def local_holder(self) -> tuple[int, str] | None:
        """The longest prefix held by an interaction this process or the messages know of."""
        n = len(self.conversation)
        hit = REGISTRY.find(self.full)
        if hit is not None and (self.thread_id is None or hit[0] == str(self.thread_id)):
            return n, hit[2]
        for k in range(n, 0, -1):
            found = self.model._memory.get(self.hashes[k])
            if found is not None:
                return k, found
            stamp = stamp_of(self.conversation[k - 1])
            if stamp is not None and stamp.get("hash") == self.hashes[k].hex():
                return k, stamp["interaction_id"]
        return None

    def pending(self) -> Any:
        """The event of a checkpoint holding the whole conversation that is being stored."""
        return REGISTRY.pending(self.full)

    def registered(self) -> bool:
        return REGISTRY.find(self.full) is not None

    def expects_checkpoint(self) -> bool:
        """Inside a LangGraph run, a conversation ending in a user or tool message is about to
        be (or was) checkpointed, unless this process has no checkpointer storing it."""
        return (self.thread_id is not None and bool(self.conversation)
                and not isinstance(self.conversation[-1], AIMessage) and REGISTRY.active()
                and not self.registered())  # fmt: skip

    def use(self, holder: tuple[int, str] | None) -> None:
        if holder is not None:
            self.start, self.previous = holder

    def params(self) -> dict[str, Any]:
        model = self.model
        steps, _ = messages_to_steps(self.conversation[self.start :])
        params: dict[str, Any] = {"model": model.model, "input": steps}
        if self.previous:
            params["previous_interaction_id"] = self.previous
        if self.system:
            params["system_instruction"] = self.system
        tools = self.kwargs.get("tools")
        if tools:
            params["tools"] = tools
        config = dict(model.generation_config or {})
        if self.kwargs.get("tool_choice") is not None:
            config["tool_choice"] = _tool_choice(self.kwargs["tool_choice"])
        if self.kwargs.get("stop"):
            config["stop_sequences"] = list(self.kwargs["stop"])
        if config:
            params["generation_config"] = config
        if self.thread_id is not None and model._client().supports_extensions:
            params["labels"] = {"lgt": thread_key(str(self.thread_id))}
        return params

    def message(self, interaction_id: str, steps: list[dict[str, Any]], usage: Any,
                status: str | None) -> AIMessage:  # fmt: skip
        """The reply, exactly as the checkpointer rebuilds it from the interaction's steps."""
        thoughts = [c.get("text", "") for s in steps if s.get("type") == "thought"
                    for c in s.get("summary") or [] if c.get("type") == "text"]  # fmt: skip
        fields: dict[str, Any] = {"response_metadata": {"model_name": self.model.model, "status": status}}
        if thoughts:
            fields["additional_kwargs"] = {"reasoning_content": "".join(thoughts)}
        if usage is not None:
            fields["usage_metadata"] = {
                "input_tokens": usage.get("total_input_tokens") or 0,
                "output_tokens": usage.get("total_output_tokens") or 0,
                "total_tokens": usage.get("total_tokens") or 0,
            }
        side: dict[str, Any] = {"i": interaction_id, "f": fields}
        items = [c for s in steps if s.get("type") == "model_output" for c in s.get("content") or []]
        if any(c.get("type") != "text" for c in items):
            side["l"] = 1
        message = ai_message_from_steps(steps, side)
        assert isinstance(message, AIMessage)
        after = chain_hash([message], self.full)
        message.response_metadata[STAMP] = {
            "interaction_id": interaction_id,
            "previous_interaction_id": self.previous,
            "inputs": len(self.conversation) - self.start,
            "hash": after.hex(),
        }
        self.model._remember(after, interaction_id)
        return message


def _error(data: dict[str, Any], interaction_id: str | None, status: str | None) -> InteractionFailedError:
    error = data.get("error") or {}
    code = error.get("code")
    return InteractionFailedError(str(error.get("message") or error), interaction_id=interaction_id,
                                  code=None if code is None else str(code), status=status)  # fmt: skip


def _settled(interaction: Any) -> Any:
    """``interaction`` if its model turn succeeded; a failed or cancelled turn raises."""
    if interaction.status in ("failed", "cancelled"):
        raise InteractionFailedError.of(interaction)
    return interaction


class ChatInteractions(BaseChatModel):
    """A chat model on the Interactions API (Google's, or an interstate server) that chains
    turns by ``previous_interaction_id`` and sends only new messages. Give it a ``client``
    (``Client``), an ``async_client`` (``AsyncClient``), or both (``from_url``)."""

    model: str
    client: Any = Field(default=None, exclude=True)
    async_client: Any = Field(default=None, exclude=True)
    #: Sent as ``generation_config`` (temperature, max_output_tokens, ...).
    generation_config: dict[str, Any] | None = None
    #: Seconds to wait for a checkpoint being stored that holds the whole conversation.
    holder_wait: float = 10.0
    memory_size: int = 4096

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _memory: OrderedDict[bytes, str] = PrivateAttr(default_factory=OrderedDict)
    #: Whether ``close`` closes the clients (``from_url`` made them; injected ones are yours).
    _owns_clients: bool = PrivateAttr(default=False)

    @classmethod
    def from_url(cls, url: str | None = None, *, model: str, api_key: str | None = None,
                 **kwargs: Any) -> "ChatInteractions":  # fmt: skip
        """A model with a ``Client`` and an ``AsyncClient`` for ``url`` (see
        ``Client.from_url``: ``sqlite:///file.db``, ``http://host:port``, ``google``...)."""
        chat = cls(model=model, client=Client.from_url(url, api_key=api_key),
                   async_client=AsyncClient.from_url(url, api_key=api_key), **kwargs)  # fmt: skip
        chat._owns_clients = True
        return chat

    def close(self) -> None:
        """Close the clients ``from_url`` opened (an embedded server stops with its last
        client); clients you passed in stay yours to close. The async one is closed here too,
        without an event loop (its embedded transport needs none)."""
        if self._owns_clients:
            self._owns_clients = False
            self.client.close()
            _close_async(self.async_client)

    async def aclose(self) -> None:
        """``close`` from a coroutine."""
        if self._owns_clients:
            self._owns_clients = False
            self.client.close()
            await self.async_client.aclose()

    def __enter__(self) -> "ChatInteractions":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _llm_type(self) -> str:
        return "interstate-interactions"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model}

    def _client(self) -> Any:
        return self.client if self.client is not None else self.async_client

    def _remember(self, digest: bytes, interaction_id: str) -> None:
        self._memory[digest] = interaction_id
        self._memory.move_to_end(digest)
        while len(self._memory) > self.memory_size:
            self._memory.popitem(last=False)

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, BaseMessage]:  # fmt: skip
        """Tools as Interactions function declarations (``{"type": "function", ...}``)."""
        declarations = [_function_declaration(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return super().bind(tools=declarations, **kwargs)

    # -- finding what the server already holds ------------------------------------------------
    def _remote_holder(self, call: _Call) -> tuple[int, str] | None:
        client = self.client
        if call.thread_id is None or client is None or not client.supports_extensions:
            return None
        refs = client.interstate.refs(names=[ref_name(str(call.thread_id), call.checkpoint_ns)]).refs
        if refs and refs[0].metadata.get("h") == call.full.hex():
            return len(call.conversation), refs[0].interaction_id
        return None

    async def _aremote_holder(self, call: _Call) -> tuple[int, str] | None:
        client = self.async_client
        if call.thread_id is None or client is None or not client.supports_extensions:
            return None
        page = await client.interstate.refs(names=[ref_name(str(call.thread_id), call.checkpoint_ns)])
        if page.refs and page.refs[0].metadata.get("h") == call.full.hex():
            return len(call.conversation), page.refs[0].interaction_id
        return None

    def _prepare(self, messages: Sequence[BaseMessage], kwargs: dict[str, Any]) -> _Call:
        call = _Call(self, messages, kwargs)
        pending = call.pending()
        for _ in range(_POLLS if pending is None and call.expects_checkpoint() else 0):
            time.sleep(_POLL_SECONDS)  # LangGraph may not have started storing it yet
            pending = call.pending()
            if pending is not None or call.registered():
                break
        if pending is not None:
            pending.wait(self.holder_wait)
        holder = call.local_holder()
        if holder is None or holder[0] < len(call.conversation):
            holder = self._remote_holder(call) or holder
        call.use(holder)
        return call

    async def _aprepare(self, messages: Sequence[BaseMessage], kwargs: dict[str, Any]) -> _Call:
        call = _Call(self, messages, kwargs)
        pending = call.pending()
        for _ in range(_POLLS if pending is None and call.expects_checkpoint() else 0):
            await asyncio.sleep(_POLL_SECONDS)  # LangGraph may not have started storing it yet
            pending = call.pending()
            if pending is not None or call.registered():
                break
        if pending is not None:
            await asyncio.to_thread(pending.wait, self.holder_wait)
        holder = call.local_holder()
        if holder is None or holder[0] < len(call.conversation):
            holder = (await self._aremote_holder(call)) or holder
        call.use(holder)
        return call

    # -- LangChain entry points -----------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:  # fmt: skip
        if self.client is None:
            raise ValueError("ChatInteractions needs a client=Client(...) for sync calls (or from_url)")
        call = self._prepare(messages, {**kwargs, "stop": stop})
        interaction = _settled(self.client.interactions.create(**call.params()))
        steps = [s.to_wire() for s in interaction.steps or []]
        usage = interaction.usage.to_wire() if interaction.usage is not None else None
        message = call.message(interaction.id, steps, usage, interaction.status)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:  # fmt: skip
        if self.async_client is None:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)  # in a thread
        call = await self._aprepare(messages, {**kwargs, "stop": stop})
        interaction = _settled(await self.async_client.interactions.create(**call.params()))
        steps = [s.to_wire() for s in interaction.steps or []]
        usage = interaction.usage.to_wire() if interaction.usage is not None else None
        message = call.message(interaction.id, steps, usage, interaction.status)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:  # fmt: skip
        if self.client is None:
            raise ValueError("ChatInteractions needs a client=Client(...) for sync calls (or from_url)")
        call = self._prepare(messages, {**kwargs, "stop": stop})
        folder = _Folder(call)
        with self.client.interactions.create(stream=True, **call.params()) as events:
            for event in events:
                chunk = folder.feed(event.to_wire())
                if chunk is not None:
                    if run_manager is not None:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
        yield folder.last()

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:  # fmt: skip
        if self.async_client is None:
            async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
                yield chunk
            return
        call = await self._aprepare(messages, {**kwargs, "stop": stop})
        folder = _Folder(call)
        events = await self.async_client.interactions.create(stream=True, **call.params())
        async with events:
            async for event in events:
                chunk = folder.feed(event.to_wire())
                if chunk is not None:
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
        yield folder.last()


class _Folder:
    """Turns an interaction's event stream into chunks: text as it arrives, then one last
    chunk with the tool calls, usage, stamp and the rest of the reply's fields."""

    def __init__(self, call: _Call) -> None:
        self.call = call
        self.steps = StepAccumulator()
        self.interaction_id: str | None = None
        self.usage: Any = None
        self.status: str | None = None
        self.kinds: dict[int, str] = {}

    def feed(self, data: dict[str, Any]) -> ChatGenerationChunk | None:
        kind = data.get("event_type")
        if kind == "error":
            raise _error(data, self.interaction_id, self.status)
        if kind in ("interaction.created", "interaction.completed"):
            info = data.get("interaction") or {}
            self.interaction_id = info.get("id") or self.interaction_id
            self.status = info.get("status") or self.status
            self.usage = info.get("usage") or self.usage
            return None
        if kind == "interaction.status_update":
            self.status = data.get("status") or self.status
            return None
        if kind == "step.start":
            self.kinds[data["index"]] = (data.get("step") or {}).get("type", "")
        self.steps.apply_event(data)
        delta = data.get("delta") or {}
        if kind == "step.delta" and delta.get("type") == "text" and self.kinds.get(data["index"]) == "model_output":
            return ChatGenerationChunk(message=AIMessageChunk(content=delta.get("text", ""), id=self.interaction_id))
        return None

    def last(self) -> ChatGenerationChunk:
        if self.interaction_id is None:
            raise APIError("The interaction stream ended before the interaction was created")
        if self.status in ("failed", "cancelled"):
            raise InteractionFailedError("no detail from the server", interaction_id=self.interaction_id,
                                         status=self.status)  # fmt: skip
        full = self.call.message(self.interaction_id, self.steps.steps, self.usage, self.status)
        chunks = [{"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                  for i, c in enumerate(full.tool_calls)]  # fmt: skip
        content: Any = "" if isinstance(full.content, str) else full.content
        message = AIMessageChunk(
            content=content, id=full.id, tool_call_chunks=chunks,
            response_metadata=full.response_metadata, additional_kwargs=full.additional_kwargs,
            usage_metadata=full.usage_metadata,
        )  # fmt: skip
        return ChatGenerationChunk(message=message)


def _close_async(client: Any) -> None:
    """Close an ``AsyncClient`` from synchronous code: in a loop of its own (a thread's, when
    this thread runs one already)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(client.aclose())
        return
    worker = threading.Thread(target=asyncio.run, args=(client.aclose(),), name="interstate-close")
    worker.start()
    worker.join()
