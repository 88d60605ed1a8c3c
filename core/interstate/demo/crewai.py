"""CrewAI in the demo: a two-agent crew (a researcher with a tool, a writer) with memory.

interstate: ``interstate.crewai.enable(...)`` puts the crew's memory on the server (records
with server-side vector search, the offline hashing embedder) and the agents use
``InteractionsLLM``, which chains each conversation and sends only new messages. The resumed
process kicks the crew off again: its researcher recalls what the first process remembered.
Stock: the same crew on CrewAI's own memory storage (LanceDB files, the same embedder) with
``FullHistoryLLM``, a stateless LLM that sends the whole conversation on every call (as CrewAI's
own LLMs do).

CrewAI's network switches must be set before this module is imported (``_setup.go_offline``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.llms.base_llm import BaseLLM
from crewai.memory.unified_memory import Memory
from crewai.tools import tool
from pydantic import BaseModel, PrivateAttr

import interstate.crewai
from interstate.client import Client
from interstate.crewai import HashingEmbedder
from interstate.crewai.messages import clean_message, crewai_tool_calls, delta_steps, interstate_tools, split_system
from interstate.demo._measure import interaction_ids, tree_bytes
from interstate.demo._script import CREWAI, CREWAI_FACT
from interstate.demo._section import Baseline, Phase, Run, excerpt

STOCK_STORE = "LanceDB memory"
TASKS_PER_KICKOFF = 2
#: How CrewAI opens the memories it recalls for a task, in the task's prompt.
RECALLED = "Memories from past conversations"


@tool("lookup_fact")
def lookup_fact(topic: str) -> str:
    """Look up a fact about a topic."""
    return f"FACT: {CREWAI_FACT}" if topic == "France" else f"No fact known about {topic}."


def _crew(llm: Any, memory: Any) -> Crew:
    """Plain CrewAI definitions; only the LLM object is interstate's."""
    researcher = Agent(role="Geography Researcher", goal="Find capitals", llm=llm,
                       backstory="A careful geographer.", tools=[lookup_fact])  # fmt: skip
    writer = Agent(role="Report Writer", goal="Write one-line reports", llm=llm,
                   backstory="A concise writer.")  # fmt: skip
    research = Task(description="Find the capital of {country}.",
                    expected_output="The capital city.", agent=researcher)  # fmt: skip
    report = Task(description="Write a one-line report on {country}'s capital.",
                  expected_output="One line.", agent=writer)  # fmt: skip
    return Crew(name="demo crew", agents=[researcher, writer], tasks=[research, report],
                process=Process.sequential, memory=memory)  # fmt: skip


def _kickoff(crew: Crew, country: str) -> list[str]:
    result = crew.kickoff(inputs={"country": country})
    return [f"{t.agent:<21} {excerpt(t.raw)}" for t in result.tasks_output]


def _recalled(client: Client, before: set[str]) -> bool:
    """Whether an agent's prompt in this process quoted memories recalled from the server."""
    calls = client.interstate.iter(labels={"crewai-call": "agent"}, include_input=True, page_size=1000)
    return any(RECALLED in str(i.to_wire().get("input")) for i in calls if i.id not in before)


def _phase(run: Run, countries: tuple[str, ...], *, resumed: bool) -> Phase:
    client = run.server.client(run.meter)
    handle = interstate.crewai.enable(client=client, store=run.key)
    try:
        before, remembered = interaction_ids(client), handle.storage.count()
        lines: list[str] = []
        for country in countries:
            lines += _kickoff(_crew(handle.llm(run.model), True), country)
        restored = ""
        if resumed:
            used = "quoted them in its agents' prompts" if _recalled(client, before) else "did not use them"
            restored = f"{remembered} memories of crew store {run.key}; the crew {used}"
        return Phase(turns=TASKS_PER_KICKOFF * len(countries), lines=lines, restored=restored)
    finally:
        handle.disable()


def first(run: Run) -> Phase:
    return _phase(run, CREWAI.first, resumed=False)


def resume(run: Run) -> Phase:
    return _phase(run, CREWAI.resumed, resumed=True)


def stock(run: Run) -> Baseline:
    from crewai.memory.storage.lancedb_storage import LanceDBStorage  # imports LanceDB: 1.5 s

    llm = FullHistoryLLM(run.server.client(run.meter), model=run.model)
    path = run.work / "crewai-lancedb"
    countries = CREWAI.first + CREWAI.resumed
    for country in countries:  # each kickoff opens the store again, as a new process would
        memory = Memory(storage=LanceDBStorage(path=str(path)), embedder=HashingEmbedder(), llm=llm,
                        root_scope="/crew/demo-crew")  # fmt: skip
        _kickoff(_crew(llm, memory), country)
        memory.close()
    return Baseline(turns=TASKS_PER_KICKOFF * len(countries), stored=tree_bytes(path))


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class FullHistoryLLM(BaseLLM):
    """A stateless CrewAI LLM on the Interactions API: every call sends the whole message list,
    with the system prompt and tools, as CrewAI's stock LLMs do. Messages are encoded as
    ``InteractionsLLM`` encodes them, so only statefulness differs."""

    _client: Client = PrivateAttr()

    def __init__(self, client: Client, **data: Any) -> None:
        super().__init__(**data)
        self._client = client

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> "FullHistoryLLM":
        """Copies (CrewAI copies agents' LLMs) share the client: a connection cannot be copied."""
        return self.model_copy(deep=False)

    def supports_function_calling(self) -> bool:
        return True

    def get_context_window_size(self) -> int:
        return 128_000

    def get_input_tokens_count(self, messages: str | list[Any], tools: list[dict[str, Any]] | None = None,
                               response_model: type[BaseModel] | None = None) -> int:  # fmt: skip
        """One token per four characters (as ``InteractionsLLM`` estimates, so both runs take
        the same path through CrewAI's context-window checks)."""
        if isinstance(messages, str):
            return (len(messages) + 3) // 4
        return (sum(len(str(m.get("content") or "")) for m in messages) + 3) // 4

    def call(self, messages: str | list[Any], tools: list[dict[str, Any]] | None = None,
             callbacks: list[Any] | None = None, available_functions: dict[str, Any] | None = None,
             from_task: Any = None, from_agent: Any = None,
             response_model: type[BaseModel] | None = None) -> Any:  # fmt: skip
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        cleaned = [clean_message(m) for m in messages]
        system, n_system = split_system(cleaned)
        functions = interstate_tools(tools)
        params: dict[str, Any] = {"model": self.model, "input": delta_steps(cleaned[n_system:]),
                                  "system_instruction": system, "tools": functions}  # fmt: skip
        if self.stop_sequences:
            params["generation_config"] = {"stop_sequences": list(self.stop_sequences)[:5]}
        if response_model is not None:
            params["response_format"] = {"type": "text", "mime_type": "application/json",
                                         "schema": response_model.model_json_schema()}  # fmt: skip
        interaction = self._client.interactions.create(**params)
        calls = crewai_tool_calls(interaction.steps or []) if functions else []
        if calls:
            return _run_first(calls, available_functions) if available_functions else calls
        text = self._apply_stop_words(interaction.output_text or "")
        if response_model is None:
            return text
        fenced = _FENCE.match(text.strip())
        return response_model.model_validate_json(fenced.group(1) if fenced else text)


def _run_first(calls: list[dict[str, Any]], functions: dict[str, Any]) -> Any:
    """With ``available_functions``, CrewAI expects the LLM to run the first call it knows."""
    for call in calls:
        function = functions.get(call["function"]["name"])
        if function is not None:
            return str(function(**json.loads(call["function"]["arguments"] or "{}")))
    return calls
