"""Input quotes (interstate extension): text an earlier interaction holds, sent by reference.

Frameworks paste earlier model outputs into new prompts — an AutoGen agent receives the other
agents' replies as its new input, a CrewAI task's prompt quotes the outputs of the tasks before
it. The server already stores those outputs, so a client may send

    {"type": "interstate_quote", "interaction_id": ID, "start"?: int, "end"?: int}

where a content block goes in ``input``. Before anything is stored or sent to a model the block
becomes the text ``output_text[start:end]`` of interaction ``ID`` (the SDK's ``output_text``;
Python slice bounds over code points, defaults 0 and the end), joined to the plain text blocks
directly beside it. The stored input, the provider's prompt and every later read are therefore
exactly what the client would have sent without quoting: a quote saves bytes on the wire only.
"""

from __future__ import annotations

from typing import Any

from interstate.server.errors import failed_precondition, invalid_argument, not_found
from interstate.server.runner import UNFINISHED
from interstate.server.store.base import Store
from interstate.types import InteractionOutput

QUOTE_TYPE = "interstate_quote"
_QUOTE_KEYS = frozenset({"type", "interaction_id", "start", "end"})


#: The fields of a step that hold content blocks, and so may hold quotes.
_CONTENT_FIELDS = ("content", "result")


def has_quotes(steps: list[dict[str, Any]]) -> bool:
    return any(_is_quote(block) for step in steps for field in _CONTENT_FIELDS
               for block in _blocks(step, field))  # fmt: skip


async def resolve_quotes(
    store: Store, tenant: str, steps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``steps`` with every quote replaced by its text; raises a ``ServiceError`` (4xx) when a
    quote is malformed, names an interaction the tenant cannot see, or one still running."""
    texts: dict[str, str] = {}

    async def output_text(interaction_id: str) -> str:
        if interaction_id not in texts:
            record = await store.get(tenant, interaction_id)
            if record is None:
                raise not_found(
                    f"interstate_quote names interaction {interaction_id!r}, which was not found "
                    "(it does not exist, was deleted, belongs to another API key, or was not stored)"
                )
            if record.status in UNFINISHED:
                raise failed_precondition(
                    f"interstate_quote names interaction {interaction_id!r}, which is still "
                    f"{record.status}; quote it once it has finished"
                )
            texts[interaction_id] = InteractionOutput.model_validate(
                {"steps": record.steps}
            ).output_text
        return texts[interaction_id]

    resolved = []
    for step in steps:
        for field in _CONTENT_FIELDS:
            blocks = _blocks(step, field)
            if any(_is_quote(block) for block in blocks):
                step = {**step, field: [block async for block in _joined(blocks, output_text)]}
        resolved.append(step)
    return resolved


async def _joined(blocks: list[Any], output_text: Any) -> Any:
    """Yield ``blocks`` with quotes resolved and joined to the plain text blocks beside them."""
    pending: dict[str, Any] | None = None  # the last plain text block, not yet yielded
    touched = False  # whether ``pending`` ends with a quote (so following text joins it)
    for block in blocks:
        if _is_quote(block):
            text = _slice(block, await output_text(_quote_id(block)))
            pending = {"type": "text", "text": (pending["text"] if pending else "") + text}
            touched = True
        elif _is_plain_text(block):
            if pending is not None and touched:
                pending = {"type": "text", "text": pending["text"] + block["text"]}
            else:
                if pending is not None:
                    yield pending
                pending = block
            touched = False
        else:
            if pending is not None:
                yield pending
            pending, touched = None, False
            yield block
    if pending is not None:
        yield pending


def _blocks(step: Any, field: str) -> list[Any]:
    content = step.get(field) if isinstance(step, dict) else None
    return content if isinstance(content, list) else []


def _is_quote(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == QUOTE_TYPE


def _is_plain_text(block: Any) -> bool:
    return (
        isinstance(block, dict) and block.get("type") == "text"
        and isinstance(block.get("text"), str) and set(block) <= {"type", "text"}
    )


def _quote_id(block: dict[str, Any]) -> str:
    unknown = set(block) - _QUOTE_KEYS
    if unknown:
        raise invalid_argument(
            f"interstate_quote has unknown fields {sorted(unknown)}; it takes interaction_id, "
            "start and end"
        )
    interaction_id = block.get("interaction_id")
    if not isinstance(interaction_id, str) or not interaction_id:
        raise invalid_argument("interstate_quote needs interaction_id: the id of a stored interaction")
    return interaction_id


def _slice(block: dict[str, Any], text: str) -> str:
    bounds = []
    for name, default in (("start", 0), ("end", len(text))):
        value = block.get(name, default)
        if value is None:
            value = default
        if type(value) is float and value.is_integer():  # JSON has one number type
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_argument(f"interstate_quote {name} must be an integer, got {value!r}")
        bounds.append(value)
    start, end = bounds
    if not 0 <= start <= end <= len(text):  # the request is well formed; the text is shorter
        raise failed_precondition(
            f"interstate_quote bounds start={start}, end={end} do not fit the output text of "
            f"{block['interaction_id']!r} ({len(text)} characters); need 0 <= start <= end <= "
            f"{len(text)}"
        )
    return text[start:end]
