"""InteractionsLLM at the call level: lanes, deltas, structured output; and the socket guard."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from typing import Any

import pytest
from crewai.memory.analyze import ExtractedMemories

from conftest import SocketGuard, is_local
from crewai_script import FACT
from helpers import GoogleLike, is_config_root, sent_requests
from interstate.crewai import InteractionsLLM
from interstate.errors import APIError


class FakeAgent:
    def __init__(self, role: str) -> None:
        self.id = uuid.uuid4()
        self.role = role


def turns(llm: InteractionsLLM, run: str, kind: str = "crewai-llm") -> list[Any]:
    """The LLM's turns of this run (``kind="crewai-config"``: its configuration roots)."""
    labels = {"test-run": run, "interstate-kind": kind}
    return list(llm.client.interstate.iter(labels=labels, order="asc", include_input=True))


def test_lanes_keep_internal_calls_out_of_agent_chains(target: Any) -> None:
    run = f"r-{uuid.uuid4().hex[:8]}"
    llm = InteractionsLLM(client=target.client(), model="scripted-writer", labels={"test-run": run})
    agent = FakeAgent("Report Writer")
    system = {"role": "system", "content": "You write.", "cache_breakpoint": True}
    user = {"role": "user", "content": "Write it.", "cache_breakpoint": True}
    first = llm.call([system, user], from_agent=agent)
    assert first == "Report: Paris is the capital of France."
    follow = [system, user, {"role": "assistant", "content": first}, {"role": "user", "content": "Again."}]

    # the same list from a background thread with no agent (as CrewAI memory calls come)
    thread_result: list[Any] = []
    worker = threading.Thread(target=lambda: thread_result.append(llm.call(follow)))
    worker.start()
    worker.join()
    # and a copy of the LLM (CrewAI memory copies the agent's LLM) from the agent: continues
    again = __import__("copy").copy(llm).call(follow, from_agent=agent)
    assert thread_result and again

    t = turns(llm, run)
    assert len(t) == 3
    # the internal call starts a conversation of its own, under the same configuration root
    (root,) = turns(llm, run, "crewai-config")
    assert t[0].previous_interaction_id == t[1].previous_interaction_id == root.id
    assert t[1].labels["crewai-call"] == "internal"
    assert [s.type for s in t[1].input] == ["user_input", "model_output", "user_input"]  # whole list
    assert t[2].previous_interaction_id == t[0].id
    assert [s.type for s in t[2].input] == ["user_input"]  # only "Again."
    assert t[2].input[0].content[0].text == "Again." and t[2].system_instruction == "You write."


def test_structured_output_is_parsed_and_never_chained(target: Any) -> None:
    run = f"r-{uuid.uuid4().hex[:8]}"
    llm = InteractionsLLM(client=target.client(), model="scripted-any", labels={"test-run": run})
    messages = [{"role": "system", "content": "Extract."},
                {"role": "user", "content": "Content:\nx\n\nExtract memory statements as described."}]
    result = llm.call(messages, response_model=ExtractedMemories)
    assert isinstance(result, ExtractedMemories) and result.memories == [FACT]
    again = llm.call([*messages, {"role": "assistant", "content": "{}"}, {"role": "user", "content": "Extract memory statements again."}],
                     response_model=ExtractedMemories)  # fmt: skip
    assert again.memories == [FACT]
    t = turns(llm, run)
    assert t[0].response_format is not None
    assert all(is_config_root(llm.client, x.previous_interaction_id) for x in t)


LOOKUP = {"type": "function", "function": {
    "name": "lookup_fact", "description": "Look up a fact.",
    "parameters": {"type": "object", "properties": {"topic": {"type": "string"}}}}}  # fmt: skip


def conversation(llm: InteractionsLLM, system: str, tools_per_call: list[Any]) -> list[str]:
    """One growing conversation: call i sends the whole list so far with ``tools_per_call[i]``."""
    agent = FakeAgent("Researcher")
    messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                      {"role": "user", "content": "Question 0"}]  # fmt: skip
    answers = []
    for n, tools in enumerate(tools_per_call):
        answer = llm.call(list(messages), tools=tools, from_agent=agent)
        answers.append(answer)
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": f"Question {n + 1}"}]
    return answers


def test_chained_calls_send_system_and_tools_once_and_the_model_still_sees_them(target: Any) -> None:
    run = f"r-{uuid.uuid4().hex[:8]}"
    client = target.client()
    sent = sent_requests(client)
    llm = InteractionsLLM(client=client, model="scripted-toolcheck", labels={"test-run": run})
    system = "You are a careful researcher. " * 40
    answers = conversation(llm, system, [[LOOKUP], [LOOKUP], [LOOKUP], None])
    # they went out once, on the configuration root the conversation starts under (turn 0)
    (root,) = turns(llm, run, "crewai-config")
    assert root.system_instruction == system and [tool.name for tool in root.tools] == ["lookup_fact"]
    assert not root.input and not root.steps and root.previous_interaction_id is None
    # no call sent either, yet the model was offered the tool (the rule depends on it)
    assert answers[:3] == [f"lookup_fact offered (turn {n})" for n in range(1, 4)]
    bodies = [s.body for s in sent]
    assert bodies[0]["previous_interaction_id"] == root.id
    for body, headers in [(s.body, s.headers) for s in sent[:3]]:
        assert headers["x-interstate-inherit-config"] == "true"
        assert "system_instruction" not in body and "tools" not in body
        assert body["previous_interaction_id"] and [s["type"] for s in body["input"]] == ["user_input"]
    assert len(json.dumps(bodies[0])) < len(system) // 2
    # the stored turns echo the effective configuration
    t = turns(llm, run)
    assert [x.system_instruction for x in t] == [system] * 4
    assert [[tool.name for tool in x.tools or []] for x in t] == [["lookup_fact"]] * 3 + [[]]
    # call 4 dropped the tools: "absent" would mean "inherit", so it goes out without the header
    # and with its whole configuration, and the model is not offered the tool
    assert answers[3] == "no tools (turn 4)"
    assert "x-interstate-inherit-config" not in sent[3].headers
    assert bodies[3]["system_instruction"] == system and "tools" not in bodies[3]
    assert bodies[3]["previous_interaction_id"] == t[2].id


def test_changed_tools_are_sent_alone(target: Any) -> None:
    run = f"r-{uuid.uuid4().hex[:8]}"
    client = target.client()
    sent = sent_requests(client)
    llm = InteractionsLLM(client=client, model="scripted-toolcheck", labels={"test-run": run})
    other = {"type": "function", "function": {"name": "other_tool", "parameters": {"type": "object"}}}
    answers = conversation(llm, "Research.", [[other], [LOOKUP, other]])
    assert answers == ["no tools (turn 1)", "lookup_fact offered (turn 2)"]
    body = sent[1].body
    assert sent[1].headers["x-interstate-inherit-config"] == "true" and "system_instruction" not in body
    assert [tool["name"] for tool in body["tools"]] == ["lookup_fact", "other_tool"]
    assert turns(llm, run)[1].system_instruction == "Research."


def test_against_google_every_call_carries_its_configuration(target: Any) -> None:
    """A client that reports no extensions (Google's endpoint) never gets the header, nor a
    configuration root (nothing but creates is sent)."""
    run = f"r-{uuid.uuid4().hex[:8]}"
    client = GoogleLike.from_url(target.url)
    sent = sent_requests(client, ("",))
    llm = InteractionsLLM(client=client, model="scripted-toolcheck", labels={"test-run": run})
    answers = conversation(llm, "Research.", [[LOOKUP], [LOOKUP], [LOOKUP]])
    assert answers == [f"lookup_fact offered (turn {n})" for n in range(3)]
    assert [s.path.rsplit("/", 1)[1] for s in sent] == ["interactions"] * 3
    assert all("x-interstate-inherit-config" not in s.headers for s in sent)
    assert all(s.body["system_instruction"] == "Research." and s.body["tools"] for s in sent)
    assert "previous_interaction_id" not in sent[0].body
    assert sent[2].body["previous_interaction_id"]  # still chained, sending only the new message
    assert [s["type"] for s in sent[2].body["input"]] == ["user_input"]


def test_socket_guard_refuses_non_loopback() -> None:
    assert is_local(("127.0.0.1", 80)) and is_local(("::1", 80, 0, 0)) and is_local(("localhost",))
    assert is_local("/tmp/sock") and is_local((None,))
    assert not is_local(("192.0.2.1", 80)) and not is_local(("telemetry.crewai.com",))
    guard = SocketGuard()
    with pytest.raises(ConnectionRefusedError):
        guard.check("connect", ("192.0.2.1", 443))  # checked before any packet could leave
    assert guard.violations == ["connect ('192.0.2.1', 443)"]
    # the autouse guard is installed for this test
    assert socket.socket.connect.__name__ == "connect" and socket.getaddrinfo.__module__ == "conftest"


def test_failed_turn_raises_the_typed_error(target: Any) -> None:
    """A failed model turn raises a typed interstate error with the server's message, never
    an empty answer (the CrewAI agent would take it as the model's reply)."""
    llm = InteractionsLLM(client=target.client(), model="scripted-fail")
    with pytest.raises(APIError, match="simulated outage"):
        llm.call("Write it.")
