"""The unmodified google-genai SDK (sync ``client.interactions``) against interstate.

Each test runs against the HTTP server and the embedded server (the ``target`` fixture).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import interactions as gi

from harness import (
    FOX,
    KEY_B,
    MODEL,
    STREAM_SHAPE,
    TERMINAL,
    WEATHER_TOOL,
    Target,
    delta_text,
    event_names,
    wait_until,
)


# -- create: every input shape ---------------------------------------------------------------


def test_create_string_input(client: genai.Client) -> None:
    created = client.interactions.create(model=MODEL, input="hello there")
    assert created.status == "completed"
    assert created.id.startswith("v1_")
    assert created.model == MODEL
    assert created.output_text == "echo: hello there"
    assert isinstance(created.steps[-1], gi.ModelOutputStep)
    assert created.usage is not None and created.usage.total_tokens > 0
    fetched = client.interactions.get(created.id)
    assert fetched.id == created.id
    assert fetched.status == "completed"
    assert fetched.output_text == "echo: hello there"
    assert fetched.created == created.created


def test_create_single_content_object(client: genai.Client) -> None:
    block = {"type": "text", "text": "single block"}
    as_dict = client.interactions.create(model=MODEL, input=block)
    assert as_dict.output_text == "echo: single block"
    typed = client.interactions.create(model=MODEL, input=gi.TextContent(text="typed block"))
    assert typed.output_text == "echo: typed block"


def test_create_list_of_content(client: genai.Client) -> None:
    # Dicts: the SDK wraps them into one user_input step.
    dicts = client.interactions.create(
        model=MODEL, input=[{"type": "text", "text": "part one, "}, {"text": "part two"}]
    )
    assert dicts.output_text == "echo: part one, part two"
    # Typed content objects go out as a bare content array, which the server must accept too.
    typed = client.interactions.create(
        model=MODEL, input=[gi.TextContent(text="typed one, "), gi.TextContent(text="typed two")]
    )
    assert typed.output_text == "echo: typed one, typed two"
    stored = client.interactions.get(typed.id, include_input=True)
    assert [s.type for s in stored.input] == ["user_input"]
    assert [c.text for c in stored.input[0].content] == ["typed one, ", "typed two"]


def test_create_list_of_steps(client: genai.Client) -> None:
    one = client.interactions.create(
        model=MODEL,
        input=[{"type": "user_input", "content": [{"type": "text", "text": "from steps"}]}],
    )
    assert one.output_text == "echo: from steps"
    typed = client.interactions.create(
        model=MODEL, input=[gi.UserInputStep(content=[gi.TextContent(text="typed step")])]
    )
    assert typed.output_text == "echo: typed step"
    # Stateless history (store-less style): the latest user turn is the one answered.
    history = client.interactions.create(
        model=MODEL,
        input=[
            {"type": "user_input", "content": [{"type": "text", "text": "first question"}]},
            {"type": "model_output", "content": [{"type": "text", "text": "first answer"}]},
            {"type": "user_input", "content": [{"type": "text", "text": "second question"}]},
        ],
    )
    assert history.output_text == "echo: second question"
    stored = client.interactions.get(history.id, include_input=True)
    assert [s.type for s in stored.input] == ["user_input", "model_output", "user_input"]


def test_unicode_and_large_input(client: genai.Client) -> None:
    text = "héllo wörld 🌍 中文 \u2028 \"quoted\" \\ end"
    created = client.interactions.create(model=MODEL, input=text)
    assert created.output_text == f"echo: {text}"
    assert client.interactions.get(created.id).output_text == f"echo: {text}"
    large = "x" * 200_000
    assert client.interactions.create(model=MODEL, input=large).output_text == f"echo: {large}"


def test_get_include_input(client: genai.Client) -> None:
    created = client.interactions.create(model=MODEL, input="keep my input")
    plain = client.interactions.get(created.id)
    assert plain.input is None
    with_input = client.interactions.get(created.id, include_input=True)
    assert len(with_input.input) == 1
    step = with_input.input[0]
    assert isinstance(step, gi.UserInputStep)
    assert [c.text for c in step.content] == ["keep my input"]
    assert with_input.output_text == "echo: keep my input"


def test_default_and_per_call_api_versions(target: Target) -> None:
    default = target.sdk(api_version=None)  # the SDK's default path version is v1
    created = default.interactions.create(model=MODEL, input="on v1")
    assert created.output_text == "echo: on v1"
    # The same store answers every version.
    versioned = target.sdk()
    assert versioned.interactions.get(created.id).output_text == "echo: on v1"
    alpha = versioned.interactions.create(model=MODEL, input="on v1alpha", api_version="v1alpha")
    assert alpha.output_text == "echo: on v1alpha"


# -- chains and forks -----------------------------------------------------------------------


def test_multi_turn_chain(client: genai.Client) -> None:
    first = client.interactions.create(model=MODEL, input="which-turn alpha")
    assert first.output_text == "turn 0: which-turn alpha"
    assert first.previous_interaction_id is None
    second = client.interactions.create(
        model=MODEL, input="which-turn beta", previous_interaction_id=first.id
    )
    assert second.output_text == "turn 1: which-turn beta"
    assert second.previous_interaction_id == first.id
    third = client.interactions.create(
        model=MODEL, input="which-turn gamma", previous_interaction_id=second.id
    )
    # A rule matching only the third turn of a chain fired.
    assert third.output_text == "third turn exactly"
    # The model was shown the history: the same input as a fresh root costs fewer input tokens.
    fresh = client.interactions.create(model=MODEL, input="which-turn gamma")
    assert fresh.output_text == "turn 0: which-turn gamma"
    assert third.usage.total_input_tokens > second.usage.total_input_tokens
    assert second.usage.total_input_tokens > fresh.usage.total_input_tokens
    assert client.interactions.get(third.id).previous_interaction_id == second.id


def test_fork(target: Target, client: genai.Client) -> None:
    parent = client.interactions.create(model=MODEL, input="which-turn root")
    left = client.interactions.create(
        model=MODEL, input="which-turn left", previous_interaction_id=parent.id
    )
    right = client.interactions.create(
        model=MODEL, input="which-turn right", previous_interaction_id=parent.id
    )
    assert left.id != right.id
    assert left.previous_interaction_id == right.previous_interaction_id == parent.id
    assert left.output_text == "turn 1: which-turn left"
    assert right.output_text == "turn 1: which-turn right"
    # Each branch continues on its own; the parent is unchanged.
    deeper = client.interactions.create(
        model=MODEL, input="which-turn deeper", previous_interaction_id=left.id
    )
    assert deeper.output_text == "third turn exactly"
    assert client.interactions.get(parent.id).output_text == "turn 0: which-turn root"
    # The chain extension shows each branch's own path.
    chain = target.raw().get(f"/v1beta/interstate/interactions/{right.id}/chain").json()
    assert [i["id"] for i in chain["interactions"]] == [parent.id, right.id]
    chain = target.raw().get(f"/v1beta/interstate/interactions/{deeper.id}/chain").json()
    assert [i["id"] for i in chain["interactions"]] == [parent.id, left.id, deeper.id]


# -- streaming --------------------------------------------------------------------------------


def test_streaming_create(client: genai.Client) -> None:
    events = list(client.interactions.create(model=MODEL, input="chunk-me please", stream=True))
    assert STREAM_SHAPE.match(event_names(events)), event_names(events)
    deltas = [e for e in events if isinstance(e, gi.StepDelta)]
    assert len(deltas) > 3
    created, completed = events[0], events[-1]
    assert created.interaction.status == "in_progress"
    assert completed.interaction.status == "completed"
    assert completed.interaction.id == created.interaction.id
    assert events[1].status == "in_progress" and events[-2].status == "completed"
    ids = [e.event_id for e in events]
    assert all(ids) and len(set(ids)) == len(ids)
    fetched = client.interactions.get(created.interaction.id)
    assert delta_text(events) == fetched.output_text == FOX


def test_streaming_create_with_thought(client: genai.Client) -> None:
    events = list(client.interactions.create(model=MODEL, input="think-first", stream=True))
    starts = [e.step.type for e in events if isinstance(e, gi.StepStart)]
    assert starts == ["thought", "model_output"]
    assert delta_text(events) == "answer"
    fetched = client.interactions.get(events[0].interaction.id)
    assert [s.type for s in fetched.steps] == ["user_input", "thought", "model_output"]
    assert fetched.output_text == "answer"


def test_streaming_get_replays_and_resumes(client: genai.Client) -> None:
    original = list(client.interactions.create(model=MODEL, input="chunk-me again", stream=True))
    interaction_id = original[0].interaction.id
    replay = list(client.interactions.get(interaction_id, stream=True))
    assert [e.event_id for e in replay] == [e.event_id for e in original]
    assert event_names(replay) == event_names(original)
    for cut in (1, 3, len(replay) - 2):
        rest = list(
            client.interactions.get(interaction_id, stream=True, last_event_id=replay[cut].event_id)
        )
        assert [e.event_id for e in rest] == [e.event_id for e in replay[cut + 1 :]]
    # Resuming after the last event yields nothing more.
    assert list(
        client.interactions.get(interaction_id, stream=True, last_event_id=replay[-1].event_id)
    ) == []


def test_streaming_get_resume_while_running(client: genai.Client) -> None:
    started = client.interactions.create(model=MODEL, input="trickle", background=True)
    seen: list[Any] = []
    stream = client.interactions.get(started.id, stream=True)
    for event in stream:
        seen.append(event)
        if len(seen) == 5:
            break
    stream.close()
    rest = list(client.interactions.get(started.id, stream=True, last_event_id=seen[-1].event_id))
    ids = [e.event_id for e in seen + rest]
    assert len(ids) == len(set(ids)), "events were repeated after resuming"
    assert STREAM_SHAPE.match(event_names(seen + rest)), event_names(seen + rest)
    assert delta_text(seen + rest) == "abcdefghijklmnopqrstuvwxyz"
    full = list(client.interactions.get(started.id, stream=True))
    assert [e.event_id for e in full] == ids


# -- function calling -------------------------------------------------------------------------


def test_function_calling_round_trip(client: genai.Client) -> None:
    asked = client.interactions.create(
        model=MODEL, input="What is the weather in Paris?", tools=[WEATHER_TOOL]
    )
    assert asked.status == "requires_action"
    call = asked.steps[-1]
    assert isinstance(call, gi.FunctionCallStep)
    assert call.name == "get_weather"
    assert call.arguments == {"city": "Paris"}
    assert call.id
    assert not asked.output_text
    answered = client.interactions.create(
        model=MODEL,
        previous_interaction_id=asked.id,
        tools=[WEATHER_TOOL],
        input=[
            {
                "type": "function_result",
                "call_id": call.id,
                "name": "get_weather",
                "result": {"temp_c": 21, "sky": "sunny"},
            }
        ],
    )
    assert answered.status == "completed"
    # {input} came from the previous turn (history); {result} from this turn's function result.
    result = json.dumps({"sky": "sunny", "temp_c": 21})
    assert answered.output_text == f"asked What is the weather in Paris?; got {result}"
    stored = client.interactions.get(answered.id, include_input=True)
    assert stored.input[0].type == "function_result"
    assert stored.input[0].call_id == call.id


def test_function_call_streamed(client: genai.Client) -> None:
    events = list(
        client.interactions.create(
            model=MODEL, input="weather please", tools=[WEATHER_TOOL], stream=True
        )
    )
    starts = [e for e in events if isinstance(e, gi.StepStart)]
    assert len(starts) == 1 and isinstance(starts[0].step, gi.FunctionCallStep)
    assert starts[0].step.arguments == {"city": "Paris"}
    assert events[-1].interaction.status == "requires_action"


# -- background, cancel, delete ---------------------------------------------------------------


def test_background_poll_until_completed(client: genai.Client) -> None:
    started = client.interactions.create(model=MODEL, input="bg job", background=True)
    assert started.status in ("queued", "in_progress")
    done = wait_until(
        lambda: (i := client.interactions.get(started.id)).status in TERMINAL and i
    )
    assert done.status == "completed"
    assert done.output_text == "echo: bg job"


def test_background_cancel(client: genai.Client) -> None:
    started = client.interactions.create(model=MODEL, input="slow-please", background=True)
    wait_until(lambda: client.interactions.get(started.id).status == "in_progress")
    cancelled = client.interactions.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert client.interactions.get(started.id).status == "cancelled"
    events = list(client.interactions.get(started.id, stream=True))
    assert isinstance(events[-1], gi.InteractionCompletedEvent)
    assert events[-1].interaction.status == "cancelled"
    # A cancelled turn cannot be cancelled again.
    with pytest.raises(sdk_errors.BadRequestError):
        client.interactions.cancel(started.id)


def test_continue_running_parent_is_400(target: Target, client: genai.Client) -> None:
    parent = client.interactions.create(model=MODEL, input="slow-please parent", background=True)
    before = target.count()
    with pytest.raises(sdk_errors.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input="too soon", previous_interaction_id=parent.id)
    assert "wait until it finishes" in caught.value.body["error"]["message"]
    assert target.count() == before
    assert client.interactions.cancel(parent.id).status == "cancelled"


def test_cancel_completed_is_400(client: genai.Client) -> None:
    done = client.interactions.create(model=MODEL, input="already done")
    with pytest.raises(sdk_errors.BadRequestError) as caught:
        client.interactions.cancel(done.id)
    assert caught.value.status_code == 400
    assert "completed" in caught.value.body["error"]["message"]
    assert client.interactions.get(done.id).status == "completed"


def test_delete_then_get_is_404(client: genai.Client) -> None:
    created = client.interactions.create(model=MODEL, input="delete me")
    assert client.interactions.delete(created.id) is None
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.get(created.id)
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.delete(created.id)
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.cancel(created.id)
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.create(model=MODEL, input="child", previous_interaction_id=created.id)


def test_delete_parent_keeps_children(client: genai.Client) -> None:
    parent = client.interactions.create(model=MODEL, input="which-turn parent")
    child = client.interactions.create(
        model=MODEL, input="which-turn child", previous_interaction_id=parent.id
    )
    client.interactions.delete(parent.id)
    assert client.interactions.get(child.id).output_text == "turn 1: which-turn child"
    grandchild = client.interactions.create(
        model=MODEL, input="which-turn grandchild", previous_interaction_id=child.id
    )
    assert grandchild.status == "completed"


# -- request options ------------------------------------------------------------------------


def test_labels_echoed(target: Target, client: genai.Client) -> None:
    labels = {"team": "conformance", "run": "sync-1", "empty": ""}
    created = client.interactions.create(model=MODEL, input="labelled", labels=labels)
    assert created.labels == labels
    assert client.interactions.get(created.id).labels == labels
    listed = target.raw().get(
        "/v1beta/interstate/interactions", params={"label": "run:sync-1"}
    ).json()
    assert [i["id"] for i in listed["interactions"]] == [created.id]


def test_store_false(target: Target, client: genai.Client) -> None:
    before = target.count()
    ephemeral = client.interactions.create(model=MODEL, input="ephemeral", store=False)
    assert ephemeral.status == "completed"
    assert ephemeral.output_text == "echo: ephemeral"
    streamed = list(
        client.interactions.create(model=MODEL, input="chunk-me unstored", store=False, stream=True)
    )
    assert STREAM_SHAPE.match(event_names(streamed))
    assert delta_text(streamed) == FOX
    assert target.count() == before
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.get(ephemeral.id)
    with pytest.raises(sdk_errors.NotFoundError) as caught:
        client.interactions.create(model=MODEL, input="next", previous_interaction_id=ephemeral.id)
    assert caught.value.status_code == 404
    assert "store=false" in caught.value.body["error"]["message"]
    assert target.count() == before


def test_config_echoed_per_turn(client: genai.Client) -> None:
    lookup = {
        "type": "function",
        "name": "lookup",
        "description": "Look something up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    first = client.interactions.create(
        model=MODEL,
        input="configured",
        system_instruction="Be terse.",
        tools=[lookup],
        generation_config={"max_output_tokens": 128, "seed": 7, "stop_sequences": ["END"]},
    )
    for seen in (first, client.interactions.get(first.id)):
        assert seen.system_instruction == "Be terse."
        assert [t.name for t in seen.tools] == ["lookup"]
        assert seen.generation_config.stop_sequences == ["END"]
        assert seen.generation_config.max_output_tokens == 128
        assert seen.generation_config.seed == 7
    second = client.interactions.create(
        model=MODEL, input="reconfigured", previous_interaction_id=first.id,
        system_instruction="Be verbose.",
    )  # fmt: skip
    assert second.system_instruction == "Be verbose."
    assert second.tools is None and second.generation_config is None
    third = client.interactions.create(model=MODEL, input="bare", previous_interaction_id=second.id)
    assert third.system_instruction is None
    # The earlier turns keep their own configuration.
    assert client.interactions.get(first.id).system_instruction == "Be terse."


# -- errors -----------------------------------------------------------------------------------


def test_unknown_id_is_404(client: genai.Client) -> None:
    for call in (client.interactions.get, client.interactions.cancel, client.interactions.delete):
        with pytest.raises(sdk_errors.NotFoundError) as caught:
            call("v1_0000doesnotexist")
        assert caught.value.status_code == 404
        assert caught.value.body["error"]["code"] == "NOT_FOUND"


def test_invalid_labels_is_400(target: Target, client: genai.Client) -> None:
    before = target.count()
    for labels in (
        {"Bad Key": "x"}, {"team": "UPPER"}, {"1starts-with-digit": "x"}, {"k": "v" * 64}
    ):
        with pytest.raises(sdk_errors.BadRequestError) as caught:
            client.interactions.create(model=MODEL, input="bad labels", labels=labels)
        assert "label" in caught.value.body["error"]["message"]
    assert target.count() == before


def test_missing_model_and_agent_is_400(target: Target) -> None:
    before = target.count()
    response = target.raw().post("/v1beta/interactions", json={"input": "no model"})
    assert response.status_code == 400
    assert "model" in response.json()["error"]["message"]
    assert target.count() == before


def test_unknown_version_and_route(target: Target, client: genai.Client) -> None:
    with pytest.raises(sdk_errors.NotFoundError) as caught:
        client.interactions.create(model=MODEL, input="x", api_version="not-a-version")
    assert "version" in caught.value.body["error"]["message"]
    raw = target.raw()
    response = raw.get("/v1beta/no-such-route")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    response = raw.put("/v1beta/interactions", json={"model": MODEL})
    assert response.status_code == 405 and "error" in response.json()


def test_rate_limit_from_provider(client: genai.Client) -> None:
    with pytest.raises(sdk_errors.RateLimitError) as caught:
        client.interactions.create(model=MODEL, input="rate-limit-me now")
    assert caught.value.status_code == 429
    assert caught.value.body["error"]["message"] == "slow down"
    assert caught.value.response.headers.get("retry-after") == "0"
    # Streamed, the same failure arrives as an error event at the end of a 200 stream.
    events = list(
        client.interactions.create(model=MODEL, input="rate-limit-me stream", stream=True)
    )
    assert isinstance(events[-1], gi.ErrorEvent)
    assert events[-1].error.message == "slow down"
    # In the background, the turn fails and says why.
    started = client.interactions.create(model=MODEL, input="rate-limit-me later", background=True)
    failed = wait_until(
        lambda: (i := client.interactions.get(started.id)).status in TERMINAL and i
    )
    assert failed.status == "failed"
    assert [(e.code, e.message) for e in failed.errors] == [("RESOURCE_EXHAUSTED", "slow down")]


def test_wrong_or_missing_key_is_401(http_target: Target) -> None:
    wrong = http_target.sdk(api_key="not-a-key")
    with pytest.raises(sdk_errors.AuthenticationError) as caught:
        wrong.interactions.create(model=MODEL, input="x")
    assert caught.value.status_code == 401
    with pytest.raises(sdk_errors.AuthenticationError):
        wrong.interactions.get("v1_anything")
    response = http_target.raw(headers={"x-goog-api-key": ""}).post(
        "/v1beta/interactions", json={"model": MODEL, "input": "x"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


def test_other_tenant_sees_404(http_target: Target) -> None:
    mine = http_target.sdk()
    theirs = http_target.sdk(api_key=KEY_B)
    created = mine.interactions.create(model=MODEL, input="tenant a secret")
    before_b = http_target.count(api_key=KEY_B)
    with pytest.raises(sdk_errors.NotFoundError):
        theirs.interactions.get(created.id)
    with pytest.raises(sdk_errors.NotFoundError):
        theirs.interactions.get(created.id, stream=True)
    with pytest.raises(sdk_errors.NotFoundError):
        theirs.interactions.cancel(created.id)
    with pytest.raises(sdk_errors.NotFoundError):
        theirs.interactions.delete(created.id)
    with pytest.raises(sdk_errors.NotFoundError):
        theirs.interactions.create(model=MODEL, input="steal", previous_interaction_id=created.id)
    assert http_target.count(api_key=KEY_B) == before_b
    # Tenant A still has it, untouched.
    assert mine.interactions.get(created.id).output_text == "echo: tenant a secret"
