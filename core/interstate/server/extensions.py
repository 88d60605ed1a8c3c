"""interstate extensions: what Google's managed API has no call for.

All of it lives under ``/{version}/interstate/`` and none of it changes a standard field. Our own
additions to a response sit in one namespaced object, ``"interstate": {...}``.

* ``POST   /{v}/interstate/record``                 store turns that happened elsewhere
* ``GET    /{v}/interstate/interactions``            list/query by labels, metadata, status, tree
* ``GET    /{v}/interstate/interactions/{id}``       one interaction with input and metadata
* ``GET    /{v}/interstate/interactions/{id}/chain`` the whole chain, root first, in one call
* ``PATCH  /{v}/interstate/interactions/{id}/metadata`` merge framework bookkeeping (RFC 7396)
* ``GET    /{v}/interstate/export``                  whole conversation trees as JSON Lines
* ``POST   /{v}/interstate/import``                  the same JSON Lines back in
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any, Callable

from pydantic import ConfigDict, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interstate.server.errors import (
    already_exists,
    failed_precondition,
    id_taken,
    invalid_argument,
    not_found,
)
from interstate.server.inputs import (
    FINISHED_STATUSES,
    check_finished_status,
    check_stored_json,
    clip,
    integral_floats,
    loads,
)
from interstate.server.quotes import has_quotes, resolve_quotes
from interstate.server.render import ECHOED_CONFIG, interaction_body
from interstate.server.runner import UNFINISHED
from interstate.server.service import InteractionService, new_interaction_id, validation_message
from interstate.server.strict import check_create_body, check_value
from interstate.server.store.base import KIND_MODEL, KIND_RECORD, InteractionRecord, ListQuery
from interstate.types import (
    CreateInteractionRequest,
    InteractionStatus,
    Step,
    normalize_input,
    validate_labels,
)

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
MAX_PAGE_SIZE = 1000
EXPORT_FORMAT = "interstate.export.v1"
#: The ``Content-Type`` values an import body may have (or none).
IMPORT_MEDIA_TYPES = ("application/x-ndjson", "application/jsonl", "application/json")
_STEP_LIST: TypeAdapter[list[Any]] = TypeAdapter(list[Step], config=ConfigDict(defer_build=True))


#: The fields of a recorded turn (``/record`` and a batch's ``record``).
RECORD_FIELDS = frozenset({"id", "input", "steps", "previous_interaction_id", "model", "status",
                           "labels", "metadata", "usage", *ECHOED_CONFIG})  # fmt: skip
#: The type of ``agent_config`` (a recorded turn's is checked on its own).
_AGENT_CONFIG_TYPE = CreateInteractionRequest.model_fields["agent_config"].annotation
AGENT_CONFIG: TypeAdapter[Any] = TypeAdapter(_AGENT_CONFIG_TYPE, config=ConfigDict(defer_build=True))

#: How many ``previous_interaction_id`` values one list may name.
MAX_PARENTS = 100
#: How many label and metadata filters one list may have.
MAX_FILTERS = 64
#: What a filter key may not hold (they become JSON paths in the stores).
_BAD_FILTER_KEY = re.compile(r'["\\\x00-\x1f]')


def extended_body(record: InteractionRecord, *, include_input: bool = True) -> dict[str, Any]:
    """The Interaction resource plus interstate's namespaced block."""
    body = interaction_body(record, include_input=include_input)
    body["interstate"] = {
        "kind": record.kind,
        "root_interaction_id": record.root_id,
        "depth": record.depth,
        "metadata": record.metadata,
    }
    return body


def _steps(value: Any, what: str) -> list[dict[str, Any]]:
    """Validated steps of a recorded or imported turn (``None``: none)."""
    try:
        if what.endswith("input"):
            steps = [step.to_wire() for step in normalize_input(value)]
        else:
            parsed = _STEP_LIST.validate_python([] if value is None else value, strict=True)
            steps = [step.to_wire() for step in parsed]
    except (ValidationError, ValueError) as exc:
        raise invalid_argument(f"{what}: {validation_message(exc)}") from None
    return steps


def json_object(value: Any, what: str) -> dict[str, Any]:
    """``value``, a JSON object (``None``: an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_argument(f"{what} must be a JSON object")
    return value


def parse_turn(tenant: str, item: Any, now: float) -> InteractionRecord:
    """A recorded turn (``/record``, a batch's ``record``), each field checked as strictly as a
    create's; its ``parent_id`` as given (the caller resolves it), its quotes unresolved."""
    if not isinstance(item, dict):
        raise invalid_argument("Each recorded turn must be a JSON object")
    unknown = sorted(set(item) - RECORD_FIELDS)
    if unknown:
        raise invalid_argument(f"Unknown field(s) of a recorded turn: {', '.join(map(clip, unknown[:10]))}")
    status = check_finished_status(item.get("status", InteractionStatus.COMPLETED))
    interaction_id = item.get("id")
    if interaction_id is None:
        interaction_id = new_interaction_id()
    elif not isinstance(interaction_id, str) or not _CLIENT_ID.match(interaction_id):
        raise invalid_argument("id must be 1-200 characters of letters, digits, _ . -")
    labels = json_object(item.get("labels"), "labels")
    metadata = json_object(item.get("metadata"), "metadata")
    try:
        validate_labels(labels)
    except ValueError as exc:
        raise invalid_argument(f"labels: {exc}") from None
    check_stored_json(metadata, "metadata")
    parent_id = item.get("previous_interaction_id")
    if parent_id is not None and not isinstance(parent_id, str):
        raise invalid_argument("previous_interaction_id must be a string")
    model = item.get("model")
    if model is not None and not isinstance(model, str):
        raise invalid_argument("model must be a string")
    usage = item.get("usage")
    if usage is not None:
        check_stored_json(json_object(usage, "usage"), "usage")
    config = {k: item[k] for k in ECHOED_CONFIG if item.get(k) is not None}
    # The echoed configuration and the input have the shapes a create allows (agent_config
    # is checked alone: a create refuses it beside a model).
    created = {"model": model or "interstate-record", "input": item.get("input"),
               **{k: v for k, v in config.items() if k != "agent_config"}}  # fmt: skip
    if "agent_config" in config:
        check_value(config["agent_config"], _AGENT_CONFIG_TYPE, "agent_config")
    try:
        CreateInteractionRequest.model_validate(integral_floats(check_create_body(created)), strict=True)
        if "agent_config" in config:
            AGENT_CONFIG.validate_python(integral_floats(config["agent_config"]), strict=True)
    except (ValidationError, ValueError) as exc:
        raise invalid_argument(validation_message(exc)) from None
    check_value(item.get("steps"), list[Step], "steps")
    return InteractionRecord(
        id=interaction_id,
        tenant=tenant,
        kind=KIND_RECORD,
        status=status,
        created=now,
        updated=now,
        parent_id=parent_id or None,
        root_id=interaction_id,
        depth=0,
        model=model or "interstate-record",
        config=config,
        input=_steps(item.get("input"), "input"),
        steps=_steps(item.get("steps"), "steps"),
        usage=usage,
        labels=labels,
        metadata=metadata,
    )


async def resolve_turn_quotes(store: Any, record: InteractionRecord) -> None:
    """Replace the ``interstate_quote`` blocks of a recorded turn by their text (a stored turn
    holds text), as a create does."""
    for name in ("input", "steps"):
        steps = getattr(record, name)
        if has_quotes(steps):
            setattr(record, name, await resolve_quotes(store, record.tenant, steps))


class Extensions:
    def __init__(self, service: InteractionService) -> None:
        self.service = service
        self.store = service.store

    # -- record -------------------------------------------------------------------------
    async def record(self, tenant: str, body: Any) -> dict[str, Any]:
        """Record one turn (a JSON object) or several (``{"interactions": [...]}``) at once.

        In a batch, a turn may name an earlier turn of the same batch as its parent. Recording is
        idempotent for client-chosen ids: the same turn again returns the stored one.
        """
        if not isinstance(body, dict):
            raise invalid_argument("The request body must be a JSON object")
        items = body.get("interactions") if "interactions" in body else None
        if "interactions" in body and (not isinstance(items, list) or not items or len(body) > 1):
            raise invalid_argument(
                'Record one turn (a JSON object) or several ({"interactions": [turns]}, '
                "a non-empty list and nothing else)"
            )
        pending: dict[str, InteractionRecord] = {}
        records: list[InteractionRecord] = []
        existing: list[InteractionRecord] = []
        for item in items if items is not None else [body]:
            record = await self._record_from(tenant, item, pending)
            same = await self.store.get(tenant, record.id) if "id" in item else None
            if same is not None:
                if (same.input, same.steps, same.parent_id) != (record.input, record.steps, record.parent_id):
                    raise already_exists(
                        f"Interaction {record.id!r} already exists with different content; "
                        "choose another id or omit id to get a generated one"
                    )
                existing.append(same)
                pending[same.id] = same
                continue
            pending[record.id] = record
            records.append(record)
        try:
            if records:
                await self.store.insert_many(records)
        except KeyError:
            raise id_taken("An interaction id in this request") from None
        bodies = [extended_body(r) for r in [*existing, *records]]
        return {"interactions": bodies} if items is not None else bodies[0]

    async def _record_from(
        self, tenant: str, item: Any, pending: dict[str, InteractionRecord]
    ) -> InteractionRecord:
        record = parse_turn(tenant, item, time.time())
        parent_id = record.parent_id
        parent = pending.get(parent_id) if parent_id else None
        if parent_id and parent is None:
            parent = await self.store.get(tenant, parent_id)
            if parent is None:
                raise not_found(f"previous_interaction_id {parent_id!r} was not found")
            if parent.status in UNFINISHED:
                raise failed_precondition(f"previous_interaction_id {parent_id!r} is still running")
        if parent is not None:
            record.root_id, record.depth = parent.root_id, parent.depth + 1
        await resolve_turn_quotes(self.store, record)
        return record

    # -- queries ------------------------------------------------------------------------
    async def list(self, tenant: str, params: dict[str, list[str]]) -> dict[str, Any]:
        one = last_values(params)

        parents = list(dict.fromkeys(params.get("previous_interaction_id", [])))
        if len(parents) > MAX_PARENTS:
            raise invalid_argument(f"At most {MAX_PARENTS} previous_interaction_id values per list")
        if len(params.get("label", [])) + len(params.get("metadata", [])) > MAX_FILTERS:
            raise invalid_argument(f"At most {MAX_FILTERS} label and metadata filters per list")
        query = ListQuery(
            labels=dict(_pairs(params.get("label", []), "label", json_values=False)),
            metadata=dict(_pairs(params.get("metadata", []), "metadata", json_values=True)),
            status=one("status"),
            parent_id=one("previous_interaction_id") if len(parents) == 1 else None,
            parent_ids=tuple(parents) if len(parents) > 1 else (),
            root_id=one("root_interaction_id"),
            leaves_only=_choice(one("leaves", "false"), "leaves", ("true", "false")) == "true",
            descending=_choice(one("order", "desc"), "order", ("asc", "desc")) == "desc",
            limit=_page_size(one("page_size")),
            after=_decode_token(one("page_token")),
        )
        records = await self.store.list(tenant, query)
        include_input = _choice(one("include_input", "false"), "include_input", ("true", "false"))
        out: dict[str, Any] = {
            "interactions": [extended_body(r, include_input=include_input == "true") for r in records]
        }
        if len(records) == query.limit:
            out["next_page_token"] = f"{records[-1].created!r}/{records[-1].id}"
        return out

    async def get(self, tenant: str, interaction_id: str) -> dict[str, Any]:
        return extended_body(await self.service.load(tenant, interaction_id))

    async def chain(self, tenant: str, interaction_id: str) -> dict[str, Any]:
        await self.service.load(tenant, interaction_id)
        chain = [r for r in await self.store.chain(tenant, interaction_id) if not r.deleted]
        return {"interactions": [extended_body(r) for r in chain]}

    async def merge_metadata(self, tenant: str, interaction_id: str, patch: Any) -> dict[str, Any]:
        if not isinstance(patch, dict):
            raise invalid_argument("The metadata patch must be a JSON object")
        check_stored_json(patch, "metadata")
        record = await self.store.merge_metadata(tenant, interaction_id, patch)
        if record is None:
            raise not_found(f"Interaction {interaction_id!r} was not found")
        return extended_body(record)

    # -- export / import ----------------------------------------------------------------
    async def export(self, tenant: str, ids: list[str]) -> list[dict[str, Any]]:
        """Every tree containing one of ``ids``, parents before children, as export lines."""
        if not ids:
            raise invalid_argument("Name at least one interaction: ?id=...")
        lines: list[dict[str, Any]] = []
        roots: list[str] = []
        for interaction_id in ids:
            root_id = (await self.service.load(tenant, interaction_id)).root_id
            if root_id not in roots:
                roots.append(root_id)
        for root_id in roots:
            root = await self.store.get(tenant, root_id)
            tree = ([root] if root else []) + await self.store.descendants(tenant, root_id)
            lines += [_export_line(r) for r in tree]
        return lines

    async def import_lines(self, tenant: str, text: str) -> dict[str, Any]:
        records: list[InteractionRecord] = []
        known: dict[str, InteractionRecord] = {}
        skipped = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = _import_record(tenant, loads(line))
            except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
                message = clip(exc.args[0]) if isinstance(exc, KeyError) else str(exc)[:200]
                raise invalid_argument(f"Import line {number} is not an export line: {message}") from None
            existing = await self.store.get(tenant, record.id)
            if existing is not None:
                if (existing.input, existing.steps) != (record.input, record.steps):
                    raise already_exists(
                        f"Import line {number}: interaction {record.id!r} exists with other content"
                    )
                skipped += 1
                known[record.id] = existing
                continue
            parent = known.get(record.parent_id or "") or (
                await self.store.get(tenant, record.parent_id) if record.parent_id else None
            )
            if record.parent_id and parent is None:
                raise invalid_argument(
                    f"Import line {number}: parent {record.parent_id!r} is neither earlier in "
                    "the file nor stored; export whole trees (parents before children)"
                )
            if parent is not None:
                record.root_id, record.depth = parent.root_id, parent.depth + 1
            known[record.id] = record
            records.append(record)
        if records:
            try:
                await self.store.insert_many(records)
            except KeyError:
                raise id_taken("An interaction id in this import") from None
        return {"imported": len(records), "skipped": skipped}


def _export_line(record: InteractionRecord) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "interaction": interaction_body(record, include_input=True),
        "interstate": {
            "kind": record.kind,
            "created": record.created,
            "updated": record.updated,
            "metadata": record.metadata,
            "provider_state": record.provider_state,
        },
    }


def _import_record(tenant: str, item: dict[str, Any]) -> InteractionRecord:
    if not isinstance(item, dict) or item.get("format") != EXPORT_FORMAT:
        raise ValueError(f"each line must be a JSON object with format {EXPORT_FORMAT!r}")
    body, ext = item["interaction"], item["interstate"]
    if not isinstance(body, dict) or not isinstance(ext, dict):
        raise ValueError("interaction and interstate must be JSON objects")
    status = body["status"]
    if not isinstance(body["id"], str) or not _CLIENT_ID.match(body["id"]):
        raise ValueError("interaction.id must be 1-200 characters of letters, digits, _ . -")
    if status not in FINISHED_STATUSES and status not in UNFINISHED:
        raise ValueError(f"interaction.status {clip(status)} is not an interaction status")
    if ext["kind"] not in (KIND_MODEL, KIND_RECORD):
        raise ValueError(f"interstate.kind must be {KIND_MODEL!r} or {KIND_RECORD!r}")
    created, updated = _time(ext["created"], "created"), _time(ext["updated"], "updated")
    for name, value in (("interaction.labels", body.get("labels")),
                        ("interaction.usage", body.get("usage")),
                        ("interstate.metadata", ext.get("metadata")),
                        ("interstate.provider_state", ext.get("provider_state"))):  # fmt: skip
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{name} must be a JSON object")
    validate_labels(body.get("labels") or {})
    check_stored_json(ext.get("metadata"), "interstate.metadata")
    errors = body.get("errors")
    input_steps = _steps(body.get("input") or [], "input") if body.get("input") else []
    steps = _steps(body.get("steps"), "steps")
    if has_quotes(input_steps) or has_quotes(steps):
        raise ValueError("interstate_quote blocks are not export lines' content; export holds their text")
    if status in UNFINISHED:
        status = InteractionStatus.FAILED
        errors = [{"code": "ABORTED", "message": "Exported while still running"}]
    return InteractionRecord(
        id=body["id"],
        tenant=tenant,
        kind=ext["kind"],
        status=status,
        created=created,
        updated=updated,
        parent_id=body.get("previous_interaction_id"),
        model=body.get("model"),
        agent=body.get("agent"),
        config={k: body[k] for k in ECHOED_CONFIG if body.get(k) is not None},
        input=input_steps,
        steps=steps,
        usage=body.get("usage"),
        errors=errors,
        labels=body.get("labels") or {},
        metadata=ext.get("metadata") or {},
        provider_state=ext.get("provider_state"),
    )


def _time(value: Any, name: str) -> float:
    """A finite number of seconds (an export's ``created``/``updated``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"interstate.{name} must be a finite number of seconds, not {clip(value)}")
    return float(value)


def _choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise invalid_argument(f"{name} must be {' or '.join(allowed)}, not {clip(value)}")
    return value


def _pairs(values: list[str], name: str, *, json_values: bool) -> list[tuple[str, Any]]:
    pairs = []
    for value in values:
        key, sep, raw = value.partition(":")
        if not sep or not key:
            raise invalid_argument(f"{name} filters are KEY:VALUE, got {clip(value)}")
        if _BAD_FILTER_KEY.search(key):
            raise invalid_argument(
                f"{name} filter key {clip(key)} must not contain quotes, backslashes or "
                "control characters"
            )
        if json_values:
            try:
                pairs.append((key, loads(raw)))
            except ValueError:  # JSONDecodeError included
                pairs.append((key, raw))  # a bare string (also "NaN")
        else:
            pairs.append((key, raw))
    return pairs


def last_values(params: dict[str, list[str]]) -> Callable[..., Any]:
    """``one(name, default=None)``: the last value given for ``name`` (an empty one too)."""

    def one(name: str, default: str | None = None) -> str | None:
        values = params.get(name)
        return values[-1] if values else default

    return one


#: A page token as a list returns it: ``<created>/<id>`` (``openapi_params.PAGE_TOKEN``).
_PAGE_TOKEN = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/")


def _page_size(value: str | None) -> int:
    if value is None:
        return 50
    # isascii: "²".isdigit() is true, and int("²") raises (a 500 instead of this 400).
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise invalid_argument(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(value)


def _decode_token(token: str | None) -> tuple[float, str] | None:
    if not token:
        return None
    if not _PAGE_TOKEN.match(token):
        raise invalid_argument("page_token is not one this server returned")
    created, _, interaction_id = token.partition("/")
    return float(created), interaction_id


def extension_routes(endpoint: Callable[..., Any]) -> list[Route]:
    """Routes for the extensions, wrapped by the app's ``endpoint`` (version + auth checks)."""
    from interstate.server.app import check_media_type, read_body, read_json

    def ext(request: Request) -> Extensions:
        return Extensions(request.app.state.service)

    @endpoint
    async def record(request: Request, service: InteractionService, tenant: str) -> Response:
        """Record turns that happened elsewhere, without calling a model."""
        return JSONResponse(await ext(request).record(tenant, await read_json(request)))

    @endpoint
    async def list_interactions(request: Request, service: InteractionService, tenant: str) -> Response:
        """List interactions by label, metadata, status, parent or root; newest first."""
        params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, []).append(value)
        return JSONResponse(await ext(request).list(tenant, params))

    @endpoint
    async def get(request: Request, service: InteractionService, tenant: str) -> Response:
        """One interaction with its input and interstate block (metadata, kind, root, depth)."""
        return JSONResponse(await ext(request).get(tenant, request.path_params["interaction_id"]))

    @endpoint
    async def chain(request: Request, service: InteractionService, tenant: str) -> Response:
        """The chain from its root to this interaction, in one call."""
        return JSONResponse(await ext(request).chain(tenant, request.path_params["interaction_id"]))

    @endpoint
    async def metadata(request: Request, service: InteractionService, tenant: str) -> Response:
        """Merge-patch an interaction's interstate metadata (null removes a key)."""
        patch = await read_json(request)
        interaction_id = request.path_params["interaction_id"]
        return JSONResponse(await ext(request).merge_metadata(tenant, interaction_id, patch))

    @endpoint
    async def export(request: Request, service: InteractionService, tenant: str) -> Response:
        """Export whole conversation trees as JSON Lines."""
        lines = await ext(request).export(tenant, request.query_params.getlist("id"))
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        return Response(text, media_type="application/x-ndjson")

    @endpoint
    async def import_(request: Request, service: InteractionService, tenant: str) -> Response:
        """Import JSON Lines produced by export (ids are kept; identical lines are skipped)."""
        check_media_type(request, *IMPORT_MEDIA_TYPES)
        try:
            text = (await read_body(request)).decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_argument("The import body must be UTF-8 JSON Lines") from None
        return JSONResponse(await ext(request).import_lines(tenant, text))

    prefix = "/{version}/interstate"
    return [
        Route(prefix + "/record", record, methods=["POST"]),
        Route(prefix + "/interactions", list_interactions, methods=["GET"]),
        Route(prefix + "/interactions/{interaction_id}", get, methods=["GET"]),
        Route(prefix + "/interactions/{interaction_id}/chain", chain, methods=["GET"]),
        Route(prefix + "/interactions/{interaction_id}/metadata", metadata, methods=["PATCH"]),
        Route(prefix + "/export", export, methods=["GET"]),
        Route(prefix + "/import", import_, methods=["POST"]),
    ]
