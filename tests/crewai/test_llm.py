"""InteractionsLLM at the call level: lanes, deltas, structured output; and the socket guard."""

from __future__ import annotations

import socket
import threading
import uuid
from typing import Any

import pytest
from crewai.memory.analyze import ExtractedMemories

from conftest import SocketGuard, is_local
from crewai_script import FACT
from interstate.crewai import InteractionsLLM


class FakeAgent:
    def __init__(self, role: str) -> None:
        self.id = uuid.uuid4()
        self.role = role


def turns(llm: InteractionsLLM, run: str) -> list[Any]:
    return list(llm.client.interstate.iter(labels={"test-run": run}, order="asc", include_input=True))


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
    assert t[1].labels["crewai-call"] == "internal" and t[1].previous_interaction_id is None
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
    assert all(x.previous_interaction_id is None for x in t)


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
