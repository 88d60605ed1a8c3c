"""Batches and ref reads on the embedded SQLite server are served in the caller's thread
(``EmbeddedServer.serve_here``): same answers as through the loop, safe beside the loop's work."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from interstate.client import AsyncClient, Client
from interstate.errors import NotFoundError
from interstate.server import refs as refs_module
from interstate.server.embedded import EmbeddedServer, EmbeddedTransport
from interstate.server.store import sqlite_ops


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    url = f"sqlite:///{tmp_path}/here.db"
    with Client.from_url(url) as client:
        yield client
    EmbeddedServer.start(url).close()


def _exchange(client: Client, method: str, path: str, *, here: bool, body: Any = None) -> httpx.Response:
    transport: EmbeddedTransport = client._direct
    content = None if body is None else json.dumps(body).encode()
    request = httpx.Request(method, f"http://interstate.embedded{path}", content=content)
    server = transport.server
    if here:
        return _read(transport.handle_request(request))
    served_here = server.serve_here
    server.serve_here = lambda exchange: False  # type: ignore[method-assign]
    try:
        return _read(transport.handle_request(request))
    finally:
        server.serve_here = served_here  # type: ignore[method-assign]


def _read(response: httpx.Response) -> httpx.Response:
    response.read()
    return response


def test_batches_ref_and_interaction_reads_run_in_the_calling_thread(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: dict[str, list[int]] = {}

    def spy(name: str, original: Any) -> Any:
        def record_thread(*args: Any) -> Any:
            threads.setdefault(name, []).append(threading.get_ident())
            return original(*args)

        return record_thread

    for name in ("apply_batch", "get_refs"):
        monkeypatch.setattr(sqlite_ops, name, spy(name, getattr(sqlite_ops, name)))
    store = client._direct.server.service.store
    monkeypatch.setattr(sqlite_ops, "chain_json", spy("chain_json", sqlite_ops.chain_json))
    monkeypatch.setattr(store, "_fetch", spy("read", store._fetch))
    here = threading.get_ident()
    client.interstate.batch([{"record": {"id": "t-1"}}, {"record": {"id": "t-2", "previous_interaction_id": "t-1"}},
                             {"set_ref": {"name": "h", "interaction_id": "t-2"}}])  # fmt: skip
    assert client.interstate.refs(names=["h"], resolve=True).refs[0].interaction.id == "t-2"  # type: ignore[union-attr]
    assert [i["id"] for i in client.interstate.refs(names=["h"], resolve="chain").refs[0].chain] == ["t-1", "t-2"]  # type: ignore[union-attr]
    assert client.interstate.get("t-1").id == "t-1"
    assert [i.id for i in client.interstate.chain("t-2")] == ["t-1", "t-2"]
    assert [i.id for i in client.interstate.list(previous_interaction_id="t-1").interactions] == ["t-2"]
    assert threads["apply_batch"] == threads["chain_json"] == [here]
    assert threads["get_refs"] == [here, here]
    reads = len(threads["read"])
    assert reads >= 3 and threads["read"] == [here] * reads
    assert client.interactions.get("t-1").id == "t-1"  # not one of them: served on the loop
    assert len(threads["read"]) == reads + 1 and threads["read"][-1] != here


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1beta/interstate/batch", {"operations": [{"record": {"id": "p-1"}}]}),
        ("POST", "/v1beta/interstate/batch", {"operations": [{"record": {"id": "p-2", "previous_interaction_id": "nope"}}]}),
        ("POST", "/v1beta/interstate/batch", {"operations": [{"set_ref": {"name": ""}}]}),
        ("POST", "/v1beta/interstate/batch", {"operations": "all"}),
        ("POST", "/v9/interstate/batch", {"operations": [{"record": {}}]}),
        ("GET", "/v1beta/interstate/refs?name=missing&resolve=true", None),
        ("GET", "/v1beta/interstate/refs", None),
    ],
)  # fmt: skip
def test_answers_are_those_of_the_app_on_the_loop(client: Client, method: str, path: str, body: Any) -> None:
    here = _exchange(client, method, path, here=True, body=body)
    if body is not None and here.status_code == 200:  # applied once: the loop sees it exists
        body = {"operations": [{"record": {"id": "p-1b"}}]}
    loop = _exchange(client, method, path, here=False, body=body)
    assert here.status_code == loop.status_code
    here_body, loop_body = here.json(), loop.json()
    if here.status_code == 200 and "results" in here_body:
        assert [r["created"] for r in here_body["results"]] == [r["created"] for r in loop_body["results"]]
    else:
        assert here_body == loop_body
    assert here.headers["content-type"] == loop.headers["content-type"]


def test_an_unexpected_failure_is_a_500_and_changes_nothing(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(tenant: str, body: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(refs_module, "parse_operations", broken)
    body = {"operations": [{"record": {"id": "never"}}]}
    here = _exchange(client, "POST", "/v1beta/interstate/batch", here=True, body=body)
    loop = _exchange(client, "POST", "/v1beta/interstate/batch", here=False, body=body)
    assert here.status_code == loop.status_code == 500
    for answer in (here, loop):  # an opaque error id, never the exception's text
        assert answer.json()["error"]["code"] == "INTERNAL"
        assert "error id" in answer.json()["error"]["message"] and "boom" not in answer.text
    monkeypatch.undo()
    with pytest.raises(NotFoundError):
        client.interactions.get("never")


def test_threads_and_the_loop_share_the_database_safely(client: Client) -> None:
    """Eight threads store chains while coroutines on the server's loop write too: every batch
    is its own transaction, none absorbs another's statements."""
    errors: list[BaseException] = []

    def chain(worker: int) -> None:
        try:
            previous = None
            for step in range(40):
                iid = f"w{worker}-{step}"
                record: dict[str, Any] = {"id": iid, "input": f"step {step}"}
                if previous:
                    record["previous_interaction_id"] = previous
                client.interstate.batch([{"record": record}, {"set_ref": {
                    "name": f"chain/{worker}", "interaction_id": iid, "order_key": f"{step:04}"}}])  # fmt: skip
                previous = iid
        except BaseException as exc:  # reported below
            errors.append(exc)

    async def on_the_loop() -> None:
        async with AsyncClient.from_url(client._direct.server.url) as aclient:
            for step in range(40):
                await aclient.interstate.record(id=f"loop-{step}", input="from the loop")

    workers = [threading.Thread(target=chain, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    asyncio.run(on_the_loop())
    for worker in workers:
        worker.join()
    assert errors == []
    refs = {r.name: r.interaction_id for r in client.interstate.iter_refs(prefix="chain/")}
    assert refs == {f"chain/{n}": f"w{n}-39" for n in range(8)}
    assert next(i.id for i in client.interstate.chain("w3-39")) == "w3-0"
    assert client.interactions.get("loop-39").id == "loop-39"
