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

from harness import KEY_A, KEY_B, MODEL, SMALL_BODY_BYTES, ServerProcess, Target, assert_google_error

CREATE = "/v1beta/interactions"

#: (id, body: a JSON value, or raw bytes, status, a word the message must contain)
BAD_CREATES: list[tuple[str, Any, int, str]] = [
    ("malformed-json", b'{"model": "m", "input": ', 400, "JSON"),
    ("empty-body", b"", 400, "empty"),
    ("not-utf8", b'{"model": "\xff\xfe"}', 400, "JSON"),
    ("deeply-nested", b'{"model": "m", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, ""),
    ("array-body", [1, 2, 3], 400, "object"),
    ("string-body", "hello", 400, "object"),
    ("input-number", {"model": MODEL, "input": 5}, 400, "input"),
    ("input-list-of-numbers", {"model": MODEL, "input": [5]}, 400, "input"),
    ("input-bool", {"model": MODEL, "input": True}, 400, "input"),
    ("content-not-a-list", {"model": MODEL, "input": [{"type": "user_input", "content": "x"}]}, 400, "input"),
    ("text-without-text", {"model": MODEL, "input": {"type": "text"}}, 400, "input"),
    ("tools-string", {"model": MODEL, "input": "x", "tools": "x"}, 400, "tools"),
    ("tools-list-of-strings", {"model": MODEL, "input": "x", "tools": ["x"]}, 400, "tools"),
    ("model-number", {"model": 5, "input": "x"}, 400, "model"),
    ("missing-model-and-agent", {"input": "no model"}, 400, "model"),
    ("model-and-agent", {"model": MODEL, "agent": "deep-research-pro-preview-12-2025", "input": "x"}, 400, "agent"),
    ("agent-only", {"agent": "deep-research-pro-preview-12-2025", "input": "x"}, 400, "agent"),
    ("labels-not-object", {"model": MODEL, "input": "x", "labels": "team"}, 400, "labels"),
    ("labels-uppercase-key", {"model": MODEL, "input": "x", "labels": {"Team": "a"}}, 400, "label"),
    ("labels-number-value", {"model": MODEL, "input": "x", "labels": {"team": 5}}, 400, "label"),
    ("labels-too-long", {"model": MODEL, "input": "x", "labels": {"team": "a" * 64}}, 400, "label"),
    ("previous-id-number", {"model": MODEL, "input": "x", "previous_interaction_id": 5}, 400, "previous_interaction_id"),
    ("stream-not-bool", {"model": MODEL, "input": "x", "stream": "maybe"}, 400, "stream"),
    ("background-not-bool", {"model": MODEL, "input": "x", "background": [1]}, 400, "background"),
    ("background-without-store", {"model": MODEL, "input": "x", "background": True, "store": False}, 400, "store"),
    ("generation-config-string", {"model": MODEL, "input": "x", "generation_config": "hot"}, 400, "generation_config"),
    ("max-tokens-not-int", {"model": MODEL, "input": "x", "generation_config": {"max_output_tokens": "many"}}, 400, "max_output_tokens"),
    ("system-instruction-number", {"model": MODEL, "input": "x", "system_instruction": 5}, 400, "system_instruction"),
    ("continuation-token", {"model": MODEL, "input": "x", "continuation_token": "abc"}, 400, "continuation_token"),
    ("unknown-parent", {"model": MODEL, "input": "x", "previous_interaction_id": "v1_0000nope"}, 404, "not found"),
]


def send(raw: httpx.Client, body: Any, path: str = CREATE) -> httpx.Response:
    if isinstance(body, bytes):
        return raw.post(path, content=body, headers={"content-type": "application/json"})
    return raw.post(path, json=body)


@pytest.mark.parametrize(
    "body, status, word", [c[1:] for c in BAD_CREATES], ids=[c[0] for c in BAD_CREATES]
)
def test_bad_create_is_4xx_and_writes_nothing(target: Target, body: Any, status: int, word: str) -> None:
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
    for headers in ({"x-goog-api-key": ""}, {"x-goog-api-key": "wrong"}, {"authorization": "Bearer wrong"}):
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
        {"model": MODEL, "input": "steal", "previous_interaction_id": parent_id},
        {"model": MODEL, "input": "steal", "previous_interaction_id": parent_id, "stream": True},
        {"model": MODEL, "input": "steal", "previous_interaction_id": parent_id, "background": True},
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
    line = {"format": "interstate.export.v1",
            "interaction": {"id": "imported-1", "status": "completed"},
            "interstate": {"kind": "model", "created": 1.0, "updated": 1.0}}  # fmt: skip
    for text, word in [
        (b"not json\n", "line 1"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "line 1"),
        (b"[1]\n", "format"),
        (json.dumps({**line, "format": "other"}).encode(), "format"),
        (json.dumps({**line, "interaction": 5}).encode(), "interaction"),
        (json.dumps({**line, "interaction": {"id": "has space", "status": "completed"}}).encode(), "id"),
        (json.dumps({**line, "interaction": {"id": "x1", "status": 3}}).encode(), "status"),
        (json.dumps({**line, "interaction": {"id": "x1", "status": "completed", "labels": "x"}}).encode(), "labels"),
        (json.dumps({**line, "interaction": {"id": "x1", "status": "completed", "steps": 5}}).encode(), "steps"),
        (json.dumps({**line, "interaction": {"id": "x1", "status": "completed", "previous_interaction_id": "v1_0000nope"}}).encode(), "parent"),
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
    assert_google_error(raw.patch("/v1beta/interstate/interactions/v1_0000nope/metadata", json={}), 404)
