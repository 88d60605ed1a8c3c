"""Real crews (sequential and hierarchical) on the scripted model, in both modes: memory on the
server, conversations chained by ``previous_interaction_id`` with only new messages sent."""

from __future__ import annotations

import uuid
from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.tools import tool

from crewai_script import FACT
from helpers import input_text, is_config_root, llm, llm_turns, sent_requests
from interstate.crewai import InteractionsLLM


@tool("lookup_fact")
def lookup_fact(topic: str) -> str:
    """Look up a fact about a topic."""
    return f"FACT: the capital of {topic} is Paris."


def researcher(model: InteractionsLLM) -> Agent:
    return Agent(role="Geography Researcher", goal="Find capitals", backstory="A geographer.",
                 llm=model, tools=[lookup_fact])  # fmt: skip


def writer(model: InteractionsLLM) -> Agent:
    return Agent(role="Report Writer", goal="Write short reports", backstory="A writer.", llm=model)


def sequential_crew(handle: Any, name: str) -> Crew:
    r = researcher(llm(handle, "scripted-researcher"))
    w = writer(llm(handle, "scripted-writer"))
    research = Task(description="Find the capital of {country}.", expected_output="The capital.",
                    agent=r)  # fmt: skip
    report = Task(description="Write a one-line report on {country}.", expected_output="A line.",
                  agent=w)  # fmt: skip
    return Crew(name=name, agents=[r, w], tasks=[research, report], process=Process.sequential,
                memory=True)  # fmt: skip


def test_sequential_crew_memory_and_chains(interstate_on: Any) -> None:
    handle = interstate_on
    client = handle.client
    sent = sent_requests(client)
    name = f"geo {uuid.uuid4().hex[:6]}"

    first = sequential_crew(handle, name).kickoff(inputs={"country": "France"})
    assert first.raw == "Report: Paris is the capital of France."
    assert first.tasks_output[0].raw == "Research: FACT: the capital of France is Paris."

    # memory: saved on the server under the crew's scope, with categories and metadata
    records = handle.storage.list_records()
    assert [r.content for r in records if r.content == FACT]
    scopes = {r.scope for r in records}
    crew_scope = "/crew/" + name.replace(" ", "-")
    assert all(s.startswith(crew_scope + "/agent/") for s in scopes), scopes
    assert all(r.categories == ["geography", "capitals"] for r in records)
    assert records[0].metadata["entities"] == ["France", "Paris"]
    stored = client.interstate.search(labels=handle.storage.labels, include_input=True).results
    assert {h.interaction.id for h in stored} == {r.id for r in records}

    # conversations: the researcher's second call continues its first and sends only the result
    turns = llm_turns(handle)
    agent_turns = [t for t in turns if t.labels.get("crewai-call") == "agent"]
    research = [t for t in agent_turns if t.labels.get("crewai-agent") == "geography-researcher"]
    assert len(research) == 2
    assert is_config_root(client, research[0].previous_interaction_id)  # a new conversation
    assert research[1].previous_interaction_id == research[0].id
    assert [s.type for s in research[1].input] == ["function_result"]
    assert "Current Task" in input_text(research[0]) and "Current Task" not in input_text(research[1])
    # sent once, on the configuration root; every turn still has (and echoes) them
    root = client.interstate.get(research[0].previous_interaction_id)
    assert [t.system_instruction for t in research] == [root.system_instruction] * 2
    assert root.system_instruction and [t.tools for t in research] == [root.tools] * 2
    assert [x.name for x in root.tools] == ["lookup_fact", "search_memory", "save_to_memory"]

    # memory's own LLM calls are one-shot turns: never a parent, never a child of an agent turn
    internal = {t.id for t in turns if t.labels.get("crewai-call") == "internal"}
    assert internal, "memory made no LLM calls"
    # (a call with neither system prompt, tools nor schema has no configuration root)
    assert all(t.previous_interaction_id is None or is_config_root(client, t.previous_interaction_id)
               for t in turns if t.id in internal)  # fmt: skip
    assert not any(t.previous_interaction_id in internal for t in turns)

    # CrewAI-internal message keys never reach the wire
    assert sent and not any("cache_breakpoint" in str(s.body) or "raw_tool_call_parts" in str(s.body)
                            for s in sent)  # fmt: skip

    # a second run (new crew objects, same name) recalls the memory from the server
    second = sequential_crew(handle, name).kickoff(inputs={"country": "France"})
    assert second.raw == first.raw
    later = [t for t in llm_turns(handle) if t.id not in {x.id for x in turns}]
    first_research_call = next(t for t in later if t.labels.get("crewai-agent") == "geography-researcher")
    prompt = input_text(first_research_call)
    assert "Memories from past conversations" in prompt and FACT in prompt
    assert "Memories from past conversations" not in input_text(research[0])


def test_hierarchical_crew(interstate_on: Any) -> None:
    handle = interstate_on
    r = researcher(llm(handle, "scripted-researcher"))
    task = Task(description="Find the capital of France.", expected_output="The capital.")
    crew = Crew(name=f"hier {uuid.uuid4().hex[:6]}", agents=[r], tasks=[task],
                process=Process.hierarchical, manager_llm=llm(handle, "scripted-manager"),
                memory=True)  # fmt: skip
    out = crew.kickoff()
    assert out.raw == "Manager summary: Research: FACT: the capital of France is Paris."
    turns = llm_turns(handle)
    turns = [t for t in turns if t.labels.get("crewai-call") == "agent"]
    manager = [t for t in turns if t.model == "scripted-manager"]
    assert len(manager) == 2 and manager[1].previous_interaction_id == manager[0].id
    assert [s.type for s in manager[1].input] == ["function_result"]
    research = [t for t in turns if t.model == "scripted-researcher"]
    assert len(research) == 2 and research[1].previous_interaction_id == research[0].id
    # the delegated work ran in its own chain, not inside the manager's
    assert is_config_root(handle.client, research[0].previous_interaction_id)
    assert handle.storage.count() >= 1


def test_react_protocol_with_stop_words(interstate_on: Any) -> None:
    handle = interstate_on
    react = llm(handle, "scripted-react", function_calling=False)
    agent = Agent(role="Geography Researcher", goal="Find capitals", backstory="A geographer.",
                  llm=react, tools=[lookup_fact])  # fmt: skip
    task = Task(description="Find the capital of France.", expected_output="The capital.", agent=agent)
    out = Crew(agents=[agent], tasks=[task]).kickoff()
    # turn 2 of the chain (configuration root, first call, second call) answered
    assert out.raw == "Paris (turn 2)"
    turns = [t for t in llm_turns(handle) if t.model == "scripted-react"]
    assert len(turns) == 2 and turns[1].previous_interaction_id == turns[0].id
    assert not turns[0].tools and not turns[1].tools  # ReAct: tools described in the prompt
    assert turns[0].generation_config.stop_sequences == ["\nObservation:"]
    second = input_text(turns[1])
    # the model's own text is not sent again; the real observation (not the made-up one) is
    assert "I should look it up" not in second
    assert "Observation: FACT: the capital of France is Paris." in second
    assert "made up by the model" not in second


def test_kickoff_for_each_copies_the_crew(interstate_on: Any) -> None:
    handle = interstate_on
    crew = sequential_crew(handle, f"each {uuid.uuid4().hex[:6]}")
    outs = crew.kickoff_for_each([{"country": "France"}, {"country": "France"}])
    assert [o.raw for o in outs] == ["Report: Paris is the capital of France."] * 2
    research = [t for t in llm_turns(handle) if t.labels.get("crewai-agent") == "geography-researcher"]
    assert len(research) == 4
    # each kickoff's task is a new conversation under the same configuration root
    assert research[1].previous_interaction_id == research[0].id
    assert research[3].previous_interaction_id == research[2].id
    assert research[0].previous_interaction_id == research[2].previous_interaction_id
    assert is_config_root(handle.client, research[0].previous_interaction_id)
    assert handle.storage.count() >= 1
