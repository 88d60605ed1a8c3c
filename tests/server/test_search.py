"""The search extension: embeddings on interactions, vector search, delete by filter."""

from __future__ import annotations

from typing import Any

import httpx

V = "/v1/interstate"


async def record(http: httpx.AsyncClient, text: str, **fields: Any) -> str:
    response = await http.post(f"{V}/record", json={"input": text, **fields})
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def test_search_ranks_filters_and_isolates_tenants(http: httpx.AsyncClient) -> None:
    a = await record(http, "a", labels={"kind": "mem"}, metadata={"scope": "/x/y", "cats": ["p", "q"], "meta": {"t": 1}})
    b = await record(http, "b", labels={"kind": "mem"}, metadata={"scope": "/xy", "cats": ["r"]})
    c = await record(http, "c", labels={"kind": "other"}, metadata={"scope": "/x"})
    no_vector = await record(http, "d", labels={"kind": "mem"}, metadata={"scope": "/x"})
    ok = await http.post(f"{V}/embeddings", json={"embeddings": [
        {"interaction_id": a, "vector": [2, 0, 0]}, {"interaction_id": b, "vector": [0.6, 0.8, 0]},
        {"interaction_id": c, "vector": [1, 0, 0]}]})  # fmt: skip
    assert ok.json() == {"embedded": 3}

    async def ids(**body: Any) -> list[tuple[str, Any]]:
        response = await http.post(f"{V}/search", json=body)
        assert response.status_code == 200, response.text
        return [(r["interaction"]["id"], r["score"]) for r in response.json()["results"]]

    hits = await ids(vector=[1, 0, 0], labels={"kind": "mem"})
    assert [h[0] for h in hits] == [a, b] and abs(hits[0][1] - 1.0) < 1e-6 and abs(hits[1][1] - 0.6) < 1e-6
    assert [h[0] for h in await ids(vector=[1, 0, 0], labels={"kind": "mem"}, min_score=0.9)] == [a]
    assert [h[0] for h in await ids(vector=[1, 0, 0], metadata_prefix={"scope": "/x"})] == [c, a]  # tie: newest first
    assert [h[0] for h in await ids(vector=[1, 0, 0], metadata_any={"cats": ["r", "z"]})] == [b]
    assert [h[0] for h in await ids(vector=[1, 0, 0], metadata={"meta.t": 1})] == [a]
    assert await ids(vector=[1, 0], labels={"kind": "mem"}) == []  # other dimension
    # without a vector: every match, newest first, no score
    assert await ids(labels={"kind": "mem"}) == [(no_vector, None), (b, None), (a, None)]
    assert await ids(labels={"kind": "mem"}, top_k=1, offset=1) == [(b, None)]

    # another tenant sees nothing and cannot attach embeddings to our interactions
    other = {"x-goog-api-key": "key-b"}
    assert (await http.post(f"{V}/search", json={"vector": [1, 0, 0]}, headers=other)).json() == {"results": []}
    denied = await http.post(f"{V}/embeddings", headers=other,
                             json={"embeddings": [{"interaction_id": a, "vector": [1.0]}]})  # fmt: skip
    assert denied.status_code == 404

    # deleting an interaction removes its embedding; delete by filter needs a filter
    assert (await http.delete(f"/v1/interactions/{a}")).status_code == 200
    assert [h[0] for h in await ids(vector=[1, 0, 0], labels={"kind": "mem"})] == [b]
    assert (await http.post(f"{V}/delete", json={})).status_code == 400
    gone = await http.post(f"{V}/delete", json={"labels": {"kind": "mem"}, "metadata_prefix": {"scope": "/xy"}})
    assert gone.json() == {"deleted": 1, "more": False}
    assert await ids(labels={"kind": "mem"}) == [(no_vector, None)]


async def test_search_rejects_bad_input_and_changes_nothing(http: httpx.AsyncClient) -> None:
    a = await record(http, "a")
    for body in (
        [1, 2],
        {"vector": []},
        {"vector": ["x"]},
        {"vector": [True]},
        {"labels": {"Bad Key": "v"}},
        {"metadata": {"a..b": 1}},
        {"metadata_prefix": {"scope": 3}},
        {"metadata_any": {"cats": "p"}},
        {"top_k": 0},
        {"min_score": 2},
        {"unknown": 1},
    ):
        response = await http.post(f"{V}/search", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == "INVALID_ARGUMENT"
    for body in ({"embeddings": []}, {"embeddings": [{"interaction_id": a}]}, {"x": 1},
                 {"embeddings": [{"interaction_id": a, "vector": [1.0]}, {"interaction_id": "nope", "vector": [1.0]}]}):  # fmt: skip
        response = await http.post(f"{V}/embeddings", json=body)
        assert response.status_code in (400, 404), (body, response.text)
    # the half-valid batch above wrote nothing
    response = await http.post(f"{V}/search", json={"vector": [1.0]})
    assert response.json() == {"results": []}
    assert (await http.post(f"{V}/delete", json={"vector": [1.0], "labels": {"a": "b"}})).status_code == 400
