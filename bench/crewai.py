"""Bytes sent to the model per call: a CrewAI crew on InteractionsLLM vs a stock full-history LLM.

One run, offline. A real sequential ``Crew`` — ``--agents`` agents (role, goal, backstory, two
tools each), ``--tasks`` tasks assigned in turn; as CrewAI does for sequential crews, each task's
prompt carries every earlier task's output as context. Each task makes ``--tool-calls`` tool
calls (results of ``--result-bytes``) and then answers with ``--answer-bytes`` of text; with
``--react`` the agents use CrewAI's ReAct text protocol (tool descriptions in a long system
prompt) instead of native tool calling. The crew and its deterministic model are in
``crewai_workload.py``. The same crew is kicked off three times:

* **stock** — a ``BaseLLM`` that answers deterministically and records what CrewAI's agent
  executor hands it on every call: the JSON body ``{"model", "messages", "tools", "stop"}`` a
  full-history chat-completions provider would send (encoded by httpx, as a provider SDK does);
* **interstate** — ``InteractionsLLM`` on an embedded interstate server whose model gives the same
  answers; its bytes are the request bodies it actually sends (an httpx event hook), including
  the configuration roots it records: only the new messages, chained with
  ``previous_interaction_id``; the system prompt and tools once per agent (inherited config,
  configuration roots); the earlier outputs in a task's prompt as ``interstate_quote``
  references to the interactions that produced them;
* **google-style** — the same LLM on a client that reports no extensions: what it sends to
  Google's Interactions API, where system prompt and tools are resent on every turn and earlier
  outputs go as text.

The interstate runs also record what CrewAI handed them; the script checks that this equals the
stock run call by call (same crew, same calls, same prompts), so the comparison is like for like.

It prints per-call sizes (first and last task; ``--per-call`` for all), totals and ratios, then
where the bytes go — system prompt, tool schemas, task prompts, the earlier outputs (interstate:
the quotes), tool results, model turns resent, framing — and a floor: what any protocol that
keeps the history on the server must still send while CrewAI runs the tools (each new byte once:
every tool result, every task's own prompt, each agent's configuration). Interstate's sizes are
flat per call; what it sends above the floor is framing (model name, parent id, labels, step
wrappers) and the quote references. With few tool calls per task stock resends little, so the
floor itself can be above 10% of stock; ``--sweep`` prints the totals for more tool calls.

    python bench/crewai.py [--tasks 10] [--agents 3] [--tool-calls 3] [--result-bytes 1000]
                           [--answer-bytes 800] [--react] [--per-call] [--sweep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

# This file is named crewai.py: keep its folder off sys.path so `import crewai` finds CrewAI.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

for _key, _value in {"CREWAI_DISABLE_TELEMETRY": "true", "OTEL_SDK_DISABLED": "true",
                     "CREWAI_TRACING_ENABLED": "false", "CREWAI_DISABLE_VERSION_CHECK": "true",
                     "CREWAI_TESTING": "true"}.items():  # fmt: skip
    os.environ.setdefault(_key, _value)

import logging  # noqa: E402

import httpx  # noqa: E402

logging.disable(logging.WARNING)


def _load_workload() -> Any:
    """``crewai_workload.py`` beside this file, loaded by path (this folder is off sys.path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "interstate_bench_crewai_workload", os.path.join(_HERE, "crewai_workload.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_workload = _load_workload()
AGENTS, TOPICS, Script = _workload.AGENTS, _workload.TOPICS, _workload.Script
build_crew, bench_provider = _workload.build_crew, _workload.bench_provider

#: Tool calls per task for ``--sweep``.
SWEEP = (3, 5, 8, 10, 20)
_OBSERVATION = "\nObservation:"
_CALL_ID = re.compile(rb"call_[0-9a-z]{10}_[0-9]+")

# -- what CrewAI hands the LLM, and what a stock provider sends -----------------------------------


def first_user_text(messages: list[dict[str, Any]]) -> str:
    from interstate.crewai.messages import text_of

    return next((text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")


def json_len(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass
class Parts:
    """Bytes of one request body by kind of content (``framing`` is the rest of the body)."""

    system: int = 0
    tools: int = 0
    user: int = 0
    context: int = 0  # the part of the user text that quotes earlier tasks' outputs
    results: int = 0
    model_turns: int = 0
    framing: int = 0

    def add(self, other: "Parts") -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def total(self) -> int:
        return sum(vars(self).values())


def stock_body(model: str, messages: list[dict[str, Any]], tools: Any, stop: list[str]) -> bytes:
    """What a full-history chat-completions provider sends for this call (httpx-encoded)."""
    from interstate.crewai.messages import clean_message

    body: dict[str, Any] = {"model": model, "messages": [clean_message(m) for m in messages]}
    if tools:
        body["tools"] = tools
    if stop:
        body["stop"] = stop
    return httpx.Request("POST", "http://provider/v1/chat/completions", json=body).content


def _user(parts: Parts, text: str, context: str) -> None:
    if context and context in text:
        parts.context += json_len(context) - 2  # inside the text's quotes
        parts.user -= json_len(context) - 2
    parts.user += json_len(text)


def stock_parts(raw: bytes, context: str = "") -> Parts:
    body = json.loads(raw)
    parts = Parts(tools=json_len(body.get("tools")) if body.get("tools") else 0)
    for message in body["messages"]:
        size = json_len(message.get("content")) if message.get("content") is not None else 0
        role = message["role"]
        if role == "system":
            parts.system += size
        elif role == "user":
            if isinstance(message.get("content"), str):
                _user(parts, message["content"], context)
            else:
                parts.user += size
        elif role == "tool":
            parts.results += size
        else:  # assistant: the model's own tool calls and answers, resent
            content = message.get("content")
            if isinstance(content, str) and _OBSERVATION in content:  # ReAct: result appended
                said, _, observed = content.partition(_OBSERVATION)
                parts.results += json_len(_OBSERVATION + observed) - 2
                size = json_len(said)
            parts.model_turns += size + (json_len(message["tool_calls"]) if message.get("tool_calls") else 0)
    parts.framing = len(raw) - parts.total
    return parts


def interstate_parts(raw: bytes, context: str = "") -> Parts:
    body = json.loads(raw)
    parts = Parts(
        system=json_len(body["system_instruction"]) if "system_instruction" in body else 0,
        tools=json_len(body["tools"]) if "tools" in body else 0,
    )
    for step in body.get("input") or []:
        if step["type"] == "user_input":
            # quoted earlier outputs: references, and the dividers CrewAI puts between them
            content = step.get("content") or []
            quotes = [i for i, c in enumerate(content) if c["type"] == "interstate_quote"]
            referenced = set(quotes) | {i + 1 for i in quotes if i + 2 in quotes}
            parts.context += sum(json_len(content[i]) for i in referenced)
            text = "".join(c.get("text", "") for i, c in enumerate(content) if i not in referenced)
            if text.startswith(_OBSERVATION.lstrip()):  # ReAct: the tool result, as user text
                parts.results += json_len(text)
            else:
                _user(parts, text, context)
        elif step["type"] == "function_result":
            parts.results += json_len(step.get("result"))
        else:
            parts.model_turns += json_len(step)
    parts.framing = len(raw) - parts.total
    return parts


def contexts(answers: list[str], tasks: list[int]) -> list[str]:
    """Per call, the context CrewAI quotes in its task's prompt: the earlier tasks' outputs."""
    from crewai.utilities.formatter import DIVIDERS

    return [DIVIDERS.join(answers[:task]) for task in tasks]


@dataclass
class Recorder:
    """Per call: what CrewAI handed the LLM (as a stock body) and, for interstate, the request
    bodies it sent (the create, after any configuration root recorded for it)."""

    received: list[bytes] = field(default_factory=list)
    sent: list[list[bytes]] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)

    def receive(self, llm: Any, messages: Any, tools: Any) -> None:
        stop = list(getattr(llm, "stop_sequences", None) or [])
        self.received.append(stock_body(llm.model, list(messages), tools, stop))
        self.agents.append(llm.model)
        found = re.search(r"\[task-(\d+)\]", first_user_text(list(messages)))
        self.tasks.append(int(found.group(1)) if found else -1)


def stock_llms(script: Script, recorder: Recorder) -> list[Any]:
    from crewai.llms.base_llm import BaseLLM

    counter = [0]

    class StockLLM(BaseLLM):
        """Answers like the bench model; records what a full-history provider would send."""

        def supports_function_calling(self) -> bool:
            return not script.react

        def get_context_window_size(self) -> int:
            return 128_000  # as InteractionsLLM, so both runs take the same path

        def get_input_tokens_count(self, messages: Any, tools: Any = None,
                                   response_model: Any = None) -> int:  # fmt: skip
            return sum(len(str(m.get("content") or "")) for m in messages) // 4

        def call(self, messages: Any, tools: Any = None, callbacks: Any = None,
                 available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
                 response_model: Any = None) -> Any:  # fmt: skip
            recorder.receive(self, messages, tools)
            turn = sum(1 for m in messages if m.get("role") == "assistant")
            reply = script.reply(self.model, first_user_text(list(messages)), turn)
            if "function_calls" in reply:
                counter[0] += 1
                return [{"id": f"call_{counter[0]:010d}_{i}", "type": "function",  # same length as the server's ids
                         "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                        for i, c in enumerate(reply["function_calls"])]  # fmt: skip
            return self._apply_stop_words(reply["text"])

    return [StockLLM(model=script.model(a)) for a in range(script.agents)]


def interstate_llms(script: Script, recorder: Recorder, client: Any) -> list[Any]:
    from interstate.crewai import InteractionsLLM

    def hook(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith(("/interactions", "/record")):
            recorder.sent[-1].append(request.read())

    client._http.event_hooks["request"].append(hook)

    class Recording(InteractionsLLM):
        def call(self, messages: Any, tools: Any = None, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(messages, str):
                recorder.receive(self, messages, tools)
                recorder.sent.append([])
            return super().call(messages, tools, *args, **kwargs)

    return [Recording(client=client, model=script.model(a), function_calling=not script.react)
            for a in range(script.agents)]  # fmt: skip


def google_style_client(url: str) -> Any:
    """A client of the bench's server that behaves as one of Google's endpoint: no extensions."""
    from interstate.client import Client

    class GoogleStyle(Client):
        @property
        def supports_extensions(self) -> bool:
            return False

    return GoogleStyle.from_url(url)


# -- report --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--agents", type=int, default=3, choices=range(2, len(AGENTS) + 1))
    parser.add_argument("--tool-calls", type=int, default=3, help="tool calls per task")
    parser.add_argument("--result-bytes", type=int, default=1000, help="size of each tool result")
    parser.add_argument("--answer-bytes", type=int, default=800, help="size of each task's answer")
    parser.add_argument("--react", action="store_true", help="CrewAI's ReAct text protocol")
    parser.add_argument("--per-call", action="store_true", help="print every call, not a sample")
    parser.add_argument("--sweep", action="store_true",
                        help=f"also print totals for {', '.join(map(str, SWEEP))} tool calls per task")
    args = parser.parse_args()
    script = Script(args.agents, args.tool_calls, args.result_bytes, args.answer_bytes, args.react)
    runs, outputs = measure(script, args.tasks)
    report(args, runs, outputs)
    if args.sweep:
        sweep(args)


def measure(script: Script, tasks: int) -> tuple[dict[str, Recorder], dict[str, Any]]:
    """Kick the crew off on the three LLMs; what each was handed and sent, and the outputs."""
    from interstate.client import Client
    from interstate.server.embedded import EmbeddedServer
    from interstate.server.providers import ProviderRegistry

    url = "sqlite://:memory:"
    model = bench_provider(script)
    server = EmbeddedServer.start(url, providers=ProviderRegistry([("bench-*", model)], default=model))

    runs: dict[str, Recorder] = {name: Recorder() for name in ("stock", "interstate", "google")}
    try:
        outputs = {
            "stock": build_crew(stock_llms(script, runs["stock"]), tasks, script.result_bytes).kickoff(),
            "interstate": build_crew(interstate_llms(script, runs["interstate"], Client.from_url(url)),
                                     tasks, script.result_bytes).kickoff(),
            "google": build_crew(interstate_llms(script, runs["google"], google_style_client(url)),
                                 tasks, script.result_bytes).kickoff(),
        }  # fmt: skip
    finally:
        server.close()
    # Like for like: the same answers, and CrewAI handed every LLM the same prompts, call by call.
    assert len({o.raw for o in outputs.values()}) == 1, {k: o.raw[:80] for k, o in outputs.items()}
    stock = runs["stock"].received
    for name in ("interstate", "google"):  # tool call ids differ, but have the same length
        assert [_CALL_ID.sub(b"call_id", r) for r in runs[name].received] == [
            _CALL_ID.sub(b"call_id", r) for r in stock], f"the {name} run's prompts differ from stock's"
        assert len(runs[name].sent) == len(stock), f"the {name} run sent {len(runs[name].sent)} calls"
    return runs, outputs


def report(args: argparse.Namespace, runs: dict[str, Recorder], outputs: dict[str, Any]) -> None:
    stock = runs["stock"].received
    sizes = {"stock": [len(b) for b in stock],
             "interstate": [sum(map(len, bodies)) for bodies in runs["interstate"].sent],
             "google": [sum(map(len, bodies)) for bodies in runs["google"].sent]}  # fmt: skip
    tasks, agents = runs["stock"].tasks, runs["stock"].agents

    per_task = args.tool_calls + 1
    protocol = "ReAct text protocol" if args.react else "native tool calling"
    print(f"CrewAI sequential crew: {args.agents} agents, {args.tasks} tasks x {per_task} model calls "
          f"({args.tool_calls} tool calls with {args.result_bytes}-byte results, "
          f"{args.answer_bytes}-byte answers passed on as context), {protocol}.\n"
          "Bytes of the request body sent to the model per call.\n")  # fmt: skip
    print(f"{'call':>5} {'task':>4} {'agent':<24} {'stock':>9} {'interstate':>11} {'%stock':>7} "
          f"{'google-style':>13} {'%stock':>7}")  # fmt: skip
    n = len(stock)
    show = range(n) if args.per_call else sorted(set(range(min(per_task, n)))
                                                 | set(range(max(n - per_task, 0), n)))  # fmt: skip
    last = -1
    for i in show:
        if last >= 0 and i != last + 1:
            print(f"{'...':>5}")
        last = i
        s, e, g = sizes["stock"][i], sizes["interstate"][i], sizes["google"][i]
        role = AGENTS[int(agents[i].rsplit("-", 1)[1])][0][:24]
        print(f"{i + 1:>5} {tasks[i] + 1:>4} {role:<24} {s:>9,} {e:>11,} {100 * e / s:>6.1f}% "
              f"{g:>13,} {100 * g / s:>6.1f}%")  # fmt: skip
    total = {k: sum(v) for k, v in sizes.items()}
    print(f"{'total':>35} {total['stock']:>9,} {total['interstate']:>11,} "
          f"{100 * total['interstate'] / total['stock']:>6.1f}% {total['google']:>13,} "
          f"{100 * total['google'] / total['stock']:>6.1f}%\n")  # fmt: skip

    # Per call: does a call's size depend on how many calls came before it in its task?
    for name in ("stock", "interstate", "google"):
        first = [s for s, i in zip(sizes[name], range(n)) if i % per_task == 0]
        later = [s for s, i in zip(sizes[name], range(n)) if i % per_task != 0]
        spread = f"later calls {min(later):,}-{max(later):,}" if later else "no later calls"
        print(f"{name:>12}: first call of a task {min(first):,}-{max(first):,}; {spread}")
    print()

    # Where the bytes go.
    breakdown = breakdowns(runs, outputs)
    assert all(breakdown[k].context for k in breakdown) or args.tasks == 1, "no context found"
    rows = [("system prompt", "system"), ("tool schemas", "tools"),
            ("task prompts, CrewAI instructions", "user"),
            ("earlier outputs (interstate: quotes)", "context"),
            ("tool results (ReAct: observations)", "results"),
            ("model turns resent (calls, answers)", "model_turns"),
            ("framing (ids, labels, JSON)", "framing")]  # fmt: skip
    print(f"{'where the bytes go':<37} {'stock':>9} {'interstate':>11} {'%':>6} {'google-style':>13}")
    for label, attr in rows:
        values = {k: getattr(p, attr) for k, p in breakdown.items()}
        share = 100 * values["interstate"] / total["interstate"]
        print(f"{label:<37} {values['stock']:>9,} {values['interstate']:>11,} {share:>5.1f}% "
              f"{values['google']:>13,}")  # fmt: skip
    print(f"{'total':<37} {total['stock']:>9,} {total['interstate']:>11,} {100.0:>5.1f}% "
          f"{total['google']:>13,}\n")  # fmt: skip

    sent = breakdown["interstate"]
    floor = floor_bytes(runs, outputs, sent)
    ratio = total["interstate"] / total["stock"]
    quotes = sum(b.count(b'"interstate_quote"') for bodies in runs["interstate"].sent for b in bodies)
    print(f"interstate / stock = {100 * ratio:.1f}%: goal (<= 10%) "
          f"{'met' if ratio <= 0.10 else 'NOT met'}.   google-style / stock = "
          f"{100 * total['google'] / total['stock']:.1f}%")  # fmt: skip
    print(f"* earlier outputs quoted as context: stock resends {breakdown['stock'].context:,} bytes "
          f"of them, interstate sends {quotes} references ({sent.context:,} bytes)")  # fmt: skip
    print(f"* floor, each new byte sent once (tool results alone {sent.results:,} = "
          f"{100 * sent.results / total['stock']:.1f}% of stock): "
          f"{floor:,} bytes = {100 * floor / total['stock']:.1f}% of stock; above it: "
          f"framing {sent.framing:,} bytes, quotes {sent.context:,}")  # fmt: skip
    if floor > 0.10 * total["stock"]:
        print(f"  With {args.tool_calls} tool calls per task stock resends too little: even the "
              "floor is above 10% (see --sweep).")  # fmt: skip


def breakdowns(runs: dict[str, Recorder], outputs: dict[str, Any]) -> dict[str, Parts]:
    """Each run's bytes by kind of content, over all calls."""
    quoted = contexts([t.raw for t in outputs["stock"].tasks_output], runs["stock"].tasks)
    breakdown = {"stock": Parts(), "interstate": Parts(), "google": Parts()}
    for raw, context in zip(runs["stock"].received, quoted):
        breakdown["stock"].add(stock_parts(raw, context))
    for name in ("interstate", "google"):
        for bodies, context in zip(runs[name].sent, quoted):
            for raw in bodies:
                breakdown[name].add(interstate_parts(raw, context))
    return breakdown


def floor_bytes(runs: dict[str, Recorder], outputs: dict[str, Any], sent: Parts) -> int:
    """The floor for any protocol that keeps the history on the server while CrewAI runs the
    tools: every byte the server has not seen, once — each agent's system prompt and tools,
    each task's own prompt (not the earlier outputs it quotes: the server holds those as the
    earlier tasks' answers), each tool result — and no framing."""
    stock, tasks = runs["stock"].received, runs["stock"].tasks
    quoted = contexts([t.raw for t in outputs["stock"].tasks_output], tasks)
    per_agent: dict[str, int] = {}
    for i, agent in enumerate(runs["stock"].agents):
        if i == 0 or tasks[i] != tasks[i - 1]:  # a task's first call
            parts = stock_parts(stock[i], quoted[i])
            per_agent.setdefault(agent, parts.system + parts.tools)
    return sum(per_agent.values()) + sent.user + sent.results


def sweep(args: argparse.Namespace) -> None:
    """Totals of the same crew with more tool calls per task: where the goal is in reach."""
    print(f"\n{'tool calls per task':>19} {'stock':>11} {'interstate':>11} {'%stock':>7} "
          f"{'floor':>7} {'google-style':>13} {'%stock':>7}")  # fmt: skip
    for tool_calls in SWEEP:
        script = Script(args.agents, tool_calls, args.result_bytes, args.answer_bytes, args.react)
        runs, outputs = measure(script, args.tasks)
        total = {name: sum(len(b) for bodies in runs[name].sent for b in bodies)
                 for name in ("interstate", "google")}  # fmt: skip
        stock = sum(map(len, runs["stock"].received))
        floor = floor_bytes(runs, outputs, breakdowns(runs, outputs)["interstate"])
        print(f"{tool_calls:>19} {stock:>11,} {total['interstate']:>11,} "
              f"{100 * total['interstate'] / stock:>6.1f}% {100 * floor / stock:>6.1f}% "
              f"{total['google']:>13,} {100 * total['google'] / stock:>6.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
