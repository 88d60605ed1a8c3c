"""Ids are unique across tenants, and a collision does not say who holds the id (issue 13).

A client-chosen id another tenant holds is answered exactly like one the caller's own tombstone
holds (an interaction deleted while it had children keeps its id), on every route that takes
client ids: ``/record`` (one turn or several), ``/batch`` and ``/import``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

V = "/v1beta/interstate"
B = {"x-goog-api-key": "key-b"}


def said(text: str) -> dict[str, Any]:
    return {"type": "model_output", "content": [{"type": "text", "text": text}]}


def export_line(interaction_id: str) -> str:
    body = {"id": interaction_id, "status": "completed", "input": [], "steps": [said("x")]}
    ext = {"kind": "record", "created": 1.0, "updated": 1.0, "metadata": {}}
    return json.dumps({"format": "interstate.export.v1", "interaction": body, "interstate": ext})


def conflict(r: httpx.Response, taken: str) -> str:
    """The 409's message with the id in it replaced, so two ids' answers compare."""
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "ALREADY_EXISTS"
    assert "tenant" not in error["message"]
    return str(error["message"]).replace(repr(taken), "<id>")


async def test_a_collision_answers_alike_whoever_holds_the_id(http: httpx.AsyncClient) -> None:
    # tenant-a holds "theirs"; tenant-b holds "mine" only as a tombstone (deleted, with a child).
    assert (await http.post(f"{V}/record", json={"id": "theirs", "steps": [said("a")]})).status_code == 200
    assert (await http.post(f"{V}/record", json={"id": "mine", "steps": [said("b")]}, headers=B)).status_code == 200
    child = {"previous_interaction_id": "mine", "steps": [said("c")]}
    assert (await http.post(f"{V}/record", json=child, headers=B)).status_code == 200
    assert (await http.delete("/v1beta/interactions/mine", headers=B)).status_code == 200
    assert (await http.get(f"{V}/interactions/mine", headers=B)).status_code == 404

    def requests(interaction_id: str) -> list[tuple[str, dict[str, Any]]]:
        turn = {"id": interaction_id, "steps": [said("b2")]}
        return [
            (f"{V}/record", {"json": turn}),
            (f"{V}/record", {"json": {"interactions": [turn]}}),
            (f"{V}/batch", {"json": {"operations": [{"record": turn}]}}),
            (f"{V}/import", {"content": export_line(interaction_id)}),
        ]

    for (path, theirs), (_, mine) in zip(requests("theirs"), requests("mine")):
        answer_theirs = conflict(await http.post(path, headers=B, **theirs), "theirs")
        answer_mine = conflict(await http.post(path, headers=B, **mine), "mine")
        assert answer_theirs == answer_mine, path
    # Nothing was written for tenant-b, and tenant-a's row is untouched.
    listed = (await http.get(f"{V}/interactions", headers=B)).json()["interactions"]
    assert [r["previous_interaction_id"] for r in listed] == ["mine"]
    theirs_row = (await http.get(f"{V}/interactions/theirs")).json()
    assert theirs_row["steps"] == [said("a")]
