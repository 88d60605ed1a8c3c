"""An AutoGen group chat whose state lives on interstate, stopped and resumed in a new process.

    python examples/autogen_group_chat.py

runs offline: the embedded interstate server (SQLite, default ``~/.interstate/interstate.db``,
or ``$INTERSTATE_URL``) with the scripted model standing in for an LLM. The team is plain
AutoGen — a RoundRobinGroupChat of a researcher with a tool and a writer; only the model client
is interstate's:

1. the first process runs the team until it stops (MaxMessageTermination), with its state
   checkpointed on the server (``TeamStateStore.run``), and exits;
2. a second Python process builds the same team, loads the state from the server and continues
   with a new task. Its first calls continue the stored chains: they send only the new messages.

``--phase 1`` / ``--phase 2 --key KEY`` run one side only. With a real model, drop
``start_scripted_server`` and pass e.g. ``model="gemini-3-flash-preview"`` and a server URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import uuid

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from interstate.autogen import InteractionsChatCompletionClient, TeamStateStore

MODEL = "scripted-example"
#: What the scripted model answers (see interstate/server/providers/scripted.py).
RULES = [
    {"when": {"tool": "get_population", "after": "user_input", "contains": "Porto"},
     "reply": {"function_calls": [{"name": "get_population", "arguments": {"city": "Porto"}}]}},
    {"when": {"tool": "get_population", "after": "user_input", "contains": "population"},
     "reply": {"function_calls": [{"name": "get_population", "arguments": {"city": "Lisbon"}}]}},
    {"when": {"after": "function_result"}, "reply": {"text": "Found: {result}."}},
    {"when": {"turn": 0}, "reply": {"text": "Draft: Lisbon is a mid-sized capital."}},
    {"when": {}, "reply": {"text": "Final: Lisbon is about twice the size of Porto. TERMINATE"}},
]  # fmt: skip


def get_population(city: str) -> str:
    """The population of a city."""
    return {"Lisbon": "Lisbon has 545,000 people", "Porto": "Porto has 232,000 people"}[city]


def build_team(client: InteractionsChatCompletionClient) -> RoundRobinGroupChat:
    """The team as any AutoGen user writes it."""
    researcher = AssistantAgent(
        "researcher", model_client=client, tools=[get_population], reflect_on_tool_use=True,
        system_message="You research facts with your tools.",
    )  # fmt: skip
    writer = AssistantAgent("writer", model_client=client,
                            system_message="You write short answers. Say TERMINATE when done.")
    stop = TextMentionTermination("TERMINATE") | MaxMessageTermination(3)
    return RoundRobinGroupChat([researcher, writer], termination_condition=stop)


def start_scripted_server(url: str) -> None:
    """Start the embedded server with the scripted model (a real deployment has a provider)."""
    from interstate.server.embedded import EmbeddedServer
    from interstate.server.providers import ProviderRegistry, ScriptedProvider

    scripted = ScriptedProvider(RULES)
    EmbeddedServer.start(url, providers=ProviderRegistry([("scripted*", scripted)]))


def show(result_messages: list, client: InteractionsChatCompletionClient) -> None:
    for message in result_messages:
        print(f"  {message.source:>10} | {type(message).__name__:<24} | {message.to_text()[:70]}")
    for call in client.calls:
        how = f"continues {call.previous_interaction_id}" if call.previous_interaction_id else "new chain"
        print(f"  call by {call.agent}: sent {call.n_sent} of {call.n_messages} messages ({how})")


async def phase(number: int, url: str, key: str) -> None:
    client = InteractionsChatCompletionClient(MODEL, url=url)
    team = build_team(client)
    store = TeamStateStore(key, url=url)
    if number == 1:
        print(f"[process {os.getpid()}] phase 1: run until the team stops")
        result = await store.run(team, task="What is the population of Lisbon?")
    else:
        print(f"[process {os.getpid()}] phase 2: load the state from the server and continue")
        if not await store.load(team):
            raise SystemExit(f"No saved state under {key!r}")
        result = await store.run(team, task="Now compare with Porto.")
    show(result.messages, client)
    print(f"  stopped: {result.stop_reason}")
    await client.close()


def main() -> None:
    from interstate.client import default_database_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase", type=int, choices=[1, 2])
    parser.add_argument("--key", help="the team's state key (phase 2)")
    parser.add_argument("--url", default=os.environ.get("INTERSTATE_URL") or default_database_url())
    args = parser.parse_args()
    start_scripted_server(args.url)
    if args.phase == 2:
        asyncio.run(phase(2, args.url, args.key))
        return
    key = args.key or f"autogen-example-{uuid.uuid4().hex[:8]}"
    asyncio.run(phase(1, args.url, key))
    if args.phase is None:  # resume in a brand-new process
        command = [sys.executable, __file__, "--phase", "2", "--key", key, "--url", args.url]
        raise SystemExit(subprocess.call(command))


if __name__ == "__main__":
    main()
