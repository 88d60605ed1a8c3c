"""A tool-calling LangGraph agent whose state lives in Interaction objects — resumed in a second
process.

    python examples/langgraph_agent.py                       # offline: embedded server, scripted model
    python examples/langgraph_agent.py --url http://127.0.0.1:8080 --model gemini-3-flash-preview

The one line that changes in a LangGraph program is the checkpointer:
``create_react_agent(model, tools, checkpointer=InteractionsSaver(client))``. Every checkpoint
becomes an Interaction on the interstate server (embedded in this process on SQLite by default:
``$INTERSTATE_URL``, else ``~/.interstate/interstate.db``); the model is ``ChatInteractions``,
which sends only the new messages of each turn, and each message is stored once. This script asks
one question, then starts a second Python process that knows nothing but the thread id: it loads
the thread from the server, asks a follow-up, and prints the conversation and what was stored.

Offline, the model is interstate's scripted model, driven by the rules below (the server reads
them from ``$INTERSTATE_SCRIPT``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
import warnings

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from interstate.client import Client
from interstate.langgraph import ChatInteractions, InteractionsSaver

#: The scripted model's rules: call a tool when asked, then answer with its result.
RULES = [
    {"when": {"contains": "weather", "after": "user_input"},
     "reply": {"function_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
    {"when": {"contains": "weather", "after": "function_result"},
     "reply": {"text": "It is {result} in Paris right now."}},
    {"when": {"contains": "Fahrenheit", "after": "user_input"},
     "reply": {"function_calls": [{"name": "to_fahrenheit", "arguments": {"celsius": 21}}]}},
    {"when": {"contains": "Fahrenheit", "after": "function_result"},
     "reply": {"text": "That is {result} degrees Fahrenheit."}},
]  # fmt: skip


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "21 degrees C and sunny" if city == "Paris" else "12 degrees C and raining"


@tool
def to_fahrenheit(celsius: float) -> float:
    """Convert degrees Celsius to Fahrenheit."""
    return round(celsius * 9 / 5 + 32, 1)


def build_agent(client: Client, model: str):
    chat = ChatInteractions(client=client, model=model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent also lives in langchain.agents now
        from langgraph.prebuilt import create_react_agent

        return create_react_agent(chat, [get_weather, to_fahrenheit], checkpointer=InteractionsSaver(client))


def show(message: BaseMessage) -> str:
    if isinstance(message, AIMessage) and message.tool_calls:
        call = message.tool_calls[0]
        return f"  ai    -> {call['name']}({json.dumps(call['args'])})"
    kind = {HumanMessage: "user", ToolMessage: "tool"}.get(type(message), "ai")
    return f"  {kind:5} {message.content}"


def first_process(args: argparse.Namespace) -> None:
    thread_id = args.thread or f"example-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread_id}}
    with Client.from_url(args.url) as client:
        agent = build_agent(client, args.model)
        result = agent.invoke({"messages": [("user", "What's the weather in Paris?")]}, config)
        print(f"[process 1] thread {thread_id} on {client.target} server")
        for message in result["messages"]:
            print(show(message))
    # A second process: nothing shared but the server and the thread id.
    command = [sys.executable, __file__, "--resume", thread_id, "--model", args.model]
    if args.url:
        command += ["--url", args.url]
    subprocess.run(command, check=True)


def second_process(args: argparse.Namespace) -> None:
    config = {"configurable": {"thread_id": args.resume}}
    with Client.from_url(args.url) as client:
        agent = build_agent(client, args.model)
        before = agent.get_state(config).values["messages"]
        print(f"[process 2] loaded {len(before)} messages of thread {args.resume} from the server")
        result = agent.invoke({"messages": [("user", "And in Fahrenheit?")]}, config)
        for message in result["messages"][len(before) :]:
            print(show(message))
        history = list(agent.get_state_history(config))
        print(f"[process 2] {len(result['messages'])} messages, {len(history)} checkpoints, "
              f"each a stored Interaction; the latest is {history[0].config['configurable']['checkpoint_id']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="server URL (default: $INTERSTATE_URL or ~/.interstate/interstate.db)")
    parser.add_argument("--model", default="scripted-example", help="model name (default: the offline scripted model)")
    parser.add_argument("--thread", help="thread id (default: a new one)")
    parser.add_argument("--resume", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if "INTERSTATE_SCRIPT" not in os.environ:  # the second process inherits it
        rules = os.path.join(tempfile.mkdtemp(prefix="interstate-example-"), "rules.json")
        with open(rules, "w", encoding="utf-8") as file:
            json.dump({"rules": RULES}, file)
        os.environ["INTERSTATE_SCRIPT"] = rules
    second_process(args) if args.resume else first_process(args)


if __name__ == "__main__":
    main()
