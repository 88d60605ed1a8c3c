"""AutoGen in the demo: a RoundRobin group chat (a researcher with a tool, a writer) whose team
state lives on the server.

interstate: ``InteractionsChatCompletionClient`` (each call continues the stored chain holding
its messages and sends only what is new) and ``TeamStateStore`` (the team checkpointed on the
server; a new process ``load``\\ s it and runs on). Stock: the same team with
``FullHistoryClient``, a stateless model client that sends the whole conversation on every call
(as AutoGen's own clients do), and state kept the stock way, ``team.save_state()`` /
``team.load_state()``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncGenerator, Literal, Mapping, Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, ModelInfo, RequestUsage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from interstate.autogen import InteractionsChatCompletionClient, TeamStateStore
from interstate.autogen import _convert as cv
from interstate.client import AsyncClient
from interstate.demo._measure import encoded_size
from interstate.demo._script import AUTOGEN
from interstate.demo._section import Baseline, Phase, Run, excerpt

STOCK_STORE = "team.save_state()"


def get_population(city: str) -> str:
    """The population of a city."""
    return {"Lisbon": "Lisbon has 545,000 people", "Porto": "Porto has 232,000 people"}.get(
        city, f"{city}: unknown"
    )


def _team(model_client: Any) -> RoundRobinGroupChat:
    """The team as any AutoGen user writes it; only the model client is interstate's."""
    researcher = AssistantAgent(
        "researcher", model_client=model_client, tools=[get_population], reflect_on_tool_use=True,
        system_message="You research facts with your tools and report what you found.",
    )  # fmt: skip
    writer = AssistantAgent(
        "writer", model_client=model_client,
        system_message="You write one-sentence answers from the research. End with TERMINATE.",
    )  # fmt: skip
    stop = TextMentionTermination("TERMINATE") | MaxMessageTermination(6)
    return RoundRobinGroupChat([researcher, writer], termination_condition=stop)


def _lines(result: TaskResult) -> list[str]:
    lines = []
    for message in result.messages:
        if isinstance(message, ToolCallRequestEvent):
            text = "→ " + ", ".join(f"{c.name}({c.arguments})" for c in message.content)
        elif isinstance(message, ToolCallExecutionEvent):
            text = "← " + ", ".join(r.content for r in message.content)
        else:
            text = message.to_text()
        lines.append(f"{message.source:<10} {excerpt(text)}")
    return lines


def _model_client(run: Run) -> tuple[AsyncClient, InteractionsChatCompletionClient]:
    client = run.server.async_client(run.meter)
    return client, InteractionsChatCompletionClient(run.model, client=client)


async def _run(run: Run, tasks: Sequence[str], *, load: bool) -> Phase:
    client, model_client = _model_client(run)
    try:
        team = _team(model_client)
        store = TeamStateStore(run.key, model_client=model_client)
        restored = ""
        if load:
            if not await store.load(team):
                raise RuntimeError(f"no team state under {run.key!r} on the server")
            state = await team.save_state()
            thread = state["agent_states"]["RoundRobinGroupChatManager"]["message_thread"]
            restored = f"team {run.key}: {len(thread)} messages of the group chat"
        lines: list[str] = []
        for task in tasks:
            lines += _lines(await store.run(team, task=task))
        return Phase(turns=len(tasks), lines=lines, restored=restored)
    finally:
        await client.aclose()


def first(run: Run) -> Phase:
    return asyncio.run(_run(run, AUTOGEN.first, load=False))


def resume(run: Run) -> Phase:
    return asyncio.run(_run(run, AUTOGEN.resumed, load=True))


async def _stock(run: Run) -> Baseline:
    client, interstate_client = _model_client(run)  # for its ModelInfo: the agents behave the same
    model_client = FullHistoryClient(client, run.model, interstate_client.model_info)
    try:
        team = _team(model_client)
        for task in AUTOGEN.first:
            await team.run(task=task)
        state = await team.save_state()
        team = _team(model_client)  # a new process would build the team again and load
        await team.load_state(state)
        for task in AUTOGEN.resumed:
            await team.run(task=task)
        return Baseline(turns=len(AUTOGEN.first + AUTOGEN.resumed), stored=encoded_size(await team.save_state()))
    finally:
        await client.aclose()


def stock(run: Run) -> Baseline:
    return asyncio.run(_stock(run))


class FullHistoryClient(ChatCompletionClient):
    """A stateless model client on the Interactions API: every call sends the whole
    conversation, with the system message and tools, as AutoGen's stock clients do. Messages
    are encoded as interstate's client encodes them, so only statefulness differs."""

    def __init__(self, client: AsyncClient, model: str, model_info: ModelInfo) -> None:
        self._client, self._model, self._info = client, model, model_info
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None, extra_create_args: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:  # fmt: skip
        system, body = cv.split_system(messages)
        params: dict[str, Any] = {"model": self._model, "input": cv.messages_to_steps(body),
                                  "system_instruction": system,
                                  "response_format": cv.response_format(json_output)}  # fmt: skip
        if tools:
            params["tools"] = cv.tools_to_wire(tools)
            choice = cv.tool_choice_to_wire(tool_choice)
            params["generation_config"] = {"tool_choice": choice} if choice is not None else None
        interaction = await self._client.interactions.create(**params)
        content, thought = cv.assistant_parts([s.to_wire() for s in interaction.steps or []])
        usage = cv.usage_of(interaction.usage)
        self._usage = RequestUsage(prompt_tokens=self._usage.prompt_tokens + usage.prompt_tokens,
                                   completion_tokens=self._usage.completion_tokens + usage.completion_tokens)  # fmt: skip
        return CreateResult(finish_reason=cv.finish_reason(interaction.status, content), content=content,
                            usage=usage, cached=False, thought=thought)  # fmt: skip

    async def create_stream(
        self, messages: Sequence[LLMMessage], **kwargs: Any
    ) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.create(messages, **kwargs)

    async def close(self) -> None:
        await self._client.aclose()

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        """One token per four characters of the messages' JSON (a preflight estimate)."""
        return len(json.dumps(cv.dump_llm_messages(messages))) // 4

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return 1_048_576 - self.count_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> Any:
        return self._info

    @property
    def model_info(self) -> ModelInfo:
        return self._info
