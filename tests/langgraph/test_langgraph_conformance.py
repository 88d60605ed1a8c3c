"""langgraph-checkpoint-conformance 0.0.2, every capability (81 tests), against the async saver
in embedded mode and over HTTP."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from interstate.client import AsyncClient
from interstate.langgraph import AsyncInteractionsSaver


async def test_conformance_all_capabilities(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    @checkpointer_test(name=f"AsyncInteractionsSaver[{url.split(':')[0]}]")
    async def factory() -> AsyncIterator[AsyncInteractionsSaver]:
        client = AsyncClient.from_url(url)
        try:
            yield AsyncInteractionsSaver(client)
        finally:
            await client.aclose()

    report = await validate(factory)
    report.print_report()
    results: dict[str, Any] = report.to_dict()["results"]
    passed = sum(r.get("tests_passed", 0) for r in results.values())
    failed = {cap: r.get("failures") for cap, r in results.items() if r.get("tests_failed")}
    assert failed == {}
    assert all(r.get("detected") for r in results.values()), results
    assert report.passed_all_base() and report.passed_all()
    assert passed == 81
