"""AutoGen: bytes sent to the model and state stored, interstate vs stock. One run:

    .venv/bin/python bench/autogen.py [--turns 40 100] [--reply-chars 600]

The same two-agent RoundRobinGroupChat (AssistantAgents with AutoGen-style system messages)
runs three times per size, offline, on the scripted model:

* **interstate**: ``InteractionsChatCompletionClient`` on the embedded server with its default
  settings — chaining plus two interstate extensions: other agents' replies go as
  ``interstate_quote`` blocks of the interactions that produced them, and the system instruction
  is inherited from the parent turn — state checkpointed by ``TeamStateStore.run`` (before
  every model call). Bytes are the actual HTTP request bodies of every ``POST /interactions``
  (measured on the wire with an httpx hook); the extension calls (metadata tags, state records)
  go to the interstate server, not to a model, and are listed apart.
* **plain**: the same with ``quote_inputs=False, inherit_config=False``: chaining only, what
  the client sends to Google's endpoint (which has no extensions). The prompts the model gets
  (system instruction and input of every stored model call, quotes resolved) are checked to be
  identical to the interstate run's.
* **stock**: the same team with a stock full-history client: a ``ReplayChatCompletionClient``
  that replays the replies of the interstate run (so the conversation is identical, checked),
  wrapped to record what it is given. Its bytes are the request a stateless client of the same
  API sends for those messages: the full history as steps plus the system instruction, encoded
  exactly as httpx encodes the interstate requests. (``messages JSON`` is the plain
  ``model_dump`` JSON of the LLMMessages, for reference.)

State: stock is ``len(json.dumps(team.save_state()))``. interstate is the JSON of the stored
interactions the team state store wrote (each checkpoint record with its input and metadata, as
the server returns them) — for the checkpointed run and for a single save at the end. Reply
texts are not copied into them: the transcript names the model call whose output each reply
is, and agent contexts name model-call chains. Those chains (one per agent; each reply is
stored in the speaker's chain as output and in the listener's as input) are shown apart and
added in, as is the SQLite file. "Conversation" is the manager's message thread as AutoGen
dumps it (each message once).

Results (600-character replies): at 40 turns 1.6% of stock bytes in total (plain chaining
6.7%), 209 B per call from call 3 on, flat; checkpointed state 0.74x the conversation (stock
2.68x), 3.24x with the model-call chains it refers to. At 100 turns 0.6% (plain 2.7%), state
0.72x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import CreateResult, LLMMessage, ModelFamily
from autogen_ext.models.replay import ReplayChatCompletionClient
from interstate.autogen import InteractionsChatCompletionClient, TeamStateStore
from interstate.autogen import _convert as cv
from interstate.client import AsyncClient
from interstate.server.embedded import EmbeddedServer
from interstate.server.providers import ProviderRegistry, ScriptedProvider

MODEL = "scripted-bench"
TASK = "Write a short essay on why cities should plant more trees, then revise it together."
SYSTEM = {
    "alice": "You are alice, a writer. Draft and revise the essay; keep every reply focused, "
             "concrete and under two paragraphs.",
    "bob": "You are bob, an editor. Critique the latest draft precisely and suggest concrete "
           "improvements; keep every reply under two paragraphs.",
}  # fmt: skip
FILLER = (
    "Street trees cool neighbourhoods by several degrees in summer, soak up storm water that "
    "would otherwise overwhelm drains, and give birds and insects a corridor through the city. "
    "They also make streets calmer: people walk more where there is shade, shops see more "
    "visitors, and property values rise. The main costs are planting, watering in the first "
    "years and pruning; most cities recover them within a decade through lower energy use. "
) * 8


def _encode(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def build_team(client: Any, turns: int) -> RoundRobinGroupChat:
    agents = [AssistantAgent(name, model_client=client, system_message=SYSTEM[name])
              for name in ("alice", "bob")]  # fmt: skip
    return RoundRobinGroupChat(agents, termination_condition=MaxMessageTermination(turns + 1))


class StockRecorder(ReplayChatCompletionClient):
    """A stock full-history client: replays fixed replies, records what it is sent."""

    component_provider_override = "bench.autogen.StockRecorder"

    def __init__(self, replies: Sequence[str]) -> None:
        super().__init__(list(replies), model_info={
            "vision": False, "function_calling": True, "json_output": False,
            "family": ModelFamily.UNKNOWN, "structured_output": False})  # fmt: skip
        self.request_bytes: list[int] = []
        self.input_bytes: list[int] = []
        self.message_json_bytes: list[int] = []

    async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        system, body = cv.split_system(messages)
        request = {"model": MODEL, "input": cv.messages_to_steps(body), "system_instruction": system}
        self.request_bytes.append(_encode(request))
        self.input_bytes.append(_encode(request["input"]))
        self.message_json_bytes.append(_encode([m.model_dump(mode="json") for m in messages]))
        return await super().create(messages, **kwargs)


async def run_interstate(
    turns: int, reply_chars: int, work: Path, *, extensions: bool = True
) -> dict[str, Any]:
    url = f"sqlite:///{work}/interstate-{turns}-{int(extensions)}.db"
    rules = {"rules": [], "default": {"text": "[{turn}] " + FILLER[:reply_chars]}}
    scripted = ScriptedProvider(rules)
    server = EmbeddedServer.start(url, providers=ProviderRegistry([("scripted*", scripted)]))
    client = AsyncClient.from_url(url)
    creates: list[int] = []
    parts: list[tuple[int, int]] = []  # per create: (input bytes, system instruction bytes)
    extension: list[int] = []

    async def measure(request: Any) -> None:
        size = len(request.content or b"")
        if request.method == "POST" and request.url.path.endswith("/interactions"):
            creates.append(size)
            body = json.loads(request.content)
            system = body.get("system_instruction")
            parts.append((_encode(body.get("input")), _encode(system) if system else 0))
        else:
            extension.append(size)

    client._http.event_hooks["request"].append(measure)
    model_client = InteractionsChatCompletionClient(MODEL, client=client,
                                                    inherit_config=extensions,
                                                    quote_inputs=extensions)  # fmt: skip
    team = build_team(model_client, turns)
    key = f"bench-{turns}-{uuid.uuid4().hex[:6]}"
    store = TeamStateStore(key, client=client)
    result = await store.run(team, task=TASK)
    extension_during_run = sum(extension)
    state = await team.save_state()
    # The same state saved once, at the end, under another key.
    once_key = key + "-once"
    await TeamStateStore(once_key, client=client).save(team)
    stored = {k: await _records_bytes(client, k) for k in (key, once_key)}
    everything = [i async for i in client.interstate.iter(include_input=True, page_size=1000,
                                                          order="asc")]  # fmt: skip
    model_calls = [i for i in everything if i.model == MODEL]
    await client.aclose()
    server.close()
    db = Path(url.removeprefix("sqlite:///"))
    db_bytes = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {
        "creates": creates,
        "parts": parts,
        "extension_bytes": extension_during_run,
        "replies": [m.to_text() for m in result.messages[1:]],
        "sent_messages": [c.n_sent for c in model_client.calls],
        "thread_bytes": _encode(state["agent_states"]["RoundRobinGroupChatManager"]["message_thread"]),
        "state_checkpointed": stored[key],
        "state_once": stored[once_key],
        "model_chain_bytes": sum(_encode(i.to_wire()) for i in model_calls),
        # What each model call was given, as stored (quotes resolved): the prompts.
        "prompts": [(i.system_instruction, [s.to_wire() for s in i.input or []])  # type: ignore[union-attr]
                    for i in model_calls],
        "db_bytes": db_bytes,
    }


async def _records_bytes(client: AsyncClient, key: str) -> int:
    records = await TeamStateStore(key, client=client).records()
    return sum(_encode(record.to_wire()) for record in records)


async def run_stock(turns: int, replies: Sequence[str]) -> dict[str, Any]:
    recorder = StockRecorder(replies)
    team = build_team(recorder, turns)
    result = await team.run(task=TASK)
    state = await team.save_state()
    return {
        "requests": recorder.request_bytes,
        "inputs": recorder.input_bytes,
        "message_json": recorder.message_json_bytes,
        "replies": [m.to_text() for m in result.messages[1:]],
        "state_bytes": len(json.dumps(state).encode()),
    }


def report(turns: int, ours: dict[str, Any], stock: dict[str, Any], plain: dict[str, Any]) -> None:
    same = ours["replies"] == stock["replies"] == plain["replies"]
    prompts = ours["prompts"] == plain["prompts"]
    sent, full, std = ours["creates"], stock["requests"], plain["creates"]
    print(f"\n== {turns} turns (model calls), 2 agents; same conversation in all three runs: "
          f"{'yes' if same else 'NO'}; model prompts with and without extensions identical: "
          f"{'yes' if prompts else 'NO'}")  # fmt: skip
    print(f"{'call':>6} {'interstate B':>13} {'ratio':>7} {'plain B':>8} {'stock B':>9}  msgs sent/held")
    shown = sorted({1, 2, 3, 10, turns // 2, turns - 1, turns})
    for k in shown:
        i = k - 1
        print(f"{k:>6} {sent[i]:>13,} {sent[i] / full[i]:>7.1%} {std[i]:>8,} {full[i]:>9,}  "
              f"{ours['sent_messages'][i]}/{k}")  # fmt: skip
    print(f"{'total':>6} {sum(sent):>13,} {sum(sent) / sum(full):>7.1%} {sum(std):>8,} "
          f"{sum(full):>9,}  (plain = {sum(std) / sum(full):.1%} of stock)")
    steady = sent[2:]
    print(f"  interstate per call from call 3: {min(steady):,}-{max(steady):,} B (flat); "
          f"stock grows from {full[0]:,} to {full[-1]:,} B")
    inputs = [p[0] for p in ours["parts"][2:]]
    system = [p[1] for p in ours["parts"][2:]]
    print(f"  an interstate call from call 3 carries: input {min(inputs):,}-{max(inputs):,} B "
          f"(the other agent's reply as one quote), system instruction {max(system):,} B "
          f"(inherited from the parent), the rest ~{min(steady) - max(inputs) - max(system):,} B "
          "(model, previous_interaction_id, JSON framing)")
    plain_inputs = [p[0] for p in plain["parts"][2:]]
    print(f"  plain = chaining only, no extensions (what a Google target gets): from call 3 "
          f"{min(std[2:]):,}-{max(std[2:]):,} B per call, of which the reply as text "
          f"{min(plain_inputs):,}-{max(plain_inputs):,} B and the system instruction resent")
    ours_in = sum(p[0] for p in ours["parts"])
    print(f"  messages only (the input field): interstate {ours_in:,} B, stock "
          f"{sum(stock['inputs']):,} B = {ours_in / sum(stock['inputs']):.1%}")
    print(f"  stock messages as plain LLMMessage JSON: {sum(stock['message_json']):,} B total")
    print(f"  to the interstate server, not the model (chain tags, checkpoints): "
          f"{ours['extension_bytes']:,} B")
    conv = ours["thread_bytes"]
    print(f"  state: conversation (thread JSON, each message once) {conv:,} B")
    print(f"    stock save_state()                         {stock['state_bytes']:>9,} B "
          f"({stock['state_bytes'] / conv:.2f}x conversation)")
    for label, value in (("interstate team state, checkpointed run", ours["state_checkpointed"]),
                         ("interstate team state, one save at end", ours["state_once"])):
        print(f"    {label:<42} {value:>9,} B ({value / conv:.2f}x conversation, "
              f"{value / stock['state_bytes']:.0%} of stock)")  # fmt: skip
    chains = ours["model_chain_bytes"]
    print(f"    the model-call chains it refers to for reply texts and agent contexts "
          f"{chains:,} B;\n    checkpointed state + chains {ours['state_checkpointed'] + chains:,} B "
          f"({(ours['state_checkpointed'] + chains) / conv:.2f}x); SQLite file incl. WAL "
          f"{ours['db_bytes']:,} B")


async def main(turn_counts: list[int], reply_chars: int) -> None:
    print(f"reply size ~{reply_chars} characters; system messages {len(SYSTEM['alice'])} and "
          f"{len(SYSTEM['bob'])} characters; bytes are UTF-8 JSON request bodies")
    with tempfile.TemporaryDirectory() as tmp:
        for turns in turn_counts:
            ours = await run_interstate(turns, reply_chars, Path(tmp))
            plain = await run_interstate(turns, reply_chars, Path(tmp), extensions=False)
            stock = await run_stock(turns, ours["replies"])
            report(turns, ours, stock, plain)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="AutoGen bytes and state: interstate vs stock")
    parser.add_argument("--turns", type=int, nargs="+", default=[40, 100])
    parser.add_argument("--reply-chars", type=int, default=600)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.turns, args.reply_chars)))
