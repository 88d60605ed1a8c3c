"""Quoting earlier outputs: the index's matching (offline), and on a server in both modes that
the model receives exactly the prompt CrewAI wrote while the wire carries references."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from crewai import Agent, Crew, Process, Task

from crewai_script import ESSAY
from helpers import GoogleLike, sent_requests
from interstate.crewai import InteractionsLLM
from interstate.crewai.quotes import BLOCK, OutputIndex

QUOTE = "interstate_quote"


def resolve(index: OutputIndex, blocks: list[dict[str, Any]]) -> str:
    """What the server makes of ``blocks``: quotes become ``output_text[start:end]``."""
    texts = dict(index._texts)
    return "".join(
        texts[b["interaction_id"]][b.get("start", 0) : b.get("end")] if b["type"] == QUOTE
        else b["text"]
        for b in blocks
    )  # fmt: skip


# -- the index, offline -------------------------------------------------------------------------


def test_any_long_stretch_of_an_output_is_found_at_any_offset() -> None:
    index = OutputIndex()
    index.add("a", ESSAY)
    for start, end in [(0, len(ESSAY)), (1, 4 * BLOCK), (37, 400), (500, len(ESSAY)), (3, 131)]:
        piece = ESSAY[start:end]
        prompt = f"Before \u2016{piece}\u2016 after."  # a character the essay does not have
        blocks, ids = index.quote_text(prompt)
        assert resolve(index, blocks) == prompt
        assert ids == ["a"]
        (q,) = [b for b in blocks if b["type"] == QUOTE]
        assert (q.get("start", 0), q.get("end", len(ESSAY))) == (start, end)
        # the bounds are left out where they are the defaults
        assert ("start" in q) == (start > 0) and ("end" in q) == (end < len(ESSAY))


def test_several_outputs_repeats_and_short_stretches() -> None:
    index = OutputIndex()
    other = "Findings: demand grew steadily while unit costs fell. " * 8
    index.add("essay", ESSAY)
    index.add("other", other)
    index.add("short", "too short to index")
    prompt = ("Context:\n" + ESSAY + "\n\n----------\n\n" + other.strip() + "\n" + ESSAY[:40]
              + " (a short stretch stays text) " + other[:300] + other[:300])  # fmt: skip
    blocks, ids = index.quote_text(prompt)
    assert resolve(index, blocks) == prompt
    assert ids == ["essay", "other", "other", "other"]
    assert ESSAY[:40] in "".join(b.get("text", "") for b in blocks)
    assert len(json.dumps(blocks)) < len(json.dumps(prompt)) // 3
    # nothing worth quoting: one text block, unchanged
    assert index.quote_text("no outputs here") == ([{"type": "text", "text": "no outputs here"}], [])
    assert index.quote_text("") == ([{"type": "text", "text": ""}], [])


def test_a_quote_must_be_smaller_than_its_text() -> None:
    index = OutputIndex()
    text = "x" * 40 + "".join(chr(0x4E00 + n) for n in range(2 * BLOCK))  # 3 bytes per character
    index.add("v1_" + "0" * 28, text)
    ascii_piece = "y" * BLOCK + "x" * 40 + "z"
    index.add("v1_" + "1" * 28, ascii_piece)
    # 2 * BLOCK CJK characters are 192 bytes of JSON: worth a quote; 73 ASCII ones are not
    assert index.quote_text(f"[{text[40:]}]")[1] == ["v1_" + "0" * 28]
    assert index.quote_text(f"[{ascii_piece}]")[1] == []


def test_eviction_and_forget() -> None:
    index = OutputIndex(max_chars=2 * len("0:" + ESSAY))
    for n in range(3):
        index.add(f"o{n}", f"{n}:" + ESSAY)
    assert len(index) == 2 and index.quote_text("1:" + ESSAY)[1] == ["o1"]
    assert index.quote_text("0:" + ESSAY)[1] == ["o1"]  # "o0" is gone; its tail is also in o1
    index.forget(["o1", "unknown"])
    assert index.quote_text("1:" + ESSAY)[1] == ["o2"]
    index.forget(["o2"])
    assert len(index) == 0 and index._blocks == {}


def test_quote_steps_leaves_other_steps_and_blocks_alone() -> None:
    index = OutputIndex()
    index.add("e", ESSAY)
    steps = [
        {"type": "function_result", "call_id": "c", "result": ESSAY},
        {"type": "user_input", "content": [{"type": "text", "text": "ctx: " + ESSAY},
                                           {"type": "image", "uri": "http://x/y.png"}]},
    ]  # fmt: skip
    out, ids = index.quote_steps(steps)
    assert out[0] == steps[0] and ids == ["e"]
    assert [b["type"] for b in out[1]["content"]] == ["text", QUOTE, "image"]
    # two text blocks side by side: the server would join both to a quote, so neither is quoted
    two = [{"type": "user_input", "content": [{"type": "text", "text": ESSAY}] * 2}]
    assert index.quote_steps(two) == (two, [])


# -- on a server ----------------------------------------------------------------------------------


class Agent_:
    def __init__(self, role: str) -> None:
        self.id, self.role = uuid.uuid4(), role


def ask(llm: InteractionsLLM, prompt: str, role: str = "Writer") -> str:
    return llm.call([{"role": "system", "content": "You repeat."}, {"role": "user", "content": prompt}],
                    from_agent=Agent_(role))  # fmt: skip


def echo_llm(client: Any = None, **options: Any) -> InteractionsLLM:
    """An LLM on the echo model (its answer is ``echo: `` + the prompt it received), labelled
    with a run of its own (the HTTP server is shared)."""
    labels = {"test-run": f"q-{uuid.uuid4().hex[:8]}"}
    return InteractionsLLM(client=client, model="scripted-echo", labels=labels, **options)


def newest(llm: InteractionsLLM) -> Any:
    """The LLM's latest turn, with its input as stored."""
    labels = {**llm.labels, "interstate-kind": "crewai-llm"}
    return llm.client.interstate.list(labels=labels, include_input=True, page_size=1).interactions[0]


def test_the_model_gets_the_prompt_byte_for_byte(target: Any) -> None:
    # two LLM objects built from the same URL (each with its own client) share what they quote
    first, second = echo_llm(url=target.url), echo_llm(url=target.url)
    sent = sent_requests(second.client)
    answer = ask(first, ESSAY)
    assert answer == "echo: " + ESSAY
    prompt = f"This is the context you're working with:\n{answer[20:]}\n\nBegin! \u2713"
    # the echo model answers with the prompt as it received it
    assert ask(second, prompt) == "echo: " + prompt
    (create,) = sent
    content = create.body["input"][0]["content"]
    assert [b["type"] for b in content] == ["text", QUOTE, "text"]
    assert content[1] == {"type": QUOTE, "interaction_id": newest(first).id, "start": 20}
    assert "Paragraph" not in json.dumps(content)
    # stored as the text itself
    assert [b.text for b in newest(second).input[0].content] == [prompt]


def test_a_deleted_output_is_sent_as_text(target: Any) -> None:
    llm = echo_llm(target.client())
    sent = sent_requests(llm.client)
    answer = ask(llm, ESSAY)
    llm.client.interactions.delete(newest(llm).id)
    del sent[:]
    prompt = "Again: " + answer
    assert ask(llm, prompt, "Other") == "echo: " + prompt
    refused, retried = [s.body["input"][0]["content"] for s in sent]
    assert [b["type"] for b in refused] == ["text", QUOTE] and retried == [{"type": "text", "text": prompt}]
    # forgotten: the next call quotes the retried call's answer instead, at the first attempt
    retried_id = newest(llm).id
    del sent[:]
    assert ask(llm, prompt + "!", "Third") == "echo: " + prompt + "!"
    (third,) = sent
    assert third.body["input"][0]["content"] == [
        {"type": QUOTE, "interaction_id": retried_id, "start": 6}, {"type": "text", "text": "!"}]


def test_google_gets_neither_quotes_nor_roots(target: Any) -> None:
    llm = echo_llm(GoogleLike.from_url(target.url))
    sent = sent_requests(llm.client, ("",))
    answer = ask(llm, ESSAY)
    assert ask(llm, "Again: " + answer, "Other") == "echo: Again: " + answer
    assert [s.path.rsplit("/", 1)[1] for s in sent] == ["interactions"] * 2
    assert QUOTE not in json.dumps([s.body for s in sent])
    assert sent[1].body["input"][0]["content"] == [{"type": "text", "text": "Again: " + answer}]


@pytest.mark.parametrize("quote_outputs", [True, False])
def test_a_crew_quotes_earlier_task_outputs(target: Any, quote_outputs: bool) -> None:
    """A real sequential crew: the second task's prompt carries the first task's output as
    context; it goes as a quote, and the model still receives CrewAI's prompt unchanged."""
    handed: list[str] = []

    class Recording(InteractionsLLM):
        def call(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            handed.append(messages[-1]["content"])
            return super().call(messages, *args, **kwargs)

    client = target.client()
    sent = sent_requests(client)
    essayist = Agent(role="Essayist", goal="Write", backstory="Writes at length.",
                     llm=InteractionsLLM(client=client, model="scripted-essay",
                                         quote_outputs=quote_outputs))  # fmt: skip
    echo = Agent(role="Echo", goal="Repeat", backstory="Repeats.",
                 llm=Recording(client=client, model="scripted-echo", quote_outputs=quote_outputs))
    tasks = [Task(description="Write the essay.", expected_output="An essay.", agent=essayist),
             Task(description="Repeat your context.", expected_output="The context.", agent=echo)]
    out = Crew(agents=[essayist, echo], tasks=tasks, process=Process.sequential).kickoff()
    assert out.tasks_output[0].raw == ESSAY
    (prompt,) = handed
    assert ESSAY in prompt and out.raw == ("echo: " + prompt).strip()
    body = json.dumps(sent[-1].body, ensure_ascii=False)
    assert (QUOTE in body) == quote_outputs and ("Paragraph 3" in body) != quote_outputs
