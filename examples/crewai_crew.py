"""A two-agent CrewAI crew whose memory and conversations live on an interstate server.

Runs offline: an embedded interstate server on a SQLite file (default ``crewai_example.db`` in
the current directory, or the first argument / ``$INTERSTATE_URL``) with the scripted model, so
no key and no network are needed. The crew is kicked off twice: the second run's researcher is
handed the memory the first run saved. Run the script again and the memories are still there.

    python examples/crewai_crew.py [sqlite:///path.db | http://127.0.0.1:8080]

For a real model, start ``interstate serve --provider gemini`` (or ``openai``), pass its URL, and
set ``MODEL`` (e.g. ``gemini-3-flash-preview``).
"""

from __future__ import annotations

import json
import os
import sys

# CrewAI's network switches: no telemetry, tracing or version checks.
for key, value in {"CREWAI_DISABLE_TELEMETRY": "true", "OTEL_SDK_DISABLED": "true",
                   "CREWAI_TRACING_ENABLED": "false", "CREWAI_DISABLE_VERSION_CHECK": "true",
                   "CREWAI_TESTING": "true"}.items():  # fmt: skip
    os.environ.setdefault(key, value)

FACT = "The capital of France is Paris."

#: What the scripted model answers: the researcher calls the tool, then reports; the writer
#: writes; CrewAI memory's analysis calls get the JSON their schemas ask for.
RULES = [
    {"when": {"contains": "Extract memory statements"},
     "reply": {"text": json.dumps({"memories": [FACT]})}},
    {"when": {"contains": "Content to store:"},
     "reply": {"text": json.dumps({"suggested_scope": "/geography", "categories": ["geography"],
                                   "importance": 0.8, "extracted_metadata": {
                                       "entities": ["France", "Paris"], "dates": [],
                                       "topics": ["capitals"]}})}},
    {"when": {"contains": "New content to consider storing"},
     "reply": {"text": json.dumps({"actions": [], "insert_new": False,
                                   "insert_reason": "already remembered"})}},
    {"when": {"model": "scripted-researcher", "after": "user_input", "tool": "lookup_fact"},
     "reply": {"function_calls": [{"name": "lookup_fact", "arguments": {"topic": "France"}}]}},
    {"when": {"model": "scripted-researcher", "after": "function_result"},
     "reply": {"text": "Research: {result}"}},
    {"when": {"model": "scripted-writer"}, "reply": {"text": "Report: Paris is the capital of France."}},
]  # fmt: skip


def main() -> None:
    url = (sys.argv[1] if len(sys.argv) > 1 else None) or os.environ.get("INTERSTATE_URL") \
        or "sqlite:///crewai_example.db"
    model = os.environ.get("MODEL")
    if url.startswith(("sqlite:", "memory:")):
        from interstate.server.embedded import EmbeddedServer
        from interstate.server.providers import ProviderRegistry, ScriptedProvider

        scripted = ScriptedProvider(RULES)
        EmbeddedServer.start(url, providers=ProviderRegistry([("scripted*", scripted)],
                                                             default=scripted))  # fmt: skip

    import interstate.crewai
    from crewai import Agent, Crew, Process, Task
    from crewai.tools import tool

    # One call: memory (storage + offline embedder) and flow state on the server.
    interstate_on = interstate.crewai.enable(url, store="example")

    @tool("lookup_fact")
    def lookup_fact(topic: str) -> str:
        """Look up a fact about a topic."""
        return f"FACT: the capital of {topic} is Paris."

    def build_crew() -> Crew:
        # Unchanged CrewAI definitions; only the LLM object is interstate's.
        researcher = Agent(role="Geography Researcher", goal="Find capitals",
                           backstory="A careful geographer.", tools=[lookup_fact],
                           llm=interstate_on.llm(model or "scripted-researcher"))  # fmt: skip
        writer = Agent(role="Report Writer", goal="Write one-line reports",
                       backstory="A concise writer.",
                       llm=interstate_on.llm(model or "scripted-writer"))  # fmt: skip
        research = Task(description="Find the capital of {country}.",
                        expected_output="The capital city.", agent=researcher)  # fmt: skip
        report = Task(description="Write a one-line report on {country}'s capital.",
                      expected_output="One line.", agent=writer)  # fmt: skip
        return Crew(name="geography crew", agents=[researcher, writer],
                    tasks=[research, report], process=Process.sequential, memory=True)  # fmt: skip

    storage = interstate_on.storage
    print(f"interstate: {url}; memories stored before: {storage.count()}")
    for run in (1, 2):
        seen = {i.id for i in interstate_on.client.interstate.iter(
            labels={"crewai-agent": "geography-researcher"})}  # fmt: skip
        result = build_crew().kickoff(inputs={"country": "France"})
        first_call = next(
            (i for i in interstate_on.client.interstate.iter(
                labels={"crewai-agent": "geography-researcher"}, order="asc", include_input=True)
             if i.id not in seen), None)  # fmt: skip
        prompt = "".join(b.text for s in (first_call.input or []) for b in (getattr(s, "content", None) or [])
                         if getattr(b, "text", None)) if first_call else ""  # fmt: skip
        recalled = "Memories from past conversations" in prompt
        print(f"run {run}: {result.raw}")
        print(f"run {run}: researcher was given memories from earlier runs: {'yes' if recalled else 'no'}")
    print(f"memories on the server: {storage.count()}")
    for record in storage.list_records():
        print(f"  {record.scope}  {record.content}  categories={record.categories}")


if __name__ == "__main__":
    main()
