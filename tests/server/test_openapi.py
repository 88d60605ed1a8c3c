"""The OpenAPI document lists every route the app serves, and the create's extension headers."""

from __future__ import annotations

import re

from interstate.server.app import routes
from interstate.server.openapi import openapi_document


def test_every_route_is_documented() -> None:
    paths = openapi_document()["paths"]
    served = set()
    for route in routes():
        for method in route.methods or ():
            if method != "HEAD":
                served.add((route.path, method.lower()))
    served -= {("/healthz", "get"), ("/openapi.json", "get")}
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert served - documented == set()
    assert documented - served == set()
    for path, ops in paths.items():  # path parameters are declared
        for op in ops.values():
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_create_declares_the_extension_headers() -> None:
    create = openapi_document()["paths"]["/{version}/interactions"]["post"]
    headers = {p["name"]: p for p in create["parameters"] if p["in"] == "header"}
    assert set(headers) == {"x-interstate-idempotency-key", "x-interstate-inherit-config"}
    assert headers["x-interstate-inherit-config"]["schema"] == {"type": "boolean"}
