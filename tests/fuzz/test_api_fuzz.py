"""schemathesis against the served ``/openapi.json`` (issue 13): every operation, valid and invalid
inputs (its examples, coverage and fuzzing phases), on a server over SQLite and over PostgreSQL.
No request may answer 5xx, a request that is refused (status >= 400) must leave every table
exactly as it was, and every response passes schemathesis' checks. The two that compare the
document with the server (a request the schema forbids is refused, one it allows is not refused
for its shape) run with ``INTERSTATE_FUZZ_ALL_CHECKS=1``: they pass on most operations and still
find differences on some (issue 13), so CI runs without them.

A schema-valid request may still be refused for what no schema can say (``EXEMPT``): the state
of what it names (a finished interaction is not cancelled: ``FAILED_PRECONDITION``), or a rule
between two parameters, which OpenAPI 3.1 cannot state and the operation's description does.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.checks
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from .conftest import API_KEY, Served, examples

HEADERS = {"x-goog-api-key": API_KEY}


#: Refusals of schema-valid requests that the document states in an operation's description.
EXEMPT_MESSAGES = (
    "last_event_id is only valid with stream=true",  # query x query
    "is not an event id of interaction",  # query x path
    "Name refs (name=..., repeatable) or a prefix",  # name or prefix: one of two parameters
    "contradicts response_format's mime_type",  # a deprecated field against its replacement
)


def exempt(response: Any) -> bool:
    """A 400 for state or a rule between parameters (see the module docstring)."""
    if response.status_code != 400:
        return False
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    message = str(error.get("message", ""))
    return error.get("code") == "FAILED_PRECONDITION" or any(m in message for m in EXEMPT_MESSAGES)


@schemathesis.check
def positive_data_acceptance_but_for_state(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' ``positive_data_acceptance``, except for the ``exempt`` refusals."""
    if exempt(response):
        return True
    return schemathesis.checks.positive_data_acceptance(ctx, response, case)


def excluded_checks() -> list[Any]:
    """All checks with ``INTERSTATE_FUZZ_ALL_CHECKS=1``; otherwise (CI) without the two that
    compare the document with the server, which still find differences (issue 13)."""
    if os.environ.get("INTERSTATE_FUZZ_ALL_CHECKS") == "1":
        return [schemathesis.checks.positive_data_acceptance]
    return [schemathesis.checks.positive_data_acceptance, positive_data_acceptance_but_for_state,
            schemathesis.checks.negative_data_rejection]


def seed(served: Served, chains: int) -> list[list[str]]:
    """``chains`` chains of three turns (the last root's with metadata), so that generated
    requests also reach interactions that exist (not only 404s)."""
    out: list[list[str]] = []
    with httpx.Client(base_url=served.url + "/v1beta", headers=HEADERS, timeout=30) as http:
        for c in range(chains):
            ids: list[str] = []
            for n in range(3):
                body: dict[str, Any] = {"model": "scripted", "input": f"seed {c}.{n}"}
                if ids:
                    body["previous_interaction_id"] = ids[-1]
                response = http.post("/interactions", json=body)
                response.raise_for_status()
                ids.append(response.json()["id"])
            out.append(ids)
        http.patch(f"/interstate/interactions/{ids[0]}/metadata", json={"k": "v"}).raise_for_status()
    return out


@pytest.fixture(scope="module")
def api_schema(served: Served) -> Any:
    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    kept, *doomed = seed(served, 5)  # DELETE takes its ids from chains no other operation uses
    deletable = [i for chain in doomed for i in chain]

    @schema.hook
    def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
        """Half of the cases name a stored id under a served version (generated versions and
        ids hardly ever exist: every such request would be a 404)."""
        ids = deletable if context.operation.method.upper() == "DELETE" else kept

        def stored_id(params: Any) -> Any:
            if not isinstance(params, dict) or "interaction_id" not in params:
                return st.just(params)
            return st.sampled_from(ids).map(lambda i: {**params, "version": "v1beta", "interaction_id": i})

        return st.one_of(strategy.flatmap(stored_id), strategy)

    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=examples(),
        deterministic=True, database="none",
    )  # fmt: skip
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=examples(), derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_no_5xx_and_refusals_write_nothing(case: Any, served: Served) -> None:
    before = served.settled_fingerprint()
    response = case.call(headers=HEADERS, timeout=30)
    what = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{what}: {response.text[:500]}"
    if response.status_code >= 400:
        assert served.settled_fingerprint() == before, f"{what}, but it wrote to the database"
    case.validate_response(response, headers=HEADERS, excluded_checks=excluded_checks())
