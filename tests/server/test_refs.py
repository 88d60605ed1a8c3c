"""interstate extension: atomic batches and refs (POST /interstate/batch, GET /interstate/refs)."""

from __future__ import annotations

from typing import Any

import httpx

V = "/v1beta/interstate"


def user(text: str) -> dict[str, Any]:
    return {"type": "user_input", "content": [{"type": "text", "text": text}]}


async def batch(http: httpx.AsyncClient, *operations: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{V}/batch", json={"operations": list(operations)})


async def test_batch_records_patches_and_moves_a_ref_atomically(http: httpx.AsyncClient) -> None:
    r = await batch(
        http,
        {"record": {"id": "b-1", "input": [user("a")], "metadata": {"w": {"k": 1}}}},
        {"record": {"id": "b-2", "previous_interaction_id": "b-1", "input": [user("b")]}},
        {"set_ref": {"name": "thread/1", "interaction_id": "b-2", "order_key": "2", "metadata": {"t": "x"}}},
        {"patch_metadata": {"id": "b-1", "patch": {"w": {"k": 2, "j": 3}}, "keep_existing": True}},
        {"patch_ref": {"name": "thread/1", "patch": {"pending": {"c": 1}}}},
    )
    assert r.status_code == 200, r.text
    assert [x.get("created", x.get("moved", x.get("found"))) for x in r.json()["results"]] == [True] * 5
    got = (await http.get(f"{V}/interactions/b-1")).json()["interstate"]["metadata"]
    assert got == {"w": {"k": 1, "j": 3}}  # keep_existing never replaces a value
    refs = (await http.get(f"{V}/refs", params={"name": "thread/1", "resolve": "true"})).json()["refs"]
    assert refs[0]["interaction_id"] == "b-2" and refs[0]["metadata"] == {"t": "x", "pending": {"c": 1}}
    assert refs[0]["interaction"]["interstate"]["depth"] == 1
    assert refs[0]["interaction"]["input"] == [user("b")]
    # An older order key does not move the ref (its metadata still merges); force does.
    r = await batch(http, {"set_ref": {"name": "thread/1", "interaction_id": "b-1", "order_key": "1",
                                       "metadata": {"pending": None}}})  # fmt: skip
    assert r.json()["results"][0]["moved"] is False
    ref = (await http.get(f"{V}/refs", params={"name": "thread/1"})).json()["refs"][0]
    assert ref["interaction_id"] == "b-2" and ref["metadata"] == {"t": "x"} and "interaction" not in ref
    r = await batch(http, {"set_ref": {"name": "thread/1", "interaction_id": "b-1", "order_key": "1", "force": True}})
    assert r.json()["results"][0]["moved"] is True
    # Retrying a batch with client ids changes nothing.
    again = await batch(http, {"record": {"id": "b-1", "input": [user("a")]}})
    assert again.json()["results"] == [{"id": "b-1", "created": False}]


async def test_a_failing_operation_writes_nothing(http: httpx.AsyncClient) -> None:
    r = await batch(
        http,
        {"record": {"id": "c-1", "input": [user("a")]}},
        {"set_ref": {"name": "thread/2", "interaction_id": "c-1"}},
        {"patch_metadata": {"id": "missing", "patch": {"x": 1}}},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert (await http.get(f"{V}/interactions/c-1")).status_code == 404
    assert (await http.get(f"{V}/refs", params={"name": "thread/2"})).json()["refs"] == []
    bad = [
        {"operations": []},
        {"operations": [{"record": {"id": "bad id!"}}]},
        {"operations": [{"nope": {}}]},
        {"operations": [{"record": {}, "set_ref": {}}]},
        {"operations": [{"delete_refs": {}}]},
        {"operations": [{"set_ref": {"name": "", "interaction_id": "x"}}]},
        {"operations": [{"record": {"status": "in_progress"}}]},
    ]
    for body in bad:
        r = await http.post(f"{V}/batch", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == "INVALID_ARGUMENT"


async def test_delete_as_a_set_and_refs_by_prefix(http: httpx.AsyncClient) -> None:
    await batch(
        http,
        {"record": {"id": "d-1", "input": [user("root")]}},
        {"record": {"id": "d-2", "previous_interaction_id": "d-1"}},
        {"record": {"id": "d-3", "previous_interaction_id": "d-2"}},
        {"set_ref": {"name": "p/a", "interaction_id": "d-3"}},
        {"set_ref": {"name": "p/b", "interaction_id": "d-1"}},
        {"set_ref": {"name": "q/c", "interaction_id": "d-1"}},
    )
    # d-1 has a child outside the set: kept untouched with keep_referenced.
    r = await batch(http, {"delete": {"ids": ["d-1", "nope"], "keep_referenced": True}})
    assert r.json()["results"][0] == {"deleted": [], "tombstoned": [], "kept": ["d-1"], "missing": ["nope"]}
    # Without it, d-1 becomes a tombstone and d-3 (a leaf) goes.
    r = await batch(http, {"delete": {"ids": ["d-1", "d-3"]}})
    assert r.json()["results"][0]["deleted"] == ["d-3"] and r.json()["results"][0]["tombstoned"] == ["d-1"]
    chain = (await http.get(f"{V}/interactions/d-2/chain")).json()["interactions"]
    assert [i["id"] for i in chain] == ["d-2"]
    # The whole tree at once: the tombstone goes with its last child.
    r = await batch(http, {"delete": {"ids": ["d-2"]}})
    assert r.json()["results"][0]["deleted"] == ["d-2"]
    listed = (await http.get(f"{V}/refs", params={"prefix": "p/", "resolve": "true", "page_size": "1"})).json()
    assert [x["name"] for x in listed["refs"]] == ["p/a"] and listed["refs"][0]["interaction"] is None
    rest = (await http.get(f"{V}/refs", params={"prefix": "p/", "page_token": listed["next_page_token"]})).json()
    assert [x["name"] for x in rest["refs"]] == ["p/b"]
    r = await batch(http, {"delete_refs": {"prefix": "p/"}})
    assert r.json()["results"] == [{"deleted": 2}]
    assert [x["name"] for x in (await http.get(f"{V}/refs", params={"prefix": ""})).json()["refs"]] == ["q/c"]


async def test_refs_belong_to_a_tenant(http: httpx.AsyncClient) -> None:
    await batch(http, {"record": {"id": "e-1"}}, {"set_ref": {"name": "mine", "interaction_id": "e-1"}})
    other = {"x-goog-api-key": "key-b"}
    assert (await http.get(f"{V}/refs", params={"name": "mine"}, headers=other)).json()["refs"] == []
    r = await http.post(f"{V}/batch", headers=other,
                        json={"operations": [{"set_ref": {"name": "x", "interaction_id": "e-1"}}]})  # fmt: skip
    assert r.status_code == 404
