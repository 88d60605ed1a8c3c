"""Agents of the user's own (``agent="NAME"``) with the unmodified google-genai SDK, against
``interstate serve --agent ...`` and an embedded server started with ``agents=``: function
agents and LangGraph graphs (``tests/agent_samples.py``), foreground, streamed, background,
chained, forked, cancelled, and refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest
from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import interactions as gi

from harness import EMBEDDED_KEY, SCRIPT, ServerProcess, Target, assert_google_error, wait_until

TESTS = Path(__file__).resolve().parents[1]
ENTRIES = [
    "echo=agent_samples:echo",
    "tools=agent_samples:tools",
    "slow=agent_samples:slow",
    "broken=agent_samples:broken",
    "chat=agent_samples:chat_graph",
    "tool-graph=agent_samples:tool_graph",
    "numbers=agent_samples:number_graph",
    "slow-graph=agent_samples:slow_graph",
    "approval=agent_samples:approval_graph",
    "own-saver=agent_samples:own_checkpointer_graph",
    "team=agent_samples:counter_team",
    "asks=agent_samples:asks_the_caller",
    "bad-output=agent_samples:bad_output",
    "slow-team=agent_samples:slow_team",
]


@pytest.fixture(scope="module")
def agents_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("agents-http")
    path = os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])
    server = ServerProcess(
        db=work / "interstate.db", log=work / "server.log",
        args=["--no-auth", "--provider", "scripted", *[f"--agent={e}" for e in ENTRIES]],
        env={"PYTHONPATH": path},
    )  # fmt: skip
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def agents_embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import sys

    from interstate.server.embedded import EmbeddedServer
    from interstate.server.providers import ProviderRegistry, ScriptedProvider

    sys.path.insert(0, str(TESTS))
    scripted = ScriptedProvider({"rules": SCRIPT})
    path = tmp_path_factory.mktemp("agents-embedded") / "interstate.db"
    server = EmbeddedServer.start(
        "sqlite:///" + str(path), providers=ProviderRegistry(default=scripted), agents=ENTRIES
    )
    yield server
    server.close()


@pytest.fixture(params=["http", "embedded"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "http":
        made = Target("http", request.getfixturevalue("agents_http").base_url, "any", auth=False)
    else:
        from interstate.server.embedded import AsyncEmbeddedTransport, EmbeddedTransport

        server = request.getfixturevalue("agents_embedded")
        made = Target("embedded", "http://interstate.embedded", EMBEDDED_KEY, auth=False,
                      sync_transport=lambda: EmbeddedTransport(server),
                      async_transport=lambda: AsyncEmbeddedTransport(server))  # fmt: skip
    yield made
    made.close()


@pytest.fixture
def client(target: Target) -> genai.Client:
    return target.sdk()


def texts(interaction: Any) -> list[str]:
    return [c.text for s in interaction.steps if isinstance(s, gi.ModelOutputStep) for c in s.content or []]


# -- function agents -----------------------------------------------------------------------------


def test_a_function_agent_answers_in_the_foreground(client: genai.Client) -> None:
    created = client.interactions.create(agent="echo", input="hello")
    assert created.status == "completed"
    assert created.agent == "echo" and created.model is None
    assert created.output_text == "echo: hello (after None)"
    fetched = client.interactions.get(created.id)
    assert fetched.status == "completed" and fetched.output_text == created.output_text
    assert isinstance(fetched.steps[0], gi.UserInputStep)  # the stored timeline


def test_a_chained_agent_turn_knows_its_parent(client: genai.Client) -> None:
    first = client.interactions.create(agent="echo", input="one")
    second = client.interactions.create(agent="echo", input="two", previous_interaction_id=first.id)
    assert second.output_text == f"echo: two (after {first.id})"


def test_a_function_agent_streams_its_steps_as_typed_steps(client: genai.Client) -> None:
    events = list(client.interactions.create(agent="tools", input="q", stream=True))
    starts = [e.step.type for e in events if isinstance(e, gi.StepStart)]
    assert starts == ["thought", "function_call", "function_result", "model_output"]
    assert events[-1].event_type == "interaction.completed"
    done = client.interactions.get(events[-1].interaction.id)
    # Its own tool call is answered by its own result: the turn is complete, not requires_action.
    assert done.status == "completed" and done.output_text == "the answer is 42 (q)"
    call = next(s for s in done.steps if isinstance(s, gi.FunctionCallStep))
    assert call.name == "lookup" and call.arguments == {"q": "x"}


def test_a_background_agent_turn_completes(client: genai.Client) -> None:
    started = client.interactions.create(agent="echo", input="later", background=True)
    assert started.status in ("queued", "in_progress", "completed")
    done = wait_until(lambda: (i := client.interactions.get(started.id)).status == "completed" and i)
    assert done.output_text == "echo: later (after None)"


@pytest.mark.parametrize(
    "agent, kept", [("slow", "started"), ("slow-graph", "heard 1: go"), ("slow-team", "heard 1: go")]
)
def test_cancel_stops_a_running_agent_and_keeps_what_it_produced(
    client: genai.Client, agent: str, kept: str
) -> None:
    started = client.interactions.create(agent=agent, input="go", background=True)
    for event in client.interactions.get(started.id, stream=True):  # until its first step is out
        if isinstance(event, gi.StepStop):
            break
    cancelled = client.interactions.cancel(started.id)
    assert cancelled.status == "cancelled"
    stored = client.interactions.get(started.id)
    assert stored.status == "cancelled"
    if agent == "slow-team":
        # Known race (issue 14): a team's message streamed just before the cancel lands may not
        # be kept yet; a loaded machine shows it. Never anything else, though.
        assert texts(stored) in ([kept], [])
    else:
        assert texts(stored) == [kept]


def test_an_agent_that_raises_fails_its_turn_with_the_reason(client: genai.Client, target: Target) -> None:
    created = client.interactions.create(agent="broken", input="x")
    assert created.status == "failed"
    stored = target.raw().get(f"/v1beta/interactions/{created.id}").json()
    assert stored["status"] == "failed"
    assert "'broken'" in stored["errors"][0]["message"]
    assert "the agent broke" in stored["errors"][0]["message"]


def test_a_call_the_agent_does_not_answer_requires_action(client: genai.Client) -> None:
    asked = client.interactions.create(agent="asks", input="go")
    assert asked.status == "requires_action"
    call = asked.steps[-1]
    assert isinstance(call, gi.FunctionCallStep) and call.name == "confirm"
    answer = {"type": "function_result", "call_id": call.id, "name": "confirm", "result": "ok"}
    done = client.interactions.create(agent="asks", input=[answer], previous_interaction_id=asked.id)
    assert done.status == "completed" and done.output_text == "confirmed: ok"


def test_an_agent_producing_no_step_fails_its_turn_saying_so(target: Target) -> None:
    created = target.raw().post("/v1beta/interactions", json={"agent": "bad-output", "input": "x"}).json()
    assert created["status"] == "failed"
    assert "'bad-output'" in created["errors"][0]["message"]
    assert "not a step" in created["errors"][0]["message"]


# -- refused ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, word",
    [
        ({"agent": "nobody", "input": "x"}, 404, "nobody"),
        ({"agent": "", "input": "x"}, 400, "agent"),
        ({"agent": "echo", "model": "scripted-x", "input": "x"}, 400, "agent"),
        ({"agent": "echo", "input": "x", "store": False}, 400, "store"),
        ({"agent": "echo", "input": "x", "generation_config": {"temperature": 1}}, 400, "generation_config"),
        ({"agent": "numbers", "input": "plain text"}, 400, "json"),
        ({"agent": "approval", "input": [{"type": "function_result", "call_id": "c", "result": "yes"}]},
         400, "interrupt"),
        ({"agent": "echo", "input": "x", "agent_config": {"type": "dynamic"}}, 400, "agent_config"),
    ],
)
def test_a_refused_agent_request_is_google_shaped_and_writes_nothing(
    target: Target, body: dict[str, Any], status: int, word: str
) -> None:
    before = target.count()
    response = target.raw().post("/v1beta/interactions", json=body)
    error = assert_google_error(response, status)
    assert word.lower() in error["message"].lower(), error
    assert target.count() == before


def test_the_sdk_lists_the_agents(client: genai.Client) -> None:
    listed = client.agents.list()
    assert sorted(a.id for a in listed.agents) == sorted(e.split("=")[0] for e in ENTRIES)


def test_an_unknown_agent_is_an_sdk_error_naming_it(client: genai.Client) -> None:
    with pytest.raises(sdk_errors.APIError) as caught:
        client.interactions.create(agent="nobody", input="x")
    assert "nobody" in str(caught.value)


# -- LangGraph ----------------------------------------------------------------------------------


def test_a_langgraph_graph_takes_text_as_a_human_message(client: genai.Client) -> None:
    created = client.interactions.create(agent="chat", input="hi there")
    assert created.status == "completed" and created.output_text == "heard 1: hi there"


def test_a_continued_langgraph_turn_sees_the_thread_and_a_fork_forks_it(client: genai.Client) -> None:
    one = client.interactions.create(agent="chat", input="one")
    two = client.interactions.create(agent="chat", input="two", previous_interaction_id=one.id)
    assert two.output_text == "heard 2: one | two"
    three = client.interactions.create(agent="chat", input="three", previous_interaction_id=two.id)
    assert three.output_text == "heard 3: one | two | three"
    # From the first turn again: the thread forks there, without "two" and "three".
    fork = client.interactions.create(agent="chat", input="other", previous_interaction_id=one.id)
    assert fork.output_text == "heard 2: one | other"
    # A new chain is a new thread.
    fresh = client.interactions.create(agent="chat", input="alone")
    assert fresh.output_text == "heard 1: alone"


def test_a_graph_compiled_with_a_checkpointer_keeps_its_threads_there(
    client: genai.Client, target: Target
) -> None:
    one = client.interactions.create(agent="own-saver", input="one")
    two = client.interactions.create(agent="own-saver", input="two", previous_interaction_id=one.id)
    assert two.output_text == "heard 2: one | two"
    if target.name == "embedded":  # the saver is this process's object
        import agent_samples

        thread = {"configurable": {"thread_id": f"interstate-agent:own-saver:{one.id}"}}
        assert agent_samples.own_saver.get_tuple(thread) is not None


def test_a_langgraph_run_streams_tool_calls_and_results(client: genai.Client) -> None:
    events = list(client.interactions.create(agent="tool-graph", input="weather?", stream=True))
    starts = [e.step.type for e in events if isinstance(e, gi.StepStart)]
    assert starts == ["function_call", "function_result", "model_output"]
    done = client.interactions.get(events[-1].interaction.id)
    assert done.status == "completed" and done.output_text == "it is sunny"
    result = next(s for s in done.steps if isinstance(s, gi.FunctionResultStep))
    assert result.call_id == "tc-1" and result.name == "lookup"


def test_an_interrupt_requires_action_and_a_function_result_resumes_it(client: genai.Client) -> None:
    asked = client.interactions.create(agent="approval", input="the deploy")
    assert asked.status == "requires_action"
    call = asked.steps[-1]
    assert isinstance(call, gi.FunctionCallStep) and call.name == "interrupt"
    assert call.arguments == {"value": {"question": "approve the deploy?"}}
    answer = {"type": "function_result", "call_id": call.id, "name": "interrupt", "result": "yes"}
    resumed = client.interactions.create(agent="approval", input=[answer], previous_interaction_id=asked.id)
    assert resumed.status == "completed" and resumed.output_text == "approved: yes"
    # The same interrupt answered differently from the same turn: a fork.
    other = client.interactions.create(agent="approval", previous_interaction_id=asked.id,
                                       input=[{**answer, "result": "no"}])  # fmt: skip
    assert other.output_text == "approved: no"


def test_a_graph_without_messages_takes_a_json_object(client: genai.Client) -> None:
    created = client.interactions.create(agent="numbers", input='{"n": 21}')
    assert created.status == "completed"
    assert created.output_text == '{"n": 21, "doubled": 42}'


def test_a_background_langgraph_turn_completes(client: genai.Client) -> None:
    started = client.interactions.create(agent="chat", input="in the background", background=True)
    done = wait_until(lambda: (i := client.interactions.get(started.id)).status == "completed" and i)
    assert done.output_text == "heard 1: in the background"


def test_the_cli_lists_a_servers_agents(agents_http: ServerProcess) -> None:
    from typer.testing import CliRunner

    from interstate.cli import app as cli

    result = CliRunner().invoke(cli, ["agents", "--url", agents_http.base_url])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.splitlines()]
    assert ["chat", "langgraph"] in rows and ["echo", "function"] in rows
    assert len(rows) == len(ENTRIES)


# -- AutoGen ------------------------------------------------------------------------------------


def test_an_autogen_team_takes_the_text_as_its_task_and_streams_its_messages(client: genai.Client) -> None:
    events = list(client.interactions.create(agent="team", input="count me", stream=True))
    starts = [e.step.type for e in events if isinstance(e, gi.StepStart)]
    assert starts == ["thought", "model_output"]
    done = client.interactions.get(events[-1].interaction.id)
    assert done.status == "completed" and done.output_text == "heard 1: count me"


def test_a_continued_autogen_turn_continues_the_team_and_a_fork_forks_it(client: genai.Client) -> None:
    one = client.interactions.create(agent="team", input="one")
    two = client.interactions.create(agent="team", input="two", previous_interaction_id=one.id)
    assert two.output_text == "heard 2: one | two"
    three = client.interactions.create(agent="team", input="three", previous_interaction_id=two.id)
    assert three.output_text == "heard 3: one | two | three"
    fork = client.interactions.create(agent="team", input="other", previous_interaction_id=one.id)
    assert fork.output_text == "heard 2: one | other"
    started = client.interactions.create(agent="team", input="bg", previous_interaction_id=fork.id,
                                         background=True)  # fmt: skip
    done = wait_until(lambda: (i := client.interactions.get(started.id)).status == "completed" and i)
    assert done.output_text == "heard 3: one | other | bg"
