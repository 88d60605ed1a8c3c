"""Extension: ``interstate_quote`` input blocks — text an earlier interaction holds, by reference.

Over HTTP (the app and service) with a provider that records what the model was given, and with
the official SDK as the client of an embedded server (the quote is an extra content block).
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import httpx
import pytest

from interstate.types.extensions import quote

from .recording_app import recording_app
from .test_service import RecordingProvider

#: Each reply is fixed, so quotes have known text to slice.
RULES = [
    {"when": {"contains": "first"}, "reply": {"text": "The answer is 42, said Deep Thought."}},
    {"when": {"contains": "slow"}, "reply": {"text": "late", "delay": 30}},
]
ANSWER = "The answer is 42, said Deep Thought."


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingProvider]]:
    async with recording_app(db_url, RULES) as pair:
        yield pair


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1beta/interactions", json={"model": "m", **body})


async def first(client: httpx.AsyncClient) -> str:
    response = await post(client, {"input": "first question"})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def count(client: httpx.AsyncClient) -> int:
    page = await client.get("/v1beta/interstate/interactions", params={"page_size": 1000})
    return len(page.json()["interactions"])


async def test_a_quote_becomes_the_text_it_names_joined_to_its_neighbours(app: Any) -> None:
    client, provider = app
    source = await first(client)
    response = await post(client, {"input": [
        {"type": "text", "text": "Context: "},
        quote(source, 14, 16),
        {"type": "text", "text": ". And the whole: "},
        quote(source),
    ]})  # fmt: skip
    assert response.status_code == 200, response.text
    expected = [{"type": "user_input", "content": [
        {"type": "text", "text": f"Context: 42. And the whole: {ANSWER}"}
    ]}]  # fmt: skip
    assert provider.turns[-1].input == expected
    stored = await client.get(f"/v1beta/interactions/{response.json()['id']}",
                              params={"include_input": "true"})  # fmt: skip
    assert stored.json()["input"] == expected


async def test_quotes_work_in_steps_and_chained_turns_and_leave_other_blocks_alone(app: Any) -> None:
    client, provider = app
    source = await first(client)
    image = {"type": "image", "data": "aGk=", "mime_type": "image/png"}
    response = await post(client, {
        "previous_interaction_id": source,
        "input": [{"type": "user_input", "content": [
            {"type": "text", "text": "a"}, {"type": "text", "text": "b"}, quote(source, 0, 3), image,
            quote(source, 4, 10),
        ]}],
    })  # fmt: skip
    assert response.status_code == 200, response.text
    assert provider.turns[-1].input[0]["content"] == [
        {"type": "text", "text": "a"}, {"type": "text", "text": "bThe"}, image,
        {"type": "text", "text": "answer"},
    ]  # fmt: skip
    assert provider.turns[-1].history[-1]["content"] == [{"type": "text", "text": ANSWER}]


@pytest.mark.parametrize(
    ("block", "status", "code", "words"),
    [
        ({"type": "interstate_quote"}, 400, "INVALID_ARGUMENT", "names a stored interaction"),
        ({"type": "interstate_quote", "interaction_id": ""}, 400, "INVALID_ARGUMENT",
         "names a stored interaction"),
        ({"type": "interstate_quote", "interaction_id": "v1_nope"}, 404, "NOT_FOUND", "not found"),
        # well formed, but the quoted text is shorter: the state of another interaction
        ({"type": "interstate_quote", "interaction_id": "SOURCE", "end": 999}, 400,
         "FAILED_PRECONDITION", "do not fit"),
        ({"type": "interstate_quote", "interaction_id": "SOURCE", "start": 5, "end": 2}, 400,
         "FAILED_PRECONDITION", "do not fit"),
        ({"type": "interstate_quote", "interaction_id": "SOURCE", "start": "1"}, 400,
         "INVALID_ARGUMENT", "expected an integer >= 0"),
        ({"type": "interstate_quote", "interaction_id": "SOURCE", "start": -1}, 400,
         "INVALID_ARGUMENT", "expected an integer >= 0"),
        ({"type": "interstate_quote", "interaction_id": "SOURCE", "text": "x"}, 400,
         "INVALID_ARGUMENT", 'Unknown name "text"'),
    ],
)  # fmt: skip
async def test_bad_quotes_are_4xx_and_write_nothing(
    app: Any, block: dict[str, Any], status: int, code: str, words: str
) -> None:
    client, _ = app
    source = await first(client)
    block = {k: (source if v == "SOURCE" else v) for k, v in block.items()}
    before = await count(client)
    response = await post(client, {"input": [{"type": "text", "text": "x"}, block]})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"]
    assert await count(client) == before


async def test_a_running_or_deleted_interaction_cannot_be_quoted(app: Any) -> None:
    client, _ = app
    running = (await post(client, {"input": "slow", "background": True})).json()["id"]
    response = await post(client, {"input": [quote(running)]})
    assert response.status_code == 400 and "still" in response.json()["error"]["message"]
    await client.post(f"/v1beta/interactions/{running}/cancel")
    source = await first(client)
    assert (await client.delete(f"/v1beta/interactions/{source}")).status_code == 200
    response = await post(client, {"input": [quote(source)]})
    assert response.status_code == 404


async def test_another_tenants_interaction_cannot_be_quoted(http: httpx.AsyncClient) -> None:
    created = await http.post("/v1beta/interactions", json={"model": "scripted", "input": "hi"})
    source = created.json()["id"]
    response = await http.post(
        "/v1beta/interactions", json={"model": "scripted", "input": [quote(source)]},
        headers={"x-goog-api-key": "key-b"},
    )  # fmt: skip
    assert response.status_code == 404
    same_tenant = await http.post(
        "/v1beta/interactions", json={"model": "scripted", "input": [quote(source)]}
    )  # fmt: skip
    assert same_tenant.status_code == 200
    assert same_tenant.json()["steps"][-1]["content"][0]["text"] == "echo: echo: hi"


def test_the_official_sdk_can_send_a_quote_to_an_embedded_server(tmp_path: Any) -> None:
    from google import genai
    from google.genai import types as genai_types

    from interstate.server.embedded import EmbeddedServer, EmbeddedTransport

    server = EmbeddedServer.start(f"sqlite:///{tmp_path}/q.db")
    try:
        sdk = genai.Client(api_key="k", http_options=genai_types.HttpOptions(
            base_url="http://embedded", httpx_client=httpx.Client(transport=EmbeddedTransport(server))
        ))  # fmt: skip
        source = sdk.interactions.create(model="scripted", input="hello")
        turn = sdk.interactions.create(
            model="scripted", input=[{"type": "text", "text": "> "}, quote(source.id)]
        )
        assert turn.output_text == "echo: > echo: hello"
    finally:
        server.close()


def test_interstates_own_client_sends_a_quote_alone_as_the_input(tmp_path: Any) -> None:
    from interstate.client import Client

    with Client.from_url(f"sqlite:///{tmp_path}/c.db") as client:
        source = client.interactions.create(model="scripted", input="hello")
        turn = client.interactions.create(model="scripted", input=[quote(source.id, 6)])
        assert turn.output_text == "echo: hello"
