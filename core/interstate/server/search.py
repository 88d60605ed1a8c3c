"""interstate extension: embeddings on interactions, vector search, and delete by query.

* ``POST /{v}/interstate/embeddings``  attach one embedding per interaction (replacing any)
* ``POST /{v}/interstate/search``      filter interactions by labels/metadata, rank by cosine
* ``POST /{v}/interstate/delete``      delete every interaction a filter matches

Built for framework memories (CrewAI's ``StorageBackend``): a memory is a recorded interaction
whose labels name the store and whose metadata holds scope, categories and the like; its
embedding lives in a table of its own (``embeddings``) and goes when the interaction is deleted.
Similarity is computed on the server over the candidates the filters leave (an exact scan, no
approximate index).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interstate.server.errors import ServiceError, invalid_argument, not_found
from interstate.server.inputs import check_stored_json, integral_floats
from interstate.server.service import InteractionService
from interstate.server.store.base import VectorQuery
from interstate.server.vectors import json_path
from interstate.types import validate_labels

MAX_DIMENSIONS = 8192
MAX_TOP_K = 1000
MAX_EMBEDDINGS_PER_REQUEST = 1000
#: How many interactions one delete request removes at most (the answer says if more remain).
MAX_DELETE = 10_000


def _vector(value: Any, what: str) -> list[float]:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_DIMENSIONS
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
    ):
        raise invalid_argument(
            f"{what} must be a non-empty list of at most {MAX_DIMENSIONS} numbers"
        )
    if not all(math.isfinite(x) for x in value):
        raise invalid_argument(f"{what} must contain finite numbers only")
    return [float(x) for x in value]


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_argument(f"{name} must be a JSON object")
    return value


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = integral_floats(body.get(name, default))
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_argument(f"{name} must be an integer from {low} to {high}")
    return value


def parse_query(body: Any, *, vector_allowed: bool = True) -> VectorQuery:
    """A ``VectorQuery`` from a request body; 400 for anything malformed."""
    if not isinstance(body, dict):
        raise invalid_argument("The request body must be a JSON object")
    known = {"vector", "labels", "metadata", "metadata_prefix", "metadata_any", "top_k",
             "offset", "min_score", "include_input"}  # fmt: skip
    unknown = sorted(set(body) - known)
    if unknown:
        raise invalid_argument(f"Unknown field(s): {', '.join(unknown)}")
    labels = _object(body, "labels")
    try:
        validate_labels(labels)
    except ValueError as exc:
        raise invalid_argument(f"labels: {exc}") from None
    metadata = _object(body, "metadata")
    prefixes = _object(body, "metadata_prefix")
    any_of = _object(body, "metadata_any")
    try:
        for key in [*metadata, *prefixes, *any_of]:
            json_path(key)
    except ValueError as exc:
        raise invalid_argument(str(exc)) from None
    check_stored_json({"metadata": metadata, "metadata_prefix": prefixes, "metadata_any": any_of},
                      "metadata filters")  # PostgreSQL's jsonb cannot hold a NUL
    if not all(isinstance(v, str) for v in prefixes.values()):
        raise invalid_argument("metadata_prefix values must be strings")
    if not all(isinstance(v, list) for v in any_of.values()):
        raise invalid_argument("metadata_any values must be lists")
    vector = body.get("vector")
    if vector is not None:
        if not vector_allowed:
            raise invalid_argument("vector is not allowed here")
        vector = _vector(vector, "vector")
    if not isinstance(body.get("include_input", True), bool):
        raise invalid_argument("include_input must be true or false")
    min_score = body.get("min_score")
    if min_score is not None and (
        isinstance(min_score, bool) or not isinstance(min_score, (int, float))
        or not -1.0 <= min_score <= 1.0
    ):  # fmt: skip
        raise invalid_argument("min_score must be a number from -1 to 1")
    return VectorQuery(
        vector=vector,
        labels=labels,
        metadata=metadata,
        metadata_prefix=prefixes,
        metadata_any=any_of,
        min_score=None if min_score is None else float(min_score),
        limit=_int(body, "top_k", 10, 1, MAX_TOP_K),
        offset=_int(body, "offset", 0, 0, 10**9),
    )


class Search:
    def __init__(self, service: InteractionService) -> None:
        self.service = service
        self.store = service.store

    async def put_embeddings(self, tenant: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("embeddings"), list):
            raise invalid_argument('The body must be {"embeddings": [{"interaction_id", "vector"}]}')
        items = body["embeddings"]
        if not 1 <= len(items) <= MAX_EMBEDDINGS_PER_REQUEST:
            raise invalid_argument(
                f"embeddings must hold 1 to {MAX_EMBEDDINGS_PER_REQUEST} items"
            )
        vectors: dict[str, list[float]] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("interaction_id"), str):
                raise invalid_argument(f"embeddings[{index}] needs an interaction_id string")
            vectors[item["interaction_id"]] = _vector(item.get("vector"), f"embeddings[{index}].vector")
        try:
            missing = await self.store.put_embeddings(tenant, vectors)
        except NotImplementedError as exc:
            raise invalid_argument(str(exc)) from None
        if missing:
            raise not_found(f"Interaction(s) not found: {', '.join(repr(m) for m in missing[:10])}")
        return {"embedded": len(vectors)}

    async def search(self, tenant: str, body: Any) -> dict[str, Any]:
        from interstate.server.extensions import extended_body

        query = parse_query(body)
        include_input = body.get("include_input", True)
        try:
            hits = await self.store.search(tenant, query)
        except NotImplementedError as exc:
            raise invalid_argument(str(exc)) from None
        return {
            "results": [
                {"score": score, "interaction": extended_body(record, include_input=include_input)}
                for record, score in hits
            ]
        }

    async def delete(self, tenant: str, body: Any) -> dict[str, Any]:
        query = parse_query(body, vector_allowed=False)
        if not (query.labels or query.metadata or query.metadata_prefix or query.metadata_any):
            raise invalid_argument(
                "A delete needs at least one filter (labels, metadata, metadata_prefix or "
                "metadata_any); it never deletes a whole tenant"
            )
        deleted = 0
        query.limit, query.offset = MAX_TOP_K, 0
        try:
            while deleted < MAX_DELETE:
                hits = await self.store.search(tenant, query)
                if not hits:
                    break
                for record, _ in hits:
                    try:
                        await self.service.delete(tenant, record.id)
                    except ServiceError:  # deleted meanwhile
                        continue
                    deleted += 1
                if len(hits) < query.limit:
                    break
        except NotImplementedError as exc:
            raise invalid_argument(str(exc)) from None
        remaining = bool(await self.store.search(tenant, query)) if deleted >= MAX_DELETE else False
        return {"deleted": deleted, "more": remaining}


def search_routes(endpoint: Callable[..., Any]) -> list[Route]:
    """Routes of the search extension, wrapped by the app's ``endpoint`` (version + auth)."""
    from interstate.server.app import read_json

    @endpoint
    async def embeddings(request: Request, service: InteractionService, tenant: str) -> Response:
        """Attach embeddings to interactions (one each; a new one replaces the old)."""
        return JSONResponse(await Search(service).put_embeddings(tenant, await read_json(request)))

    @endpoint
    async def search(request: Request, service: InteractionService, tenant: str) -> Response:
        """Interactions matching label/metadata filters, ranked by cosine similarity."""
        return JSONResponse(await Search(service).search(tenant, await read_json(request)))

    @endpoint
    async def delete(request: Request, service: InteractionService, tenant: str) -> Response:
        """Delete every interaction matching label/metadata filters."""
        return JSONResponse(await Search(service).delete(tenant, await read_json(request)))

    prefix = "/{version}/interstate"
    return [
        Route(prefix + "/embeddings", embeddings, methods=["POST"]),
        Route(prefix + "/search", search, methods=["POST"]),
        Route(prefix + "/delete", delete, methods=["POST"]),
    ]
