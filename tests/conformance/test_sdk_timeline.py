"""Create vs GET (wire reference §4.3): ``create`` answers with the model's steps only; the stored
resource (``GET``) is the turn's timeline, its own input steps then the model's. The SDK's
``output_text`` is the same on both. Each test runs over HTTP and embedded (``client``)."""

from __future__ import annotations

from google import genai

from harness import MODEL, WEATHER_TOOL


def test_get_leads_with_the_turns_user_input_and_create_does_not(client: genai.Client) -> None:
    created = client.interactions.create(model=MODEL, input="think-first")
    assert [s.type for s in created.steps] == ["thought", "model_output"]
    fetched = client.interactions.get(created.id)
    assert [s.type for s in fetched.steps] == ["user_input", "thought", "model_output"]
    assert fetched.steps[0].content[0].text == "think-first"
    assert fetched.steps[1:] == created.steps
    assert fetched.output_text == created.output_text == "answer"


def test_a_chained_turns_get_holds_its_own_input_only(client: genai.Client) -> None:
    first = client.interactions.create(model=MODEL, input="which-turn one")
    second = client.interactions.create(
        model=MODEL, input="which-turn two", previous_interaction_id=first.id
    )
    fetched = client.interactions.get(second.id)
    texts = [(s.type, s.content[0].text) for s in fetched.steps]
    assert texts == [("user_input", "which-turn two"), ("model_output", "turn 1: which-turn two")]
    assert fetched.output_text == second.output_text


def test_a_function_result_turns_get_leads_with_the_result(client: genai.Client) -> None:
    asked = client.interactions.create(model=MODEL, input="weather?", tools=[WEATHER_TOOL])
    call = asked.steps[-1]
    assert call.type == "function_call"
    assert [s.type for s in client.interactions.get(asked.id).steps] == ["user_input", "function_call"]
    answered = client.interactions.create(
        model=MODEL,
        previous_interaction_id=asked.id,
        tools=[WEATHER_TOOL],
        input=[{"type": "function_result", "call_id": call.id, "name": call.name,
                "result": {"temp_c": 21}}],
    )  # fmt: skip
    fetched = client.interactions.get(answered.id)
    assert [s.type for s in fetched.steps] == ["function_result", "model_output"]
    assert fetched.output_text == answered.output_text and answered.output_text.startswith("asked")


def test_include_input_keeps_input_beside_the_timeline(client: genai.Client) -> None:
    created = client.interactions.create(model=MODEL, input="hello timeline")
    fetched = client.interactions.get(created.id, include_input=True)
    assert [s.type for s in fetched.input] == ["user_input"]
    assert fetched.steps[0] == fetched.input[0]
    assert fetched.output_text == created.output_text == "echo: hello timeline"
