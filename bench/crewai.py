"""Bytes sent to the model per call: a CrewAI crew on InteractionsLLM vs a stock full-history LLM.

One run, offline. The same crew (one researcher agent, ``--tasks`` sequential tasks, each making
``--tool-calls`` native tool calls whose results are ``--result-bytes`` long, then answering) is
kicked off three times:

* **stock** — a ``BaseLLM`` that receives what CrewAI gives every LLM (the whole message list and
  the tool schemas) and answers like the scripted model; its bytes are the JSON size of
  ``{"messages": [...], "tools": [...]}`` per call — what a full-history provider sends;
* **interstate** — ``InteractionsLLM`` on an embedded server with the scripted model; its bytes
  are the request bodies it actually sends (an httpx event hook), system prompt and tools resent
  every turn as the Interactions API requires;
* **interstate, system in history** — the same with ``system_prompt="history"`` (the system
  prompt sent once per chain, as its first input step).

    python bench/crewai.py [--tasks 10] [--tool-calls 4] [--result-bytes 1000] [--per-call]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

# This file is named crewai.py: keep its folder off sys.path so `import crewai` finds CrewAI.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

for _key, _value in {"CREWAI_DISABLE_TELEMETRY": "true", "OTEL_SDK_DISABLED": "true",
                     "CREWAI_TRACING_ENABLED": "false", "CREWAI_DISABLE_VERSION_CHECK": "true",
                     "CREWAI_TESTING": "true"}.items():  # fmt: skip
    os.environ.setdefault(_key, _value)

import logging  # noqa: E402

logging.disable(logging.WARNING)


def build_crew(llm: Any, tasks: int, result_bytes: int) -> Any:
    from crewai import Agent, Crew, Process, Task
    from crewai.tools import tool

    @tool("lookup_fact")
    def lookup_fact(topic: str) -> str:
        """Look up facts about a topic."""
        line = f"FACT about {topic}: it is well documented. "
        return (line * (result_bytes // len(line) + 1))[:result_bytes]

    agent = Agent(role="Researcher", goal="Research topics thoroughly",
                  backstory="You check every fact with the lookup tool.", llm=llm,
                  tools=[lookup_fact])  # fmt: skip
    work = [Task(description=f"Research topic number {n} and summarise it.",
                 expected_output="A one-line summary.", agent=agent) for n in range(tasks)]  # fmt: skip
    return Crew(agents=[agent], tasks=work, process=Process.sequential)


def stock_llm(tool_calls: int) -> Any:
    from crewai.llms.base_llm import BaseLLM

    from interstate.crewai.messages import clean_message

    class StockLLM(BaseLLM):
        """Answers like the scripted model; records what a full-history provider would send."""

        sizes: list[int] = []

        def supports_function_calling(self) -> bool:
            return True

        def call(self, messages: Any, tools: Any = None, callbacks: Any = None,
                 available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
                 response_model: Any = None) -> Any:  # fmt: skip
            cleaned = [clean_message(m) for m in messages]
            body = {"model": self.model, "messages": cleaned, "tools": tools or []}
            self.sizes.append(len(json.dumps(body, separators=(",", ":")).encode()))
            done = sum(1 for m in cleaned if m.get("role") == "tool")
            if done < tool_calls:
                return [{"id": f"call_{len(self.sizes)}", "type": "function",
                         "function": {"name": "lookup_fact",
                                      "arguments": json.dumps({"topic": f"part {done}"})}}]  # fmt: skip
            return f"Summary after {done} lookups."

    return StockLLM(model="stock")


def interstate_llm(client: Any, system_prompt: str) -> tuple[Any, list[int]]:
    from interstate.crewai import InteractionsLLM

    sizes: list[int] = []

    def hook(request: Any) -> None:
        if request.method == "POST" and request.url.path.endswith("/interactions"):
            sizes.append(len(request.read()))

    client._http.event_hooks["request"].append(hook)
    return InteractionsLLM(client=client, model="scripted-bench", system_prompt=system_prompt), sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--tool-calls", type=int, default=4)
    parser.add_argument("--result-bytes", type=int, default=1000)
    parser.add_argument("--per-call", action="store_true", help="print every call, not a sample")
    args = parser.parse_args()

    from interstate.client import Client
    from interstate.server.embedded import EmbeddedServer
    from interstate.server.providers import ProviderRegistry, ScriptedProvider

    rules = [{"when": {"model": "scripted-bench", "turn": n},
              "reply": {"function_calls": [{"name": "lookup_fact",
                                            "arguments": {"topic": f"part {n}"}}]}}
             for n in range(args.tool_calls)]  # fmt: skip
    rules.append({"when": {"model": "scripted-bench"},
                  "reply": {"text": "Summary after {turn} lookups."}})  # fmt: skip
    scripted = ScriptedProvider(rules)
    url = "sqlite://:memory:"
    EmbeddedServer.start(url, providers=ProviderRegistry([("scripted*", scripted)], default=scripted))

    stock = stock_llm(args.tool_calls)
    out_stock = build_crew(stock, args.tasks, args.result_bytes).kickoff()
    every, every_sizes = interstate_llm(Client.from_url(url), "every_turn")
    out_every = build_crew(every, args.tasks, args.result_bytes).kickoff()
    hist, hist_sizes = interstate_llm(Client.from_url(url), "history")
    out_hist = build_crew(hist, args.tasks, args.result_bytes).kickoff()
    assert out_stock.raw == out_every.raw == out_hist.raw, (out_stock.raw, out_every.raw, out_hist.raw)
    stock_sizes = stock.sizes
    assert len(stock_sizes) == len(every_sizes) == len(hist_sizes), "the runs made different calls"

    per_task = args.tool_calls + 1
    print(f"CrewAI crew: {args.tasks} sequential tasks x {per_task} model calls "
          f"({args.tool_calls} tool calls, {args.result_bytes}-byte tool results); "
          "bytes sent to the model per call\n")  # fmt: skip
    print(f"{'call':>5} {'task':>4} {'stock':>9} {'interstate':>11} {'%stock':>7} "
          f"{'sys-in-history':>15} {'%stock':>7}")  # fmt: skip
    show = range(len(stock_sizes)) if args.per_call else sorted(
        set(range(per_task)) | set(range(len(stock_sizes) - per_task, len(stock_sizes))))
    last = -1
    for i in show:
        if last >= 0 and i != last + 1:
            print(f"{'...':>5}")
        last = i
        s, e, h = stock_sizes[i], every_sizes[i], hist_sizes[i]
        print(f"{i + 1:>5} {i // per_task + 1:>4} {s:>9,} {e:>11,} {100 * e / s:>6.1f}% "
              f"{h:>15,} {100 * h / s:>6.1f}%")  # fmt: skip
    total_s, total_e, total_h = sum(stock_sizes), sum(every_sizes), sum(hist_sizes)
    print(f"{'total':>10} {total_s:>9,} {total_e:>11,} {100 * total_e / total_s:>6.1f}% "
          f"{total_h:>15,} {100 * total_h / total_s:>6.1f}%")  # fmt: skip
    for name, sizes in (("stock", stock_sizes), ("interstate", every_sizes),
                        ("sys-in-history", hist_sizes)):  # fmt: skip
        firsts = sizes[0::per_task]
        lasts = sizes[per_task - 1 :: per_task]
        print(f"{name:>15}: per call min {min(sizes):,} / max {max(sizes):,}; "
              f"last call of task 1 {lasts[0]:,}, of task {args.tasks} {lasts[-1]:,}; "
              f"first call of task 1 {firsts[0]:,}, of task {args.tasks} {firsts[-1]:,}")  # fmt: skip


if __name__ == "__main__":
    main()
