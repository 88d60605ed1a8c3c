"""HTTP routes: small functions over ``InteractionService``; the same app serves embedded mode.

Standard routes (``/{version}/interactions...``) answer exactly as the official SDK parses them.
interstate's own routes live under ``/{version}/interstate/`` (see ``extension_routes``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from interstate.server.auth import Auth
from interstate.server.errors import (
    ServiceError,
    deadline_exceeded,
    invalid_argument,
    not_found,
    payload_too_large,
    unavailable,
    unsupported_media_type,
)
from interstate.server.inputs import BodyBudget, loads
from interstate.server.service import InteractionService

if TYPE_CHECKING:
    from sse_starlette import EventSourceResponse

log = logging.getLogger("interstate.server")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
#: Seconds a client has to send a whole request body (a stalled upload holds a connection).
DEFAULT_BODY_TIMEOUT_SECONDS = 60.0  # for `interstate serve`; none in-process
#: Bodies being read at once may hold this many times the body limit (then 503).
BODIES_IN_FLIGHT = 8
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


def check_media_type(request: Request, *allowed: str) -> None:
    """415 unless the body's ``Content-Type`` is one of ``allowed`` (or absent)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.partition(";")[0].strip().lower()
    if media not in allowed:
        raise unsupported_media_type(
            f"Content-Type {declared[:100]!r} is not accepted here; send {' or '.join(allowed)}"
        )


async def read_body(request: Request) -> bytes:
    """The body, refusing (413) anything over the app's limit as soon as it is seen, and (503)
    a body that would take the bytes of all bodies being read over the app's ``BodyBudget``.
    (Slow bodies: see ``BodyTimeout``.)"""
    limit: int = request.app.state.max_body_bytes
    budget: BodyBudget = request.app.state.body_budget
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise payload_too_large(f"Request body is larger than the {limit}-byte limit")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            within_budget = budget.take(len(chunk))  # all of body is counted, then given back
            if len(body) > limit:
                raise payload_too_large(f"Request body is larger than the {limit}-byte limit")
            if not within_budget:
                raise unavailable("The server is reading too many large bodies; retry shortly")
    finally:
        budget.give(len(body))
    return bytes(body)


class BodyTimeout:
    """ASGI middleware: a request body must arrive within ``seconds`` of the request's start,
    or reading it raises a 408 ``ServiceError`` (rendered by ``endpoint``). A stalled upload
    would otherwise hold its connection and buffer forever. Once the body is complete,
    ``receive`` (which streams use to notice a disconnect) is passed through untimed."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline = asyncio.get_running_loop().time() + self.seconds
        complete = False

        async def timed_receive() -> Any:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise deadline_exceeded("The request body did not arrive in time") from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)


async def read_json(request: Request) -> Any:
    check_media_type(request, "application/json", "application/merge-patch+json")
    body = await read_body(request)
    if not body.strip():
        raise invalid_argument("The request body is empty; send a JSON object")
    try:
        return loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise invalid_argument(f"The request body is not valid JSON: {str(exc)[:200]}") from None


Handler = Callable[[Request, InteractionService, str], Awaitable[Response]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Check the version segment and API key, then call ``handler(request, service, tenant)``."""

    async def route(request: Request) -> Response:
        try:
            version = request.path_params.get("version", "v1")
            if not _VERSION.match(version):
                raise not_found(f"Unknown API version {version!r}; use v1 or v1beta")
            tenant = request.app.state.auth.tenant_for(request)
            if any(not name for name, _ in request.query_params.multi_items()):
                raise invalid_argument("The query has a parameter without a name (&=...)")
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
    # The stored resource: this turn's input steps, then its model steps (create answers with
    # the model's steps only; see render.interaction_body).
    body = await service.get(tenant, interaction_id, include_input=include_input, timeline=True)
    return JSONResponse(body)


@endpoint
async def cancel_interaction(request: Request, service: InteractionService, tenant: str) -> Response:
    """Cancel a queued or in-progress interaction."""
    return JSONResponse(await service.cancel(tenant, request.path_params["interaction_id"]))


@endpoint
async def delete_interaction(request: Request, service: InteractionService, tenant: str) -> Response:
    """Delete an interaction (children keep working; their history skips it)."""
    await service.delete(tenant, request.path_params["interaction_id"])
    return JSONResponse({})


@endpoint
async def list_agents(request: Request, service: InteractionService, tenant: str) -> Response:
    """The agents registered on this server, as the SDK's ``agents.list`` reads them."""
    names, token = service.agents.page(
        request.query_params.get("page_size"), request.query_params.get("page_token")
    )
    out: dict[str, Any] = {"agents": [
        {"id": name, "description": f"{service.agents.agents[name].kind} agent on this interstate server"}
        for name in names]}  # fmt: skip
    if token:
        out["next_page_token"] = token
    return JSONResponse(out)


@endpoint
async def list_interstate_agents(request: Request, service: InteractionService, tenant: str) -> Response:
    """interstate: the registered agents with their kinds (``langgraph``, ``function``...)."""
    return JSONResponse({"agents": service.agents.listing()})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def openapi(request: Request) -> Response:
    from interstate.server.openapi import openapi_document

    return JSONResponse(openapi_document())


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "INVALID_ARGUMENT")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # RFC 9110: name every method of the path, not one route's
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(ServiceError(exc.status_code, code, message, headers=headers))


def allowed_methods(request: Request) -> list[str]:
    """The methods of every route whose path matches the request's (a path's methods are
    spread over several ``Route`` objects, and Starlette's 405 names only the first's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and isinstance(route, Route):
            methods |= route.methods or set()
    return sorted(methods)


async def server_error(request: Request, exc: Exception) -> Response:
    """A 500 that names an error id, never the exception (whose text may quote user data):
    the log has the id with the traceback."""
    error_id = secrets.token_hex(8)
    log.error(
        "unhandled error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc
    )
    message = f"Internal error (error id {error_id}; the server log has the details)"
    return error_response(ServiceError(500, "INTERNAL", message))


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
        Route("/{version}/agents", list_agents, methods=["GET"]),
        Route("/{version}/interstate/agents", list_interstate_agents, methods=["GET"]),
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
    body_timeout_seconds: float | None = None,
) -> Starlette:
    """The ASGI app over a running ``service`` (whose owner closes it), or over one that the
    app's lifespan opens with ``open_service`` inside the server's event loop and closes.
    ``body_timeout_seconds`` bounds how long a request body may take to arrive (``BodyTimeout``)."""
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
        middleware=[Middleware(BodyTimeout, seconds=body_timeout_seconds)]
        if body_timeout_seconds is not None
        else [],
    )
    app.state.service = service
    app.state.auth = auth or Auth.disabled()
    app.state.max_body_bytes = max_body_bytes
    app.state.body_budget = BodyBudget(BODIES_IN_FLIGHT * max_body_bytes)
    return app
