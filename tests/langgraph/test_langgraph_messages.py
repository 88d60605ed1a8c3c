"""LangChain messages <-> steps: every message comes back equal; typed steps where they exist."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from interstate.langgraph._codec import decode_value, encode_value, pack_uuid, unpack_uuid
from interstate.langgraph._messages import chain_hash, message_to_steps, steps_to_message

CASES: list[tuple[BaseMessage, list[str]]] = [
    (HumanMessage("hi", id="h1"), ["user_input"]),
    (HumanMessage("", id="h2"), ["user_input"]),
    (HumanMessage([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x"}}],
                  id="h3", name="ann"), ["user_input"]),  # fmt: skip
    (HumanMessage(["plain", {"type": "text", "text": "b"}]), ["user_input"]),
    (AIMessage("hello", id="a1", response_metadata={"model_name": "m"},
               usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}), ["model_output"]),  # fmt: skip
    (AIMessage("", id="a2", tool_calls=[{"name": "f", "args": {"x": 1}, "id": "c1"}]), ["function_call"]),
    (AIMessage("two", tool_calls=[{"name": "f", "args": {}, "id": "c1"}, {"name": "g", "args": {"y": [1]}, "id": "c2"}],
               additional_kwargs={"reasoning_content": "hmm"}), ["model_output", "function_call", "function_call"]),  # fmt: skip
    (AIMessage("x", invalid_tool_calls=[{"name": "f", "args": "{bad", "id": "c9", "error": "oops",
                                         "type": "invalid_tool_call"}]), ["model_output"]),  # fmt: skip
    (AIMessage("", tool_calls=[{"name": "f", "args": {"t": (1, 2)}, "id": "c"}]), ["user_input"]),  # tuples: raw
    (ToolMessage("42", tool_call_id="c1", name="f", id="t1"), ["function_result"]),
    (ToolMessage("boom", tool_call_id="c1", status="error", artifact={"a": 1}), ["function_result"]),
    (ToolMessage([{"type": "text", "text": "r"}], tool_call_id="c2"), ["function_result"]),
    (ToolMessage("x", tool_call_id="c3", artifact=uuid.UUID(int=5)), ["user_input"]),  # serde
    (SystemMessage("sys", id="s1"), ["user_input"]),
    (ChatMessage("c", role="critic"), ["user_input"]),
    (FunctionMessage("f", name="fn"), ["user_input"]),
    (AIMessageChunk("chunk", id="ch"), ["model_output"]),
]


@pytest.mark.parametrize(("message", "kinds"), CASES)
def test_messages_come_back_equal(message: BaseMessage, kinds: list[str]) -> None:
    steps, side = message_to_steps(message)
    assert [s["type"] for s in steps] == kinds
    back = steps_to_message(steps, side)
    # Equal to the message, or (where JSON cannot say it: tuples, UUIDs) to what LangGraph's own
    # serializer gives back, as from any stock checkpointer.
    serde = JsonPlusSerializer()
    assert back == serde.loads_typed(serde.dumps_typed(message)) and type(back) is type(message)


def test_values_with_messages_are_stored_as_references() -> None:
    serde = JsonPlusSerializer()
    human = HumanMessage("hi", id="h")
    stored: list[BaseMessage] = []

    def place(message: BaseMessage) -> int:
        stored.append(message)
        return len(stored) - 1

    encoded = encode_value({"messages": [human], "n": 1}, serde, place)
    assert encoded == ["m", {"messages": [{"$R": 0}], "n": 1}]
    assert decode_value(encoded, serde, lambda ref: stored[ref]) == {"messages": [human], "n": 1}
    assert decode_value(encode_value({"k": (1, 2)}, serde), serde) == {"k": [1, 2]}  # as serde gives
    assert encode_value(None, serde) is None and encode_value([1], serde) == ["j", [1]]


def test_ids_and_hashes() -> None:
    value = str(uuid.uuid4())
    assert unpack_uuid(pack_uuid(value)) == value and len(pack_uuid(value)) == 22
    assert unpack_uuid(pack_uuid("not-a-uuid")) == "not-a-uuid"
    a, b = HumanMessage("a", id="1"), AIMessage("b", id="2")
    assert chain_hash([a, b]) == chain_hash([b], chain_hash([a])) != chain_hash([b, a])


def _pydantic_state(message: BaseMessage) -> tuple[object, ...]:
    return (type(message), message.__dict__, message.__pydantic_fields_set__,
            message.__pydantic_extra__, message.__pydantic_private__)  # fmt: skip


@pytest.mark.parametrize("message", [HumanMessage("hi", id="h1"), HumanMessage(""), HumanMessage("x", id=""),
                                     AIMessage("hello", id="a1"), AIMessage(""), AIMessage("ok", id="a2"),
                                     AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "c1"}], id="a3")])  # fmt: skip
def test_decoded_messages_are_what_the_constructor_makes(message: BaseMessage) -> None:
    """The plain-message path (no pydantic validation) builds exactly the constructor's object:
    the same fields, the same fields counted as set, nothing shared between two decodes."""
    kwargs = {"tool_calls": message.tool_calls} if isinstance(message, AIMessage) else {}
    built = type(message)(content=message.content, **kwargs,
                          **({"id": message.id} if message.id is not None else {}))  # fmt: skip
    steps, side = message_to_steps(message)
    first, second = steps_to_message(steps, side), steps_to_message(steps, side)
    assert _pydantic_state(first) == _pydantic_state(built)
    first.additional_kwargs["k"] = 1
    first.response_metadata["k"] = 1
    getattr(first, "tool_calls", []).append({"name": "g", "args": {}, "id": "c2"})
    assert _pydantic_state(second) == _pydantic_state(built)


@pytest.mark.parametrize("packed", [pack_uuid(str(uuid.uuid4())), pack_uuid("not-a-uuid"), "=", "=" * 22,
                                    "x" * 21, "-" * 22, "6lwdZFniPvi2tvG6YSgON!", "6lwdZFniPvi2tvG6YSgONW", ""])  # fmt: skip
def test_unpacks_says_whether_unpack_uuid_decodes(packed: str) -> None:
    from interstate.langgraph._codec import unpacks

    assert unpacks(packed) == (unpack_uuid(packed) is not None)
