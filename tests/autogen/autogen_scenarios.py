"""Scripted model rules, team builders and cross-process scenarios for the AutoGen tests.

One script serves every test (the HTTP server is shared by the session); rules are told apart
by model name. Run as a program, this module plays one side of a cross-process test:

    python autogen_scenarios.py <scenario> <url> <script file> '<json args>'

(for an embedded ``sqlite:///`` URL it starts the embedded server with the scripted model
first) and prints one JSON line with what happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat, Swarm
from autogen_core.model_context import UnboundedChatCompletionContext
from interstate.autogen import (
    InteractionsChatCompletionClient,
    InteractionsChatCompletionContext,
    TeamStateStore,
)

#: Long enough to be quoted; ends with whitespace, as model replies often do.
LONG_TEXT = ("Street trees cool neighbourhoods, soak up storm water and give birds a corridor "
             "through the city; people walk more where there is shade, and shops see more "
             "visitors.\n")  # fmt: skip

SCRIPT: list[dict[str, Any]] = [
    # RoundRobin
    {"when": {"model": "scripted-rr"}, "reply": {"text": "rr reply at depth {turn}"}},
    # long replies (quotable), told apart by model name
    {"when": {"model": "scripted-long*"}, "reply": {"text": "{model} at depth {turn}: " + LONG_TEXT}},
    # tools: a weather call on a weather question, a reflection after the result
    {"when": {"model": "scripted-tool", "tool": "get_weather", "after": "user_input",
              "contains": "weather"},
     "reply": {"function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
    {"when": {"model": "scripted-tool", "after": "function_result"},
     "reply": {"text": "The forecast says {result}."}},
    {"when": {"model": "scripted-tool"}, "reply": {"text": "Looks right to me. TERMINATE"}},
    # Selector: three agents, no repeated speaker, a fixed rotation
    {"when": {"model": "scripted-sel", "contains": "from ['alice', 'bob', 'carol'] to play"},
     "reply": {"text": "alice"}},
    {"when": {"model": "scripted-sel", "contains": "from ['bob', 'carol'] to play"},
     "reply": {"text": "bob"}},
    {"when": {"model": "scripted-sel", "contains": "from ['alice', 'carol'] to play"},
     "reply": {"text": "carol"}},
    {"when": {"model": "scripted-sel", "contains": "from ['alice', 'bob'] to play"},
     "reply": {"text": "alice"}},
    {"when": {"model": "scripted-sel"}, "reply": {"text": "sel reply at depth {turn}"}},
    # Swarm: alice hands off to bob, bob answers
    {"when": {"model": "scripted-swarm-a", "tool": "transfer_to_bob", "after": "user_input"},
     "reply": {"function_calls": [{"name": "transfer_to_bob", "arguments": {}}]}},
    {"when": {"model": "scripted-swarm-a"}, "reply": {"text": "alice again at depth {turn}"}},
    {"when": {"model": "scripted-swarm-b"}, "reply": {"text": "bob handled it at depth {turn}"}},
    # streaming
    {"when": {"model": "scripted-stream"},
     "reply": {"text": "a streamed reply at depth {turn}, in chunks", "chunk_size": 7}},
    # a failing model call: every agent's second call fails
    {"when": {"model": "scripted-flaky", "turn": 1},
     "reply": {"error": {"status": 503, "message": "simulated outage"}}},
    {"when": {"model": "scripted-flaky"}, "reply": {"text": "flaky reply at depth {turn}"}},
    {"when": {"model": "scripted-steady"}, "reply": {"text": "steady reply at depth {turn}"}},
    # crash: alice's third call asks for a tool (which kills the process when told to)
    {"when": {"model": "scripted-crash", "tool": "lookup", "turn": 2, "after": "user_input"},
     "reply": {"function_calls": [{"name": "lookup", "arguments": {"q": "facts"}}]}},
    {"when": {"model": "scripted-crash"}, "reply": {"text": "crash reply at depth {turn}"}},
    # MagenticOne: the progress ledger says the request is satisfied at once
    {"when": {"model": "scripted-m1", "contains": "pure JSON format"},
     "reply": {"text": json.dumps({
         "is_request_satisfied": {"reason": "done", "answer": True},
         "is_in_loop": {"reason": "no", "answer": False},
         "is_progress_being_made": {"reason": "yes", "answer": True},
         "next_speaker": {"reason": "none", "answer": "alice"},
         "instruction_or_question": {"reason": "none", "answer": "none"}})}},
    {"when": {"model": "scripted-m1"}, "reply": {"text": "orchestrator text at depth {turn}"}},
]  # fmt: skip


def write_script(path: Path) -> Path:
    path.write_text(json.dumps({"rules": SCRIPT}), encoding="utf-8")
    return path


def start_embedded(url: str, script: Any = None) -> Any:
    from interstate.server.embedded import EmbeddedServer
    from interstate.server.providers import ProviderRegistry, ScriptedProvider

    scripted = ScriptedProvider(script if script is not None else {"rules": SCRIPT})
    return EmbeddedServer.start(url, providers=ProviderRegistry([("scripted*", scripted)],
                                                                default=scripted))  # fmt: skip


# --- teams (as users write them; only the model client and, sometimes, the context differ) -----


def round_robin(client: Any, *, turns: int, contexts: str = "stock") -> RoundRobinGroupChat:
    def context() -> Any:
        if contexts == "interstate":
            return InteractionsChatCompletionContext()
        return UnboundedChatCompletionContext()

    alice = AssistantAgent("alice", model_client=client, model_context=context(),
                           system_message="You are alice, a writer.")
    bob = AssistantAgent("bob", model_client=client, model_context=context(),
                         system_message="You are bob, a critic.")
    return RoundRobinGroupChat([alice, bob], termination_condition=MaxMessageTermination(turns))


CRASH_ENV = "INTERSTATE_TEST_CRASH"


def lookup(q: str) -> str:
    """Look facts up (exits the process when the test says so)."""
    if os.environ.get(CRASH_ENV):
        os._exit(3)
    return f"facts about {q}"


def crash_team(client: Any) -> RoundRobinGroupChat:
    alice = AssistantAgent("alice", model_client=client, tools=[lookup],
                           system_message="You are alice; you can look things up.")
    bob = AssistantAgent("bob", model_client=client, system_message="You are bob.")
    return RoundRobinGroupChat([alice, bob], termination_condition=MaxMessageTermination(11))


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def tool_team(client: Any) -> RoundRobinGroupChat:
    forecaster = AssistantAgent("forecaster", model_client=client, tools=[get_weather],
                                reflect_on_tool_use=True, system_message="Answer with tools.")
    reviewer = AssistantAgent("reviewer", model_client=client, system_message="Review.")
    stop = TextMentionTermination("TERMINATE") | MaxMessageTermination(8)
    return RoundRobinGroupChat([forecaster, reviewer], termination_condition=stop)


def selector_team(client: Any, *, turns: int) -> SelectorGroupChat:
    agents = [
        AssistantAgent(name, model_client=client, description=f"{name} helps",
                       system_message=f"You are {name}.")
        for name in ("alice", "bob", "carol")
    ]  # fmt: skip
    return SelectorGroupChat(agents, model_client=client, allow_repeated_speaker=False,
                             termination_condition=MaxMessageTermination(turns))  # fmt: skip


def swarm_team(client_a: Any, client_b: Any) -> Swarm:
    alice = AssistantAgent("alice", model_client=client_a, handoffs=["bob"],
                           system_message="You are alice; hand off to bob.")
    bob = AssistantAgent("bob", model_client=client_b, system_message="You are bob.")
    stop = MaxMessageTermination(3)
    return Swarm([alice, bob], termination_condition=stop)


# --- cross-process scenarios --------------------------------------------------------------------


class ScenarioExit(Exception):
    """A scenario process exited with an error (or on purpose: the crash test)."""

    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        super().__init__(f"scenario exited with {code}:\n{stdout[-2000:]}\n{stderr[-4000:]}")
        self.code = code


def _calls(client: InteractionsChatCompletionClient) -> list[dict[str, Any]]:
    return [vars(c) for c in client.calls]


async def scenario(name: str, url: str, args: dict[str, Any]) -> dict[str, Any]:
    model = args.get("model") or ("scripted-crash" if name.startswith("crash") else "scripted-rr")
    client = InteractionsChatCompletionClient(model, url=url, max_retries=0)
    out: dict[str, Any] = {}
    if name in ("store_first", "store_next"):
        team = round_robin(client, turns=args["turns"], contexts=args.get("contexts", "stock"))
        store = TeamStateStore(args["key"], url=url)
        if name == "store_next":
            out["loaded"] = await store.load(team)
        result = await store.run(team, task=args["task"])
        out["messages"] = [[m.source, m.to_text()] for m in result.messages]
    elif name in ("stock_first", "stock_next"):
        team = round_robin(client, turns=args["turns"], contexts=args.get("contexts", "stock"))
        state_file = Path(args["state_file"])
        if name == "stock_next":
            await team.load_state(json.loads(state_file.read_text()))
        result = await team.run(task=args["task"])
        state_file.write_text(json.dumps(await team.save_state()))
        out["messages"] = [[m.source, m.to_text()] for m in result.messages]
        out["server_lookups"] = client.chain_index().server_lookups
        out["quote_lookups"] = client.chain_index().outputs.server_lookups
    elif name in ("crash_first", "crash_resume"):
        team = crash_team(client)
        store = TeamStateStore(args["key"], url=url)
        if name == "crash_resume":
            out["loaded"] = await store.load(team)
            result = await store.run(team)
        else:
            result = await store.run(team, task=args["task"])
        out["messages"] = [[m.source, m.to_text()] for m in result.messages]
        state = await team.save_state()
        out["contexts"] = {
            n: [[m["type"], m.get("source"), str(m["content"])]
                for m in state["agent_states"][n]["agent_state"]["llm_context"]["messages"]]
            for n in ("alice", "bob")
        }  # fmt: skip
        out["thread"] = [[m["source"], m["type"]] for m in
                         state["agent_states"]["RoundRobinGroupChatManager"]["message_thread"]]
    else:
        raise SystemExit(f"unknown scenario {name}")
    out["calls"] = _calls(client)
    await client.close()
    return out


def main() -> None:
    name, url, script_file, raw = sys.argv[1:5]
    if url.startswith("sqlite:"):
        start_embedded(url, json.loads(Path(script_file).read_text()))
    result = asyncio.run(scenario(name, url, json.loads(raw)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
