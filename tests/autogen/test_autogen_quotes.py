"""Input quotes: other agents' replies sent as ``interstate_quote`` blocks (embedded and HTTP),
never to Google, with exactly the prompt the model would get without them; the quoting logic;
quotes found across processes; the team state storing replies as references."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator

import httpx
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import UserMessage
from autogen_scenarios import LONG_TEXT, SCRIPT
from interstate.autogen import InteractionsChatCompletionClient, TeamStateStore
from interstate.autogen._quotes import MIN_QUOTE, OutputIndex
from interstate.client import AsyncClient
from interstate.server.embedded import EmbeddedServer
from interstate.server.providers import ProviderRegistry, ScriptedProvider
from interstate.server.providers.base import ModelTurn

QUOTE = "interstate_quote"


def _team(client_a: Any, client_b: Any, turns: int) -> RoundRobinGroupChat:
    alice = AssistantAgent("alice", model_client=client_a, system_message="You are alice.")
    bob = AssistantAgent("bob", model_client=client_b, system_message="You are bob.")
    return RoundRobinGroupChat([alice, bob], termination_condition=MaxMessageTermination(turns))


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for step in body.get("input") or [] for b in step.get("content") or []]


def _capture(raw: AsyncClient) -> list[tuple[dict[str, Any], httpx.Headers]]:
    sent: list[tuple[dict[str, Any], httpx.Headers]] = []

    async def hook(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/interactions"):
            sent.append((json.loads(request.content), request.headers))

    raw._http.event_hooks["request"].append(hook)
    return sent


# --- on a server -------------------------------------------------------------------------------


async def test_replies_travel_as_quotes(target: Any, tag: str) -> None:
    raw = AsyncClient.from_url(target.url)
    sent = _capture(raw)
    client_a = InteractionsChatCompletionClient(f"scripted-long-a-{tag}", client=raw)
    client_b = InteractionsChatCompletionClient(f"scripted-long-b-{tag}", client=raw)
    result = await _team(client_a, client_b, turns=5).run(task=f"Discuss {tag}")
    replies = [m.to_text() for m in result.messages[1:]]
    assert replies[0] == f"scripted-long-a-{tag} at depth 0: {LONG_TEXT}"
    calls = sorted([*client_a.calls, *client_b.calls], key=lambda c: c.n_messages)
    assert [c.agent for c in calls] == ["alice", "bob", "alice", "bob"]
    # Each call after the first quotes the reply the previous call produced, and nothing else.
    assert calls[0].quoted == []
    for previous, call in pairwise(calls):
        assert call.quoted == [previous.interaction_id]
    for body, _ in sent[1:]:
        assert [b["type"] for b in _blocks(body)].count(QUOTE) == 1
        assert LONG_TEXT not in json.dumps(body)
    # The server stored the text, exactly as the model got it.
    for previous, call, reply in zip(calls, calls[1:], replies):
        stored = await raw.interstate.get(call.interaction_id)  # type: ignore[arg-type]
        texts = [c.text for s in stored.input or [] for c in s.content]  # type: ignore[union-attr]
        assert texts[-1] == reply
    await raw.aclose()


async def test_a_gone_interaction_is_sent_as_text(target: Any, tag: str) -> None:
    raw = AsyncClient.from_url(target.url)
    sent = _capture(raw)
    client = InteractionsChatCompletionClient(f"scripted-long-gone-{tag}", client=raw)
    first = await client.create([UserMessage(content=f"Start {tag}", source="user")])
    assert isinstance(first.content, str) and len(first.content) >= MIN_QUOTE
    gone = client.calls[0].interaction_id
    await raw.interactions.delete(gone)  # type: ignore[arg-type]
    again = await client.create([UserMessage(content=first.content, source="alice")])
    assert again.content == first.content  # a new root: depth 0 again
    # The quote answered 404; the call went again with the text, and the id was forgotten.
    assert [_blocks(body)[0]["type"] for body, _ in sent[1:]] == [QUOTE, "text"]
    assert client.calls[-1].quoted == []
    # (the same text now comes from the new call)
    assert client.chain_index().outputs.whole(first.content) == client.calls[-1].interaction_id
    await raw.aclose()


class RecordingProvider(ScriptedProvider):
    """The scripted model, noting every prompt it is given."""

    def __init__(self, script: Any) -> None:
        super().__init__(script)
        self.prompts: list[Any] = []

    async def generate(self, turn: ModelTurn) -> AsyncIterator[Any]:
        self.prompts.append([turn.system_instruction, turn.history, turn.input])
        async for item in super().generate(turn):
            yield item


async def _prompts(path: Path, quote_inputs: bool) -> list[Any]:
    recorder = RecordingProvider({"rules": SCRIPT})
    url = f"sqlite:///{path}"
    server = EmbeddedServer.start(url, providers=ProviderRegistry([("scripted*", recorder)]))
    client_a = InteractionsChatCompletionClient("scripted-long-a", url=url, quote_inputs=quote_inputs)
    client_b = InteractionsChatCompletionClient("scripted-long-b", url=url, quote_inputs=quote_inputs)
    result = await _team(client_a, client_b, turns=6).run(task="Discuss the trees.")
    replies = [m.to_text() for m in result.messages[1:]]
    # A one-off prompt that flattens the history (as SelectorGroupChat's does: right-stripped).
    history = "\n".join(f"{m.source}: {m.to_text()}".rstrip() + "\n\n" for m in result.messages)
    await client_a.create([UserMessage(content=f"{history}Who speaks next?", source="user")],
                          extra_create_args={"interstate_one_off": True})  # fmt: skip
    one_off, *agents = [client_a.calls[-1], *list(client_a.calls)[:-1], *client_b.calls]
    quoted = [len(one_off.quoted), sum(len(c.quoted) for c in agents)]
    await client_a.close()
    await client_b.close()
    server.close()
    return [recorder.prompts, replies, quoted]


async def test_quotes_leave_the_prompt_unchanged(tmp_path: Path) -> None:
    with_quotes, replies, quoted = await _prompts(tmp_path / "quoted.db", True)
    without, same_replies, unquoted = await _prompts(tmp_path / "plain.db", False)
    assert replies == same_replies and len(replies) == 5
    assert unquoted == [0, 0]
    # The one-off prompt quoted every reply (right-stripped ones too); each agent call after
    # the first quoted the reply before it.
    assert quoted == [5, 4]
    assert with_quotes == without  # byte-identical prompts: system instruction, history, input


async def test_google_never_gets_quotes_or_inherited_config(tag: str) -> None:
    reply = f"google reply {tag}: {LONG_TEXT}"
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        body = {"id": f"g{len(requests)}", "status": "completed", "object": "interaction",
                "steps": [{"type": "model_output", "content": [{"type": "text", "text": reply}]}]}
        return httpx.Response(200, json=body)

    raw = AsyncClient("key", _target="google", _transport=httpx.MockTransport(handler))
    client = InteractionsChatCompletionClient("gemini-2.5-flash", client=raw)
    task = UserMessage(content=f"Go {tag}", source="user")
    first = await client.create([task])
    assert first.content == reply
    await client.create([task, UserMessage(content=reply, source="alice"),
                         UserMessage(content=f"x: {reply}", source="bob")])  # fmt: skip
    assert [r.url.path.rsplit("/", 1)[-1] for r in requests] == ["interactions"] * 2  # no tags
    for request in requests:
        assert QUOTE not in request.content.decode()
        assert "x-interstate-inherit-config" not in request.headers
    assert all(not c.quoted for c in client.calls)
    await raw.aclose()


# --- the quoting logic -------------------------------------------------------------------------


async def _nothing_listed(**_: Any) -> Any:
    return SimpleNamespace(interactions=[])


#: An interstate client whose server knows no outputs (only ``list`` is ever called).
_NO_SERVER = SimpleNamespace(supports_extensions=True,
                             interstate=SimpleNamespace(list=_nothing_listed))  # fmt: skip


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


async def test_quote_steps_rules(tag: str) -> None:
    outputs = OutputIndex(_NO_SERVER, f"test:{tag}")  # type: ignore[arg-type]
    one = f"first output {tag} " + "a" * MIN_QUOTE
    two = f"second output {tag} " + "b" * MIN_QUOTE + "  \n"
    assert outputs.remember("i1", one) is not None and outputs.remember("i2", two) is not None
    assert outputs.remember("i3", "short") is None
    steps = [
        {"type": "user_input", "content": [_text(one)]},  # whole: one quote
        {"type": "model_output", "content": [_text(f"Before {one} middle {two.rstrip()}!")]},
        {"type": "user_input", "content": [_text(one), _text("tail")]},  # a text neighbour
        {"type": "user_input", "content": [{"type": "image", "data": "x"}, _text(two)]},
        {"type": "function_result", "call_id": "c", "name": "f", "result": one},
        {"type": "user_input", "content": [_text("short")]},
    ]
    out, quoted = await outputs.quote_steps(steps)
    assert out[0]["content"] == [{"type": QUOTE, "interaction_id": "i1"}]
    assert out[1]["content"] == [
        _text("Before "), {"type": QUOTE, "interaction_id": "i1"}, _text(" middle "),
        {"type": QUOTE, "interaction_id": "i2", "end": len(two.rstrip())}, _text("!"),
    ]  # fmt: skip
    assert out[2:] == [steps[2], {**steps[3], "content": [steps[3]["content"][0],
                       {"type": QUOTE, "interaction_id": "i2"}]}, steps[4], steps[5]]  # fmt: skip
    assert sorted(quoted) == ["i1", "i1", "i2", "i2"]
    assert steps[0]["content"] == [_text(one)]  # the caller's steps are not changed
    outputs.forget(["i1"])
    assert outputs.whole(one) is None and outputs.whole(two) == "i2"


# --- across processes, and in the team state --------------------------------------------------


def test_quotes_found_in_a_new_process(proc_target: Any, tag: str) -> None:
    """A new process knows no outputs; it finds the interaction behind a reply by its digest
    (``autogen_output`` metadata) and quotes it, and the model gets the same text."""
    state_file = str(proc_target.tmp / "state.json")
    model = f"scripted-long-x-{tag}"
    first = proc_target.run("stock_first", task=f"Hello {tag}", turns=5, state_file=state_file,
                            model=model)  # fmt: skip
    second = proc_target.run("stock_next", task="Again.", turns=3, state_file=state_file,
                             model=model)  # fmt: skip
    assert second["quote_lookups"] >= 1
    # alice's first call: bob's last reply (quoted, found on the server) and the new task.
    assert second["calls"][0]["quoted"] == [first["calls"][-1]["interaction_id"]]
    assert second["calls"][1]["quoted"] == [second["calls"][0]["interaction_id"]]


def test_team_state_stores_replies_once(proc_target: Any, tag: str) -> None:
    """Checkpoints name the model call whose output a reply is; a new process reads the texts
    back from the model-call chains and continues."""
    key = f"quoted-{tag}"
    model = f"scripted-long-s-{tag}"
    first = proc_target.run("store_first", key=key, task=f"Begin {tag}", turns=5, model=model)
    second = proc_target.run("store_next", key=key, task="Continue.", turns=3, model=model)
    assert second["loaded"] is True
    assert [m[1] for m in second["messages"][1:]] == [f"{model} at depth 2: {LONG_TEXT}"] * 2
    assert second["calls"][0]["previous_interaction_id"] == first["calls"][2]["interaction_id"]

    import asyncio

    async def books() -> list[Any]:
        store = TeamStateStore(key, url=proc_target.url)
        records = await store.records()
        await store.close()
        return [b for r in records for b in r.interstate.metadata["autogen_thread"]]  # type: ignore[union-attr]

    entries = asyncio.run(books())
    replies = [b for b in entries if b["source"] != "user"]
    assert len(replies) == 6 and all("_q" in b for b in replies)
