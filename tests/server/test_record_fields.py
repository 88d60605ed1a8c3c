"""Recorded turns' ``model`` and ``usage`` are checked in batches as on ``/record``, and JSON
bodies sent without a ``Content-Type`` are read as JSON (issue 13)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

V = "/v1beta/interstate"


def said(text: str) -> dict[str, Any]:
    return {"type": "model_output", "content": [{"type": "text", "text": text}]}


async def stored_ids(http: httpx.AsyncClient) -> list[str]:
    listed = await http.get(f"{V}/interactions")
    assert listed.status_code == 200, listed.text
    return [r["id"] for r in listed.json()["interactions"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [("model", 5), ("model", ["scripted"]), ("model", {"name": "m"}), ("model", True),
     ("usage", "10 tokens"), ("usage", [1, 2]), ("usage", 7)],
)  # fmt: skip
async def test_batch_records_need_a_string_model_and_an_object_usage(
    http: httpx.AsyncClient, field: str, value: Any
) -> None:
    good = {"id": "first", "steps": [said("ok")]}
    bad = {"id": "second", "steps": [said("x")], field: value}
    for path, body in (
        (f"{V}/batch", {"operations": [{"record": good}, {"record": bad}]}),
        (f"{V}/record", {"interactions": [good, bad]}),
    ):
        r = await http.post(path, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "INVALID_ARGUMENT"
        assert field in r.json()["error"]["message"]
    assert await stored_ids(http) == []  # the good operation before it was not written either


async def test_batch_records_keep_a_valid_model_and_usage(http: httpx.AsyncClient) -> None:
    usage = {"total_tokens": 3}
    turn = {"id": "t", "steps": [said("ok")], "model": "gpt-x", "usage": usage}
    r = await http.post(f"{V}/batch", json={"operations": [{"record": turn}]})
    assert r.status_code == 200, r.text
    stored = (await http.get(f"{V}/interactions/t")).json()
    assert (stored["model"], stored["usage"]) == ("gpt-x", usage)


async def test_json_bodies_without_a_content_type_are_json(http: httpx.AsyncClient) -> None:
    """Decision: a body with no ``Content-Type`` is read as JSON on every JSON route, as a
    ``Content-Type: application/json`` one is (the SDK always sends the header; the wire
    reference names no other media type, and ``curl --data-binary`` users get what they mean);
    a declared non-JSON type stays a 415 (``test_bad_input``)."""
    bare = {"x-goog-api-key": "key-a"}  # httpx adds no Content-Type for raw content
    create = json.dumps({"model": "scripted", "input": "hello"})
    r = await http.post("/v1beta/interactions", content=create, headers=bare)
    assert r.status_code == 200, r.text
    assert "content-type" not in r.request.headers
    created = r.json()["id"]
    record = json.dumps({"id": "rec", "steps": [said("x")]})
    assert (await http.post(f"{V}/record", content=record, headers=bare)).status_code == 200
    ops = json.dumps({"operations": [{"record": {"id": "bat", "steps": [said("y")]}}]})
    assert (await http.post(f"{V}/batch", content=ops, headers=bare)).status_code == 200
    patch = await http.patch(f"{V}/interactions/rec/metadata", content='{"k": 1}', headers=bare)
    assert patch.status_code == 200 and patch.json()["interstate"]["metadata"] == {"k": 1}
    assert sorted(await stored_ids(http)) == sorted([created, "rec", "bat"])
    # Without a Content-Type a body that is not JSON is still a 400, and writes nothing.
    for path in ("/v1beta/interactions", f"{V}/record", f"{V}/batch"):
        r = await http.post(path, content="model=scripted&input=hi", headers=bare)
        assert r.status_code == 400, r.text
        assert "not valid JSON" in r.json()["error"]["message"]
    assert len(await stored_ids(http)) == 3
