"""Bad input over raw httpx: every client error is a 4xx with the Google-shaped body
``{"error": {"code", "message"}}``, a message that says what is wrong, and writes nothing.

Requests go to both targets (the embedded one through its transport, no socket) unless a case
needs the HTTP server (auth, tenants, a small ``--max-body-bytes``).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import pytest

from harness import (
    KEY_A,
    KEY_B,
    MODEL,
    SMALL_BODY_BYTES,
    ServerProcess,
    Target,
    assert_google_error,
)

CREATE = "/v1beta/interactions"

AGENT = "deep-research-pro-preview-12-2025"
NESTED = b"[" * 100_000 + b"]" * 100_000


def turn(**fields: Any) -> dict[str, Any]:
    """A valid create body with ``fields`` added or replaced."""
    return {"model": MODEL, "input": "x", **fields}


#: (id, body: a JSON value, or raw bytes, status, a word the message must contain)
BAD_CREATES: list[tuple[str, Any, int, str]] = [
    ("malformed-json", b'{"model": "m", "input": ', 400, "JSON"),
    ("empty-body", b"", 400, "empty"),
    ("not-utf8", b'{"model": "\xff\xfe"}', 400, "JSON"),
    ("deeply-nested", b'{"model": "m", "input": ' + NESTED + b"}", 400, "nested"),
    ("array-body", [1, 2, 3], 400, "object"),
    ("string-body", "hello", 400, "object"),
    ("input-number", turn(input=5), 400, "input"),
    ("input-list-of-numbers", turn(input=[5]), 400, "input"),
    ("input-bool", turn(input=True), 400, "input"),
    ("content-not-a-list", turn(input=[{"type": "user_input", "content": "x"}]), 400, "input"),
    ("text-without-text", turn(input={"type": "text"}), 400, "input"),
    ("tools-string", turn(tools="x"), 400, "tools"),
    ("tools-list-of-strings", turn(tools=["x"]), 400, "tools"),
    ("model-number", turn(model=5), 400, "model"),
    ("missing-model-and-agent", {"input": "no model"}, 400, "model"),
    ("model-and-agent", turn(agent=AGENT), 400, "agent"),
    ("unknown-agent", {"agent": AGENT, "input": "x"}, 404, "agent"),
    ("empty-agent", {"agent": "", "input": "x"}, 400, "agent"),
    ("labels-not-object", turn(labels="team"), 400, "labels"),
    ("labels-uppercase-key", turn(labels={"Team": "a"}), 400, "label"),
    ("labels-number-value", turn(labels={"team": 5}), 400, "label"),
    ("labels-too-long", turn(labels={"team": "a" * 64}), 400, "label"),
    ("previous-id-number", turn(previous_interaction_id=5), 400, "previous_interaction_id"),
    ("stream-not-bool", turn(stream="maybe"), 400, "stream"),
    ("background-not-bool", turn(background=[1]), 400, "background"),
    ("background-without-store", turn(background=True, store=False), 400, "store"),
    ("generation-config-string", turn(generation_config="hot"), 400, "generation_config"),
    ("max-tokens-not-int", turn(generation_config={"max_output_tokens": "x"}), 400, "max_output"),
    ("system-instruction-number", turn(system_instruction=5), 400, "system_instruction"),
    ("continuation-token", turn(continuation_token="abc"), 400, "continuation_token"),
    ("unknown-parent", turn(previous_interaction_id="v1_0000nope"), 404, "not found"),
]


def send(raw: httpx.Client, body: Any, path: str = CREATE) -> httpx.Response:
    if isinstance(body, bytes):
        return raw.post(path, content=body, headers={"content-type": "application/json"})
    return raw.post(path, json=body)


@pytest.mark.parametrize(
    "body, status, word", [c[1:] for c in BAD_CREATES], ids=[c[0] for c in BAD_CREATES]
)
def test_bad_create_is_4xx_and_writes_nothing(
    target: Target, body: Any, status: int, word: str
) -> None:
    raw = target.raw()
    before = target.count()
    response = send(raw, body)
    error = assert_google_error(response, status)
    assert word.lower() in error["message"].lower(), error
    # The same body as a stream request fails the same way, before any stream starts.
    if isinstance(body, dict) and "stream" not in body:
        streamed = send(raw, {**body, "stream": True})
        assert streamed.status_code == status
        assert streamed.headers["content-type"].startswith("application/json")
    assert target.count() == before


BAD_READS: list[tuple[str, str, str, int, str]] = [
    ("get-unknown", "GET", "/v1beta/interactions/v1_0000nope", 404, "not found"),
    ("stream-unknown", "GET", "/v1beta/interactions/v1_0000nope?stream=true", 404, "not found"),
    ("cancel-unknown", "POST", "/v1beta/interactions/v1_0000nope/cancel", 404, "not found"),
    ("delete-unknown", "DELETE", "/v1beta/interactions/v1_0000nope", 404, "not found"),
    ("unknown-version", "GET", "/version2/interactions/v1_x", 404, "version"),
    ("unknown-route", "GET", "/v1beta/interactionz", 404, "not found"),
    ("wrong-method", "PATCH", "/v1beta/interactions", 405, "method"),
    ("list-bad-page-size", "GET", "/v1beta/interstate/interactions?page_size=0", 400, "page_size"),
    ("list-bad-token", "GET", "/v1beta/interstate/interactions?page_token=zzz", 400, "page_token"),
    ("list-bad-label", "GET", "/v1beta/interstate/interactions?label=nocolon", 400, "label"),
]


@pytest.mark.parametrize(
    "method, path, status, word", [c[1:] for c in BAD_READS], ids=[c[0] for c in BAD_READS]
)
def test_bad_reads(target: Target, method: str, path: str, status: int, word: str) -> None:
    before = target.count()
    error = assert_google_error(target.raw().request(method, path), status)
    assert word.lower() in error["message"].lower(), error
    assert target.count() == before


@pytest.fixture
def done_id(target: Target) -> str:
    response = target.raw().post(CREATE, json={"model": MODEL, "input": "a finished turn"})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    "query, word",
    [
        ("stream=maybe", "stream"),
        ("include_input=perhaps", "include_input"),
        ("stream=true&last_event_id=garbage", "last_event_id"),
        ("stream=true&last_event_id=v1_other%3A3", "last_event_id"),
        ("stream=true&last_event_id={id}%3Aabc", "last_event_id"),
        ("last_event_id={id}%3A2", "stream"),
    ],
)
def test_bad_query_parameters(target: Target, done_id: str, query: str, word: str) -> None:
    response = target.raw().get(f"/v1beta/interactions/{done_id}?" + query.format(id=done_id))
    error = assert_google_error(response, 400)
    assert word in error["message"], error


def test_bad_record_extension(target: Target, done_id: str) -> None:
    raw, before = target.raw(), target.count()
    for body, word in [
        ({"status": "in_progress", "input": "x"}, "status"),
        ({"input": 5}, "input"),
        ({"id": "has spaces", "input": "x"}, "id"),
        ({"labels": {"Bad": "x"}, "input": "x"}, "label"),
        ({"previous_interaction_id": "v1_0000nope", "input": "x"}, "not found"),
        ({"interactions": []}, "interactions"),
        ({"interactions": [5]}, "object"),
        ({"input": "x", "steps": "x"}, "steps"),
        ({"input": "x", "usage": 5}, "usage"),
        ({"input": "x", "model": 5}, "model"),
        ({"input": "x", "metadata": [1]}, "metadata"),
        ({"input": "x", "tools": "x"}, "tools"),
        ({"input": "x", "system_instruction": 5}, "system_instruction"),
    ]:
        response = raw.post("/v1beta/interstate/record", json=body)
        error = assert_google_error(response, (400, 404))
        assert word in error["message"], error
    assert target.count() == before


# -- HTTP only: auth, tenants, body size ----------------------------------------------------


def test_unauthenticated_requests_write_nothing(http_target: Target) -> None:
    before = http_target.count()
    body = {"model": MODEL, "input": "no key"}
    for headers in (
        {"x-goog-api-key": ""}, {"x-goog-api-key": "wrong"}, {"authorization": "Bearer wrong"}
    ):
        with httpx.Client(base_url=http_target.base_url, headers=headers) as raw:
            error = assert_google_error(raw.post(CREATE, json=body), 401)
            assert error["code"] == "UNAUTHENTICATED"
            assert_google_error(raw.get("/v1beta/interstate/interactions"), 401)
    assert http_target.count() == before


def test_other_tenants_parent_is_404(http_target: Target) -> None:
    parent = http_target.raw(api_key=KEY_A).post(CREATE, json={"model": MODEL, "input": "mine"})
    assert parent.status_code == 200
    parent_id = parent.json()["id"]
    before_a, before_b = http_target.count(api_key=KEY_A), http_target.count(api_key=KEY_B)
    theirs = http_target.raw(api_key=KEY_B)
    for body in (
        turn(previous_interaction_id=parent_id),
        turn(previous_interaction_id=parent_id, stream=True),
        turn(previous_interaction_id=parent_id, background=True),
    ):
        error = assert_google_error(theirs.post(CREATE, json=body), 404)
        assert parent_id in error["message"]
    record = theirs.post(
        "/v1beta/interstate/record", json={"input": "x", "previous_interaction_id": parent_id}
    )
    assert_google_error(record, 404)
    assert_google_error(theirs.get(f"/v1beta/interstate/interactions/{parent_id}/chain"), 404)
    assert_google_error(
        theirs.patch(f"/v1beta/interstate/interactions/{parent_id}/metadata", json={"a": 1}), 404
    )
    assert http_target.count(api_key=KEY_A) == before_a
    assert http_target.count(api_key=KEY_B) == before_b


@pytest.fixture
def small(small_body_server: ServerProcess) -> Iterator[Target]:
    made = Target("http-small", small_body_server.base_url, KEY_A, auth=True)
    yield made
    made.close()


def test_oversized_body_is_413(small: Target) -> None:
    raw, before = small.raw(), small.count()
    fits = {"model": MODEL, "input": "x" * (SMALL_BODY_BYTES // 2)}
    assert raw.post(CREATE, json=fits).status_code == 200
    before += 1
    big = {"model": MODEL, "input": "x" * (SMALL_BODY_BYTES * 4)}
    error = assert_google_error(raw.post(CREATE, json=big), 413)
    assert str(SMALL_BODY_BYTES) in error["message"]
    # Without a Content-Length (chunked), the limit still holds while reading.
    payload = json.dumps(big).encode()
    chunks = (payload[i : i + 512] for i in range(0, len(payload), 512))
    response = raw.post(CREATE, content=chunks, headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_google_error(response, 413)
    assert small.count() == before


def test_bad_import_extension(target: Target) -> None:
    raw, before = target.raw(), target.count()

    def line(**interaction: Any) -> bytes:
        return json.dumps({
            "format": "interstate.export.v1",
            "interaction": {"id": "imported-1", "status": "completed", **interaction},
            "interstate": {"kind": "model", "created": 1.0, "updated": 1.0},
        }).encode()  # fmt: skip

    for text, word in [
        (b"not json\n", "line 1"),
        (NESTED + b"\n", "line 1"),
        (b"[1]\n", "format"),
        (line().replace(b"interstate.export.v1", b"other"), "format"),
        (b'{"format": "interstate.export.v1", "interaction": 5, "interstate": {}}', "interaction"),
        (line(id="has space"), "id"),
        (line(status=3), "status"),
        (line(labels="x"), "labels"),
        (line(steps=5), "steps"),
        (line(previous_interaction_id="v1_0000nope"), "parent"),
        (b"\xff\xfe\n", "UTF-8"),
    ]:
        response = raw.post("/v1beta/interstate/import", content=text)
        error = assert_google_error(response, 400)
        assert word in error["message"], error
    assert target.count() == before


def test_bad_metadata_patch(target: Target, done_id: str) -> None:
    raw = target.raw()
    path = f"/v1beta/interstate/interactions/{done_id}/metadata"
    for body, status in ((b"[1]", 400), (b"nope", 400), (b"", 400)):
        assert_google_error(raw.patch(path, content=body), status)
    unknown = "/v1beta/interstate/interactions/v1_0000nope/metadata"
    assert_google_error(raw.patch(unknown, json={}), 404)
