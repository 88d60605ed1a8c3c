"""The workload of ``bench/crewai.py``: a realistic crew and the deterministic model behind it.

Three agents written like real crews (role, goal, backstory, two tools each) and a sequential
list of tasks; ``Script`` decides every reply — a tool call for each of the first
``tool_calls`` turns of a task, then the answer — so the stock LLM and the interstate server's
model answer exactly alike. Kept apart from the measuring and the report (``crewai.py`` loads
this file by path: its own folder is off ``sys.path``, so that ``import crewai`` finds CrewAI).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["AGENTS", "TOPICS", "Script", "bench_provider", "build_crew"]

#: (role, goal, backstory, [(tool name, description, parameter)]) — written like real crews.
AGENTS = [
    ("Senior Market Researcher",
     "Uncover reliable, current facts about the market segment assigned in each task",
     "You spent ten years at an industry analyst firm. You never state a number without a "
     "source, you cross-check claims between at least two independent sources, and you flag "
     "anything that looks like marketing copy rather than evidence.",
     [("search_web", "Search the web and return the top results with titles, URLs and snippets.",
       "query"),
      ("fetch_page", "Fetch a web page and return its main text content, without navigation.",
       "url")]),
    ("Data Analyst",
     "Turn raw findings into quantified, comparable metrics with clear assumptions",
     "A former quant who likes tidy tables. You state every assumption explicitly, prefer "
     "ranges over point estimates when the data is thin, and you check that units and time "
     "periods match before comparing two figures.",
     [("query_database", "Run a read-only SQL query on the company's market database and "
       "return the rows as CSV.", "sql"),
      ("compute_statistics", "Compute descriptive statistics (mean, median, growth rates) for "
       "a series of numbers given as a JSON list.", "series")]),
    ("Report Writer",
     "Write clear, well-structured report sections for an executive audience",
     "You edit a business publication. You write in short paragraphs with concrete numbers, "
     "you cut jargon, and every claim in your text can be traced back to the research notes "
     "you were given.",
     [("style_guide", "Look up the house style guide entry for a term or formatting question.",
       "topic"),
      ("search_archive", "Search earlier published reports for passages on a topic.", "query")]),
]  # fmt: skip

TOPICS = ["battery storage", "heat pumps", "solar inverters", "EV charging", "smart meters",
          "offshore wind", "green hydrogen", "grid software", "home insulation", "e-bikes",
          "district heating", "carbon capture"]  # fmt: skip


def task_marker(n: int) -> str:
    return f"[task-{n:02d}]"


@dataclass
class Script:
    """What every agent answers — the single source of truth for both LLMs."""

    agents: int
    tool_calls: int
    result_bytes: int
    answer_bytes: int
    react: bool

    def model(self, agent: int) -> str:
        return f"bench-agent-{agent}"

    def tool(self, agent: int, turn: int) -> tuple[str, str, str]:
        tools = AGENTS[agent % len(AGENTS)][3]
        return tools[turn % len(tools)]

    def reply(self, model: str, first_user_text: str, turn: int) -> dict[str, Any]:
        """The scripted reply (``{"function_calls": [...]}`` or ``{"text": ...}``) for a turn."""
        agent = int(model.rsplit("-", 1)[1])
        found = re.search(r"\[task-(\d+)\]", first_user_text)
        task = int(found.group(1)) if found else -1
        if turn < self.tool_calls:
            name, _, param = self.tool(agent, turn)
            arguments = {param: f"{TOPICS[task % len(TOPICS)]} step {turn}"}
            if self.react:
                return {"text": f"Thought: I need more information before answering.\n"
                                f"Action: {name}\nAction Input: {json.dumps(arguments)}"}  # fmt: skip
            return {"function_calls": [{"name": name, "arguments": arguments}]}
        head = f"Findings for task {task} ({TOPICS[task % len(TOPICS)]}): "
        line = "demand grew steadily while unit costs fell; adoption is led by early movers. "
        answer = (head + line * (self.answer_bytes // len(line) + 1))[: self.answer_bytes - 1] + "."
        if self.react:
            return {"text": f"Thought: I now know the final answer\nFinal Answer: {answer}"}
        return {"text": answer}


def build_crew(llms: list[Any], tasks: int, result_bytes: int) -> Any:
    from crewai import Agent, Crew, Process, Task
    from crewai.tools import BaseTool

    def make_tool(name: str, description: str, param: str) -> BaseTool:
        from pydantic import create_model

        schema = create_model(f"{name}_args", **{param: (str, ...)})

        class Tool(BaseTool):
            def _run(self, **kwargs: Any) -> str:
                line = f"{name} result for {kwargs.get(param)!r}: a relevant passage of text. "
                return (line * (result_bytes // len(line) + 1))[:result_bytes]

        return Tool(name=name, description=description, args_schema=schema)

    agents = [Agent(role=role, goal=goal, backstory=backstory, llm=llm,
                    tools=[make_tool(*spec) for spec in tools])
              for (role, goal, backstory, tools), llm in zip(AGENTS, llms)]  # fmt: skip
    work = [
        Task(description=f"{task_marker(n)} Investigate the {TOPICS[n % len(TOPICS)]} segment: "
                         "size, growth, main players and risks. Use your tools, and build on the "
                         "findings of the earlier tasks.",
             expected_output="A section of 100-200 words with concrete figures.",
             agent=agents[n % len(agents)])
        for n in range(tasks)
    ]  # fmt: skip
    return Crew(agents=agents, tasks=work, process=Process.sequential)



def bench_provider(script: Script) -> Any:
    """The server's model for the bench: the scripted provider, replying from ``script``."""
    from interstate.server.providers import ScriptedProvider
    from interstate.server.providers.scripted import latest_user_text

    class BenchModel(ScriptedProvider):
        def _reply_for(self, turn: Any) -> dict[str, Any]:
            steps = [*turn.history, *turn.input]
            first = next((s for s in steps if s.get("type") == "user_input"), None)
            # the model's own earlier turns (a chain may start under an empty configuration root)
            said = sum(1 for s in turn.history if s.get("type") in ("function_call", "model_output"))
            return script.reply(turn.model, latest_user_text([first]) if first else "", said)

    return BenchModel()
