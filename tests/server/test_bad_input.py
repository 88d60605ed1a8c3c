"""Bad input is refused with a Google-shaped 4xx and changes nothing (issue 13, "Hardening")."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from interstate.server.app import create_app
from interstate.server.service import InteractionService

V = "/v1beta/interstate"
JSON = {"content-type": "application/json"}


def said(text: str) -> dict[str, Any]:
    return {"type": "model_output", "content": [{"type": "text", "text": text}]}


def assert_refused(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert isinstance(error["code"], str) and error["message"]
    assert len(r.content) < 1000, "error messages quote at most ~100 characters of input"
    return error


async def assert_nothing_stored(http: httpx.AsyncClient) -> None:
    listed = await http.get(f"{V}/interactions")
    assert listed.status_code == 200 and listed.json()["interactions"] == [], listed.text


def export_line(**interstate: Any) -> str:
    ext = {"kind": "record", "created": 1.0, "updated": 1.0, "metadata": {}, **interstate}
    body = {"id": "imp-1", "status": "completed", "input": [], "steps": [said("x")]}
    return json.dumps({"format": "interstate.export.v1", "interaction": body, "interstate": ext})


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_refused_everywhere(http: httpx.AsyncClient, constant: str) -> None:
    bodies = [
        ("/v1beta/interactions",
         f'{{"model":"scripted","input":"x","generation_config":{{"temperature":{constant}}}}}'),
        (f"{V}/record", f'{{"input":"x","metadata":{{"a":{constant}}}}}'),
        (f"{V}/record", f'{{"input":"x","usage":{{"total_tokens":{constant}}}}}'),
        (f"{V}/batch", f'{{"operations":[{{"record":{{"input":"x","metadata":{{"a":{constant}}}}}}}]}}'),
    ]  # fmt: skip
    for path, text in bodies:
        assert_refused(await http.post(path, content=text, headers=JSON))
    await assert_nothing_stored(http)
    ok = (await http.post(f"{V}/record", json={"input": "x"})).json()["id"]
    patch = await http.patch(f"{V}/interactions/{ok}/metadata", content=f'{{"a":{constant}}}', headers=JSON)
    assert_refused(patch)
    assert (await http.get(f"{V}/interactions/{ok}")).json()["interstate"]["metadata"] == {}


@pytest.mark.parametrize("created", ['"inf"', '"nan"', '"-Infinity"', "true", '"1.5"', "NaN"])
async def test_import_needs_finite_created_times(http: httpx.AsyncClient, created: str) -> None:
    line = export_line().replace('"created": 1.0', f'"created": {created}')
    assert_refused(await http.post(f"{V}/import", content=line))
    await assert_nothing_stored(http)


async def test_import_refuses_unknown_status_kind_and_quotes(http: httpx.AsyncClient) -> None:
    good = json.loads(export_line())
    bogus_status = json.loads(export_line())
    bogus_status["interaction"]["status"] = "bogus"
    quote = json.loads(export_line())
    quote["interaction"]["input"] = [{"type": "user_input", "content": [
        {"type": "interstate_quote", "interaction_id": "v1_other"}]}]  # fmt: skip
    nul = json.loads(export_line(metadata={"a": "x\u0000y"}))
    for line in (bogus_status, json.loads(export_line(kind="anything")), quote, nul):
        assert_refused(await http.post(f"{V}/import", content=json.dumps(line)))
    await assert_nothing_stored(http)
    assert (await http.post(f"{V}/import", content=json.dumps(good))).json()["imported"] == 1


async def test_empty_and_long_idempotency_keys_are_refused(http: httpx.AsyncClient) -> None:
    body = {"model": "scripted", "input": "x"}
    for key in ("", "k" * 257):
        for _ in range(2):
            r = await http.post("/v1beta/interactions", json=body, headers={"x-interstate-idempotency-key": key})
            assert_refused(r)
    await assert_nothing_stored(http)
    longest = {"x-interstate-idempotency-key": "k" * 256}
    first = await http.post("/v1beta/interactions", json=body, headers=longest)
    again = await http.post("/v1beta/interactions", json=body, headers=longest)
    assert first.status_code == 200 and again.json()["id"] == first.json()["id"]


async def test_lone_surrogates_are_refused(http: httpx.AsyncClient) -> None:
    for path, text in (("/v1beta/interactions", '{"model":"scripted","input":"\\ud800"}'),
                       (f"{V}/record", '{"input":"x","metadata":{"\\udfff":1}}')):  # fmt: skip
        assert_refused(await http.post(path, content=text, headers=JSON))
    await assert_nothing_stored(http)
    pair = await http.post(f"{V}/record", content='{"input":"\\ud83d\\ude00"}', headers=JSON)
    assert pair.status_code == 200, pair.text


async def test_bad_list_queries_are_400(http: httpx.AsyncClient) -> None:
    await http.post(f"{V}/record", json={"input": "x", "metadata": {'a"b': 1}})
    for params in (
        [("metadata", 'a"b:1')],
        [("metadata", "a\\b:1")],
        [("metadata", f"k{i}:1") for i in range(3000)],
        [("leaves", "yes")],
        [("order", "sideways")],
    ):
        assert_refused(await http.get(f"{V}/interactions", params=params))
    assert (await http.get(f"{V}/interactions", params=[("metadata", f"k{i}:1") for i in range(64)])).status_code == 200
    bare = await http.get(f"{V}/interactions", params=[("metadata", "k:NaN")])  # the string "NaN"
    assert bare.status_code == 200 and bare.json()["interactions"] == []
    asc = await http.get(f"{V}/interactions", params={"order": "asc", "leaves": "false"})
    assert asc.status_code == 200 and len(asc.json()["interactions"]) == 1


async def test_nul_in_metadata_is_refused_on_every_store(http: httpx.AsyncClient) -> None:
    for path, body in (
        (f"{V}/record", {"input": "x", "metadata": {"a": "x\u0000"}}),
        (f"{V}/record", {"input": "x", "metadata": {"a\u0000": 1}}),
        (f"{V}/batch", {"operations": [{"record": {"input": "x", "metadata": {"a": ["\u0000"]}}}]}),
    ):
        error = assert_refused(await http.post(path, json=body))
        assert "NUL" in error["message"]
    await assert_nothing_stored(http)
    ok = (await http.post(f"{V}/record", json={"input": "x"})).json()["id"]
    assert_refused(await http.patch(f"{V}/interactions/{ok}/metadata", json={"a": "\u0000"}))
    batch = [{"patch_metadata": {"id": ok, "patch": {"a": "\u0000"}}},
             {"set_ref": {"name": "r", "interaction_id": ok, "metadata": {"m": "\u0000"}}}]  # fmt: skip
    for op in batch:
        assert_refused(await http.post(f"{V}/batch", json={"operations": [op]}))
    assert (await http.get(f"{V}/interactions/{ok}")).json()["interstate"]["metadata"] == {}


async def test_recorded_turns_need_a_known_status_known_fields_and_quotes_that_resolve(
    http: httpx.AsyncClient,
) -> None:
    quote = {"type": "user_input", "content": [{"type": "interstate_quote", "interaction_id": "v1_x"}]}
    refused = [({"input": "x", "status": "bogus"}, 400), ({"input": [quote]}, 404),
               ({"input": "x", "sytem_instruction": "be brief"}, 400),
               ({"input": "x", "generation_config": {"temprature": 0.2}}, 400),
               ({"steps": [{"type": "model_output", "contnt": []}]}, 400),
               ({"steps": ""}, 400), ({"labels": 0}, 400), ({"id": ""}, 400)]  # fmt: skip
    for turn, status in refused:
        assert_refused(await http.post(f"{V}/record", json=turn), status)
        assert_refused(await http.post(f"{V}/batch", json={"operations": [{"record": turn}]}), status)
    await assert_nothing_stored(http)


async def test_recorded_quotes_are_stored_as_their_text(http: httpx.AsyncClient) -> None:
    said = (await http.post(f"{V}/record", json={"steps": [
        {"type": "model_output", "content": [{"type": "text", "text": "the quoted answer"}]}]})).json()["id"]
    quote = {"type": "interstate_quote", "interaction_id": said}
    one = (await http.post(f"{V}/record", json={"input": [quote]})).json()
    (many,) = (await http.post(f"{V}/batch", json={"operations": [{"record": {"input": [quote]}}]})).json()["results"]
    for recorded in (one["id"], many["id"]):
        body = (await http.get(f"{V}/interactions/{recorded}")).json()
        assert body["input"][0]["content"] == [{"type": "text", "text": "the quoted answer"}]


async def test_label_errors_quote_little_of_the_value(http: httpx.AsyncClient) -> None:
    r = await http.post(f"{V}/record", json={"input": "x", "labels": {"k": "v" * 1_000_000}})
    assert_refused(r)
    r = await http.post(f"{V}/record", json={"input": "x", "labels": {"k" * 1_000_000: "v"}})
    assert_refused(r)


async def test_bodies_must_be_json(http: httpx.AsyncClient) -> None:
    body = '{"model":"scripted","input":"x"}'
    for media in ("text/plain", "application/x-www-form-urlencoded"):
        r = await http.post("/v1beta/interactions", content=body, headers={"content-type": media})
        assert_refused(r, 415)
        r = await http.post(f"{V}/import", content=export_line(), headers={"content-type": media})
        assert_refused(r, 415)
    await assert_nothing_stored(http)
    charset = {"content-type": "application/json; charset=utf-8"}
    assert (await http.post("/v1beta/interactions", content=body, headers=charset)).status_code == 200


async def test_last_event_id_out_of_range_is_400(http: httpx.AsyncClient) -> None:
    iid = (await http.post(f"{V}/record", json={"input": "x"})).json()["id"]
    for seq in ("99999999999999999999", "9223372036854775808", "²", "9" * 5000):
        params = {"stream": "true", "last_event_id": f"{iid}:{seq}"}
        assert_refused(await http.get(f"/v1beta/interactions/{iid}", params=params))


async def test_bodies_over_the_limit_are_413_while_reading(service: InteractionService) -> None:
    app = create_app(service, max_body_bytes=1000)
    chunks_read = 0

    async def chunks() -> Any:
        nonlocal chunks_read
        for _ in range(100):  # no content-length: the limit applies while reading
            chunks_read += 1
            yield b" " * 600

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post("/v1beta/interactions", content=chunks(), headers=JSON)
    assert_refused(r, 413)
    assert chunks_read < 10


async def test_stalled_bodies_time_out(service: InteractionService) -> None:
    app = create_app(service, body_timeout_seconds=0.2)
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"model":', "more_body": True}
        await asyncio.sleep(3600)  # the client stalls
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1beta/interactions", "headers":
             [(b"content-type", b"application/json")], "query_string": b"", "http_version": "1.1",
             "scheme": "http", "server": ("test", 80), "client": ("test", 1), "root_path": ""}  # fmt: skip
    await asyncio.wait_for(app(scope, receive, send), 5)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"]["code"] == "DEADLINE_EXCEEDED"


async def test_500_bodies_carry_an_error_id_not_the_exception(
    service: InteractionService, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret user data")

    service.store.get = broken  # type: ignore[method-assign]
    app = create_app(service)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="interstate.server"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/v1beta/interactions/v1_x")
    assert r.status_code == 500
    message = r.json()["error"]["message"]
    assert "secret" not in message and "error id" in message
    error_id = message.split("error id ")[1].split(";")[0]
    assert any(error_id in rec.getMessage() and rec.exc_info for rec in caplog.records)


async def test_the_default_body_limit_is_10_mib(http: httpx.AsyncClient) -> None:
    text = '{"model":"scripted","input":"' + "x" * (10 * 1024 * 1024) + '"}'
    assert_refused(await http.post("/v1beta/interactions", content=text, headers=JSON), 413)
    await assert_nothing_stored(http)


async def test_bodies_read_at_once_share_a_budget(service: InteractionService) -> None:
    app = create_app(service, max_body_bytes=1000)  # 8,000 bytes may be in flight
    release = asyncio.Event()

    async def slow() -> Any:
        yield b'{"model":"scripted",' + b" " * 900
        await release.wait()
        yield b'"input":"x"}'

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        held = [asyncio.create_task(client.post("/v1beta/interactions", content=slow(), headers=JSON))
                for _ in range(8)]  # fmt: skip
        await asyncio.sleep(0.1)
        assert app.state.body_budget.used > 7000
        busy = await client.post("/v1beta/interactions", content=b" " * 999, headers=JSON)
        assert_refused(busy, 503)
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200] * 8
    assert app.state.body_budget.used == 0


async def test_a_query_parameter_without_a_name_is_refused(http: httpx.AsyncClient) -> None:
    created = await http.post(f"{V}/record", json={"input": "x"})
    for path in (f"/v1beta/interactions/{created.json()['id']}?include_input=false&=null",
                 f"{V}/interactions?=1"):  # fmt: skip
        assert "without a name" in assert_refused(await http.get(path))["message"]


async def test_a_nul_in_a_search_or_delete_filter_is_refused(http: httpx.AsyncClient) -> None:
    for route in ("search", "delete"):
        for body in ({"metadata": {"k": "\u0000"}}, {"metadata_any": {"k": ["\u0000"]}},
                     {"metadata_prefix": {"k": "a\u0000"}}):  # fmt: skip
            assert "NUL" in assert_refused(await http.post(f"{V}/{route}", json=body))["message"]
