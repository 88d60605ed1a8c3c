"""HTTP routes: small functions over ``InteractionService``; the same app serves embedded mode.

Standard routes (``/{version}/interactions...``) answer exactly as the official SDK parses them.
interstate's own routes live under ``/{version}/interstate/`` (see ``extension_routes``).
"""

from __future__ import annotations

import json
import logging
import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interstate.server.auth import Auth
from interstate.server.errors import ServiceError, invalid_argument, not_found, payload_too_large
from interstate.server.service import InteractionService

if TYPE_CHECKING:
    from sse_starlette import EventSourceResponse

log = logging.getLogger("interstate.server")

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_VERSION = re.compile(r"^v\d+[a-z0-9]*$")
#: Seconds between SSE keep-alive comments on a quiet stream.
SSE_PING_SECONDS = 15


def error_response(error: ServiceError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def sse_response(events: AsyncIterator[dict[str, Any]]) -> EventSourceResponse:
    from sse_starlette import EventSourceResponse  # on the first stream only: it imports uvicorn

    async def frames() -> AsyncIterator[dict[str, str]]:
        async for event in events:
            yield {
                "id": event.get("event_id", ""),
                "event": event["event_type"],
                "data": json.dumps(event, separators=(",", ":"), ensure_ascii=False),
            }

    return EventSourceResponse(frames(), ping=SSE_PING_SECONDS)


def query_bool(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise invalid_argument(f"Query parameter {name} must be true or false, not {value!r}")
    return value in ("true", "1")


def header_bool(request: Request, name: str) -> bool:
    value = request.headers.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise invalid_argument(f"Header {name} must be true or false, not {value!r}")
    return value in ("true", "1")


async def read_body(request: Request) -> bytes:
    """The body, refusing (413) anything over the app's limit before reading it all."""
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise payload_too_large(f"Request body is larger than the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise payload_too_large(f"Request body is larger than the {limit}-byte limit")
    return bytes(body)


async def read_json(request: Request) -> Any:
    body = await read_body(request)
    if not body.strip():
        raise invalid_argument("The request body is empty; send a JSON object")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid_argument(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid_argument("The request body is nested too deeply to parse") from None


Handler = Callable[[Request, InteractionService, str], Awaitable[Response]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Check the version segment and API key, then call ``handler(request, service, tenant)``."""

    async def route(request: Request) -> Response:
        try:
            version = request.path_params.get("version", "v1")
            if not _VERSION.match(version):
                raise not_found(f"Unknown API version {version!r}; use v1 or v1beta")
            tenant = request.app.state.auth.tenant_for(request)
            return await handler(request, request.app.state.service, tenant)
        except ServiceError as exc:
            return error_response(exc)

    route.__name__ = handler.__name__
    route.__doc__ = handler.__doc__
    return route


@endpoint
async def create_interaction(request: Request, service: InteractionService, tenant: str) -> Response:
    """Create an interaction (runs the model turn; streams with ``"stream": true``)."""
    body = await read_json(request)
    key = request.headers.get("x-interstate-idempotency-key")
    inherit = header_bool(request, "x-interstate-inherit-config")
    result = await service.create(tenant, body, idempotency_key=key, inherit_config=inherit)
    if isinstance(result, dict):
        return JSONResponse(result)
    return sse_response(result)


@endpoint
async def get_interaction(request: Request, service: InteractionService, tenant: str) -> Response:
    """Get an interaction; ``?stream=true`` streams its events (resume with last_event_id)."""
    interaction_id = request.path_params["interaction_id"]
    last_event_id = request.query_params.get("last_event_id")
    if query_bool(request, "stream"):
        return sse_response(await service.follow(tenant, interaction_id, last_event_id))
    if last_event_id is not None:
        raise invalid_argument("last_event_id is only valid with stream=true")
    include_input = query_bool(request, "include_input")
    return JSONResponse(await service.get(tenant, interaction_id, include_input=include_input))


@endpoint
async def cancel_interaction(request: Request, service: InteractionService, tenant: str) -> Response:
    """Cancel a queued or in-progress interaction."""
    return JSONResponse(await service.cancel(tenant, request.path_params["interaction_id"]))


@endpoint
async def delete_interaction(request: Request, service: InteractionService, tenant: str) -> Response:
    """Delete an interaction (children keep working; their history skips it)."""
    await service.delete(tenant, request.path_params["interaction_id"])
    return JSONResponse({})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> Response:
    from interstate.server.openapi import openapi_document

    return JSONResponse(openapi_document())


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "INVALID_ARGUMENT")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return error_response(ServiceError(exc.status_code, code, message))


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ServiceError(500, "INTERNAL", f"Internal server error: {exc!r}"))


def routes() -> list[Route]:
    from interstate.server.extensions import extension_routes
    from interstate.server.search import search_routes
    from interstate.server.refs import refs_routes

    prefix = "/{version}/interactions"
    return [
        # First: checkpointers send a batch per step, and the router tries routes in order
        # (no pattern here overlaps another, so the order changes nothing else).
        *refs_routes(endpoint),
        Route(prefix, create_interaction, methods=["POST"]),
        Route(prefix + "/{interaction_id}", get_interaction, methods=["GET"]),
        Route(prefix + "/{interaction_id}", delete_interaction, methods=["DELETE"]),
        Route(prefix + "/{interaction_id}/cancel", cancel_interaction, methods=["POST"]),
        *extension_routes(endpoint),
        *search_routes(endpoint),
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


def create_app(
    service: InteractionService | None = None,
    *,
    open_service: Callable[[], Awaitable[InteractionService]] | None = None,
    auth: Auth | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The ASGI app over a running ``service`` (whose owner closes it), or over one that the
    app's lifespan opens with ``open_service`` inside the server's event loop and closes."""
    if (service is None) == (open_service is None):
        raise ValueError("pass exactly one of service= or open_service=")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if open_service is None:
            yield
            return
        app.state.service = await open_service()
        try:
            yield
        finally:
            await app.state.service.close()

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.service = service
    app.state.auth = auth or Auth.disabled()
    app.state.max_body_bytes = max_body_bytes
    return app
