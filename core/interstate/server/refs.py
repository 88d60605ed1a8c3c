"""interstate extension: atomic batches of writes, and refs (named pointers to interactions).

* ``POST /{v}/interstate/batch``  apply record / metadata / delete / ref operations atomically
* ``GET  /{v}/interstate/refs``   read refs by name or prefix, optionally with their targets

Built for framework checkpointers (LangGraph's ``InteractionsSaver``): storing a checkpoint is
one batch (record the turn, move the thread's head ref, rewrite bookkeeping on its parent), and
"the latest checkpoint of a thread" is one ref read that returns the interaction itself. The
semantics are in docs/server.md ("Batches and refs").
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interstate.server.errors import ServiceError, invalid_argument
from interstate.server.extensions import extended_body, last_values, _page_size, parse_turn, resolve_turn_quotes
from interstate.server.inputs import check_stored_json, clip
from interstate.server.render import iso
from interstate.server.service import InteractionService
from interstate.server.store.base import InteractionRecord
from interstate.server.store.ops import (
    BatchOp,
    DeleteOp,
    DeleteRefsOp,
    MetadataOp,
    PatchRefOp,
    RecordOp,
    RefQuery,
    SetRefOp,
)

MAX_OPERATIONS = 10_000
MAX_REF_NAME = 512
#: Control characters (a regex: every batch checks a few names and ids, char by char otherwise).
_CONTROL = re.compile("[\x00-\x1f]")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_argument(f"{what} must be a JSON object")
    return value


def _stored(value: Any, what: str) -> dict[str, Any]:
    """A JSON object to store as metadata (no NUL characters: see ``check_stored_json``)."""
    check_stored_json(_object(value, what), what)
    return value


def _string(value: Any, what: str, *, limit: int = MAX_REF_NAME) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise invalid_argument(f"{what} must be a string of 1 to {limit} characters")
    if _CONTROL.search(value):
        raise invalid_argument(f"{what} must not contain control characters")
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise invalid_argument(f"{name} must be true or false")
    return value


def _record_op(tenant: str, item: dict[str, Any], now: float) -> RecordOp:
    return RecordOp(parse_turn(tenant, item, now), client_id=item.get("id") is not None)


def parse_operations(tenant: str, body: Any) -> list[BatchOp]:
    """The operations of a batch body, validated; 400 (naming the operation) otherwise."""
    body = _object(body, "The request body")
    if body.keys() - {"operations"}:
        raise invalid_argument(f"Unknown field(s): {', '.join(map(clip, sorted(body.keys() - {'operations'})[:10]))}")
    operations = body.get("operations")
    if not isinstance(operations, list) or not 1 <= len(operations) <= MAX_OPERATIONS:
        raise invalid_argument(f"operations must be a list of 1 to {MAX_OPERATIONS} operations")
    now = time.time()
    ops: list[BatchOp] = []
    for index, item in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(item, dict) or len(item) != 1:
            raise invalid_argument(
                f"{where} must be an object with one key: record, patch_metadata, delete, "
                "set_ref, patch_ref or delete_refs"
            )
        (kind, args), = item.items()
        try:
            ops.append(_operation(tenant, kind, _object(args, kind), now))
        except ServiceError as exc:
            raise invalid_argument(f"{where}.{exc.message}") from None
    return ops


#: The arguments of each kind of operation but ``record`` (``extensions.RECORD_FIELDS``).
_ARGUMENTS = {
    "patch_metadata": {"id", "patch", "keep_existing", "missing_ok"},
    "delete": {"ids", "keep_referenced"},
    "set_ref": {"name", "interaction_id", "order_key", "metadata", "force"},
    "patch_ref": {"name", "patch", "keep_existing", "missing_ok"},
    "delete_refs": {"names", "prefix"},
}


def _operation(tenant: str, kind: str, args: dict[str, Any], now: float) -> BatchOp:
    unknown = sorted(args.keys() - _ARGUMENTS.get(kind, args.keys()))
    if unknown:
        raise invalid_argument(f"{kind}: unknown field(s) {', '.join(map(clip, unknown[:10]))}")
    if kind == "record":
        return _record_op(tenant, args, now)
    if kind == "patch_metadata":
        return MetadataOp(
            _string(args.get("id"), "id", limit=200),
            _stored(args.get("patch"), "patch"),
            keep_existing=_flag(args, "keep_existing"),
            missing_ok=_flag(args, "missing_ok"),
        )
    if kind == "delete":
        ids = args.get("ids")
        if not isinstance(ids, list):
            raise invalid_argument("ids must be a list of interaction ids")
        ids = [_string(i, "ids[]", limit=200) for i in ids]
        return DeleteOp(ids, keep_referenced=_flag(args, "keep_referenced"))
    if kind == "set_ref":
        order_key = args.get("order_key")
        metadata = args.get("metadata")
        return SetRefOp(
            _string(args.get("name"), "name"),
            _string(args.get("interaction_id"), "interaction_id", limit=200),
            order_key=None if order_key is None else _string(order_key, "order_key"),
            metadata=None if metadata is None else _stored(metadata, "metadata"),
            force=_flag(args, "force"),
        )
    if kind == "patch_ref":
        return PatchRefOp(
            _string(args.get("name"), "name"),
            _stored(args.get("patch"), "patch"),
            keep_existing=_flag(args, "keep_existing"),
            missing_ok=_flag(args, "missing_ok"),
        )
    if kind == "delete_refs":
        names = [] if args.get("names") is None else args["names"]
        if not isinstance(names, list):
            raise invalid_argument("names must be a list of ref names")
        prefix = args.get("prefix")
        if prefix is not None and not isinstance(prefix, str):
            raise invalid_argument("prefix must be a string")
        if not names and prefix is None:
            raise invalid_argument("name refs to delete (names) or a prefix")
        return DeleteRefsOp([_string(n, "names[]") for n in names], prefix)
    raise invalid_argument(f"{kind}: unknown operation")


class RawJSON(str):
    """JSON text from the database, put into a response as it is (``json_response``)."""


def json_response(content: dict[str, Any]) -> Response:
    """``JSONResponse(content)``, with the ``RawJSON`` values in ``content["refs"][i]`` spliced
    in as they are: a chain read from the database is never decoded and encoded again."""
    nonce = secrets.token_hex(8)
    raws: dict[str, str] = {}
    for body in content.get("refs", []):
        for key, value in body.items():
            if isinstance(value, RawJSON):
                token = f"{nonce}:{len(raws)}"
                raws[json.dumps(token)] = value
                body[key] = token
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for token, value in raws.items():
        text = text.replace(token, value, 1)
    return Response(text.encode("utf-8"), media_type="application/json")


def ref_body(ref: Any, record: InteractionRecord | None, resolve: bool) -> dict[str, Any]:
    out = {
        "name": ref.name,
        "interaction_id": ref.interaction_id,
        "order_key": ref.order_key,
        "metadata": ref.metadata,
        "updated": iso(ref.updated),
    }
    if resolve:
        out["interaction"] = extended_body(record) if record is not None else None
    return out


class Refs:
    def __init__(self, service: InteractionService) -> None:
        self.store = service.store

    async def batch(self, tenant: str, body: Any) -> dict[str, Any]:
        ops = parse_operations(tenant, body)
        for op in ops:
            if isinstance(op, RecordOp):
                await resolve_turn_quotes(self.store, op.record)
        try:
            results = await self.store.apply_batch(tenant, ops)
        except NotImplementedError as exc:
            raise invalid_argument(str(exc)) from None
        return {"results": results}

    async def refs(self, tenant: str, params: dict[str, list[str]]) -> dict[str, Any]:
        one = last_values(params)
        names = [_string(n, "name") for n in params.get("name", [])]
        prefix = one("prefix")
        if not names and prefix is None:
            raise invalid_argument("Name refs (name=..., repeatable) or a prefix (prefix=...)")
        resolve = one("resolve", "false")
        if resolve not in ("true", "false", "chain"):
            raise invalid_argument(f"resolve={resolve!r}: use true, false or chain")
        query = RefQuery(names=names, prefix=prefix, limit=_page_size(one("page_size", "100")),
                         after=one("page_token"))  # fmt: skip
        try:
            rows = await self.store.get_refs(tenant, query, resolve=resolve == "true")
            bodies = [ref_body(ref, rec, resolve == "true") for ref, rec in rows]
            if resolve == "chain":
                for body, (ref, _) in zip(bodies, rows):
                    body["chain"] = RawJSON(await self.store.chain_json(tenant, ref.interaction_id))
        except NotImplementedError as exc:
            raise invalid_argument(str(exc)) from None
        out: dict[str, Any] = {"refs": bodies}
        if len(rows) == query.limit and rows:
            out["next_page_token"] = rows[-1][0].name
        return out


def refs_routes(endpoint: Callable[..., Any]) -> list[Route]:
    """Routes for batches and refs, wrapped by the app's ``endpoint`` (version + auth)."""
    from interstate.server.app import read_json

    @endpoint
    async def batch(request: Request, service: InteractionService, tenant: str) -> Response:
        """Apply record / patch_metadata / delete / set_ref / patch_ref / delete_refs atomically."""
        return JSONResponse(await Refs(service).batch(tenant, await read_json(request)))

    @endpoint
    async def refs(request: Request, service: InteractionService, tenant: str) -> Response:
        """Refs by name or prefix (name order); ``resolve=true`` adds each target interaction,
        ``resolve=chain`` instead the target and its live ancestors, root first (abbreviated:
        ``chain``)."""
        params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, []).append(value)
        return json_response(await Refs(service).refs(tenant, params))

    prefix = "/{version}/interstate"
    return [
        Route(prefix + "/batch", batch, methods=["POST"]),
        Route(prefix + "/refs", refs, methods=["GET"]),
    ]


__all__ = ["Refs", "parse_operations", "refs_routes"]
