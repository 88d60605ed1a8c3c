"""interstate extensions over HTTP: record, list, chain, metadata, export/import, tenancy."""

from __future__ import annotations

from typing import Any

import httpx

from interstate.server.app import create_app
from interstate.server.service import InteractionService

from .conftest import registry

V = "/v1beta/interstate"


def user(text: str) -> dict[str, Any]:
    return {"type": "user_input", "content": [{"type": "text", "text": text}]}


def said(text: str) -> dict[str, Any]:
    return {"type": "model_output", "content": [{"type": "text", "text": text}]}


async def test_record_turn_is_a_standard_interaction(http: httpx.AsyncClient) -> None:
    r = await http.post(f"{V}/record", json={
        "model": "langgraph", "input": "hi", "steps": [said("hello")],
        "labels": {"thread": "t1"}, "metadata": {"checkpoint_id": "c1"},
    })  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and body["model"] == "langgraph"
    assert body["interstate"]["kind"] == "record" and body["interstate"]["metadata"] == {"checkpoint_id": "c1"}
    got = (await http.get(f"/v1beta/interactions/{body['id']}", params={"include_input": "true"})).json()
    assert "interstate" not in got  # standard responses carry no extension fields
    assert got["input"] == [user("hi")] and got["steps"] == [user("hi"), said("hello")]
    # A model turn can continue a recorded chain.
    nxt = await http.post("/v1beta/interactions", json={
        "model": "scripted", "input": "again", "previous_interaction_id": body["id"]})
    assert nxt.status_code == 200 and nxt.json()["steps"] == [said("echo: again")]


async def test_batch_record_with_client_ids_is_idempotent(http: httpx.AsyncClient) -> None:
    batch = {"interactions": [
        {"id": "cp-1", "input": [user("a")], "steps": [said("b")]},
        {"id": "cp-2", "previous_interaction_id": "cp-1", "input": [user("c")]},
    ]}  # fmt: skip
    first = await http.post(f"{V}/record", json=batch)
    assert first.status_code == 200, first.text
    assert [b["interstate"]["depth"] for b in first.json()["interactions"]] == [0, 1]
    again = await http.post(f"{V}/record", json=batch)
    assert again.status_code == 200
    clash = await http.post(f"{V}/record", json={"id": "cp-1", "input": [user("different")]})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "ALREADY_EXISTS"


async def test_record_rejects_bad_turns_and_writes_nothing(http: httpx.AsyncClient) -> None:
    bad = [
        {"status": "in_progress"},
        {"input": 5},
        {"steps": [{"type": "function_call"}]},  # id/name/arguments missing
        {"labels": {"UPPER": "x"}},
        {"previous_interaction_id": "nope"},
        {"id": "has space"},
        {"interactions": []},
        {"interactions": [{"id": "ok-1"}, {"id": "ok-2", "previous_interaction_id": "missing"}]},
    ]
    for body in bad:
        r = await http.post(f"{V}/record", json=body)
        assert 400 <= r.status_code < 500 and r.json()["error"]["message"], (body, r.text)
    listed = (await http.get(f"{V}/interactions")).json()
    assert listed["interactions"] == []


async def test_list_filters_pages_and_chain(http: httpx.AsyncClient) -> None:
    ids = []
    parent = None
    for i in range(5):
        r = await http.post(f"{V}/record", json={
            "input": f"m{i}", "previous_interaction_id": parent,
            "labels": {"thread": "a" if i < 3 else "b"}, "metadata": {"step": i, "final": i == 4},
        })  # fmt: skip
        parent = r.json()["id"]
        ids.append(parent)
    page = (await http.get(f"{V}/interactions", params={"label": "thread:a", "page_size": 2})).json()
    assert [b["id"] for b in page["interactions"]] == [ids[2], ids[1]]
    rest = (await http.get(f"{V}/interactions", params={
        "label": "thread:a", "page_size": 2, "page_token": page["next_page_token"]})).json()
    assert [b["id"] for b in rest["interactions"]] == [ids[0]] and "next_page_token" not in rest
    meta = (await http.get(f"{V}/interactions", params=[("metadata", "final:true")])).json()
    assert [b["id"] for b in meta["interactions"]] == [ids[4]]
    leaves = (await http.get(f"{V}/interactions", params={"leaves": "true"})).json()
    assert [b["id"] for b in leaves["interactions"]] == [ids[4]]
    chain = (await http.get(f"{V}/interactions/{ids[3]}/chain")).json()["interactions"]
    assert [b["id"] for b in chain] == ids[:4]
    assert chain[1]["input"] == [user("m1")]
    bad = await http.get(f"{V}/interactions", params={"page_size": "0"})
    assert bad.status_code == 400


async def test_metadata_merge_patch(http: httpx.AsyncClient) -> None:
    r = await http.post(f"{V}/record", json={"input": "x", "metadata": {"a": 1, "b": 2}})
    iid = r.json()["id"]
    patched = await http.patch(f"{V}/interactions/{iid}/metadata", json={"b": None, "c": [1]})
    assert patched.json()["interstate"]["metadata"] == {"a": 1, "c": [1]}
    missing = await http.patch(f"{V}/interactions/nope/metadata", json={"a": 1})
    assert missing.status_code == 404


async def test_tenants_are_isolated(http: httpx.AsyncClient) -> None:
    mine = (await http.post(f"{V}/record", json={"input": "private"})).json()["id"]
    other = {"x-goog-api-key": "key-b"}
    assert (await http.get(f"/v1beta/interactions/{mine}", headers=other)).status_code == 404
    assert (await http.get(f"{V}/interactions/{mine}/chain", headers=other)).status_code == 404
    assert (await http.get(f"{V}/interactions", headers=other)).json()["interactions"] == []
    cont = await http.post(f"{V}/record", headers=other, json={"input": "x", "previous_interaction_id": mine})
    assert cont.status_code == 404
    nokey = await http.get(f"{V}/interactions", headers={"x-goog-api-key": ""})
    assert nokey.status_code == 401 and nokey.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_export_import_round_trip(http: httpx.AsyncClient, tmp_path: Any) -> None:
    root = (await http.post(f"{V}/record", json={"input": "root", "metadata": {"k": "v"}})).json()["id"]
    child = (await http.post("/v1beta/interactions", json={
        "model": "scripted", "input": "child", "previous_interaction_id": root})).json()["id"]
    fork = (await http.post(f"{V}/record", json={"input": "fork", "previous_interaction_id": root})).json()["id"]
    exported = await http.get(f"{V}/export", params={"id": child})
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = exported.text.splitlines()
    assert len(lines) == 3  # the whole tree: root, then both children
    target = await InteractionService.open(f"sqlite:///{tmp_path}/other.db", registry())
    try:
        transport = httpx.ASGITransport(app=create_app(target))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
            imported = await other.post(f"{V}/import", content=exported.text)
            assert imported.json() == {"imported": 3, "skipped": 0}
            assert (await other.post(f"{V}/import", content=exported.text)).json() == {"imported": 0, "skipped": 3}
            chain = (await other.get(f"{V}/interactions/{child}/chain")).json()["interactions"]
            assert [b["id"] for b in chain] == [root, child]
            assert chain[0]["interstate"]["metadata"] == {"k": "v"}
            assert (await other.get(f"/v1beta/interactions/{fork}")).status_code == 200
            orphan = "\n".join(lines[1:])  # children without their parent
            fresh = await InteractionService.open(f"sqlite:///{tmp_path}/third.db", registry())
            try:
                t3 = httpx.ASGITransport(app=create_app(fresh))
                async with httpx.AsyncClient(transport=t3, base_url="http://t") as third:
                    bad = await third.post(f"{V}/import", content=orphan)
                    assert bad.status_code == 400 and "parent" in bad.json()["error"]["message"]
                    assert (await third.get(f"{V}/interactions")).json()["interactions"] == []
            finally:
                await fresh.close()
    finally:
        await target.close()


async def test_recorded_turn_streams_synthesized_events(http: httpx.AsyncClient) -> None:
    iid = (await http.post(f"{V}/record", json={"input": "x", "steps": [said("hello")]})).json()["id"]
    async with http.stream("GET", f"/v1beta/interactions/{iid}", params={"stream": "true"}) as r:
        text = "".join([chunk async for chunk in r.aiter_text()])
    assert r.headers["content-type"].startswith("text/event-stream")
    kinds = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert kinds == ["interaction.created", "step.start", "step.delta", "step.stop",
                     "interaction.status_update", "interaction.completed"]  # fmt: skip
