"""Wire types of interstate's extensions (``/{version}/interstate/...``), not Google's API."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ._base import WireModel
from .interaction import Interaction

__all__ = [
    "InterstateInfo", "ExtendedInteraction", "InteractionPage", "ScoredInteraction", "SearchResults",
    "Ref", "RefPage", "quote",
]


class InterstateInfo(WireModel):
    """The namespaced block extension responses add to an Interaction."""

    #: ``model`` (a provider ran it) or ``record`` (stored as given).
    kind: str | None = None
    root_interaction_id: str | None = None
    depth: int | None = None
    #: Framework bookkeeping; never shown to a model.
    metadata: dict[str, Any] = Field(default_factory=dict)


class ExtendedInteraction(Interaction):
    """An Interaction as extension routes return it: standard fields plus ``interstate``."""

    interstate: InterstateInfo | None = None


class InteractionPage(WireModel):
    interactions: list[ExtendedInteraction] = Field(default_factory=list)
    next_page_token: str | None = None


class ScoredInteraction(WireModel):
    """One search hit: cosine similarity to the query vector (None for a filter-only query)."""

    score: float | None = None
    interaction: ExtendedInteraction


class SearchResults(WireModel):
    results: list[ScoredInteraction] = Field(default_factory=list)


class Ref(WireModel):
    """A named, movable pointer to an interaction (``GET /{v}/interstate/refs``)."""

    name: str
    interaction_id: str
    #: A ref with an order key only moves forward (to a key at least as large).
    order_key: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    updated: str | None = None
    #: The target with its input and interstate block, when read with ``resolve=True``
    #: (None if it was deleted since).
    interaction: ExtendedInteraction | None = None
    #: With ``resolve="chain"``: the live target and its live ancestors, root first (without
    #: ``interaction``), abbreviated to ``id``, ``previous_interaction_id``, ``status``,
    #: ``labels``, ``input``, ``steps`` and ``interstate`` (``kind``, ``root_interaction_id``,
    #: ``depth``, ``metadata``).
    chain: list[dict[str, Any]] | None = None


class RefPage(WireModel):
    refs: list[Ref] = Field(default_factory=list)
    next_page_token: str | None = None


def quote(interaction_id: str, start: int | None = None, end: int | None = None) -> dict[str, Any]:
    """An ``interstate_quote`` input block: text an earlier interaction already holds, by reference.

    Put it in a create's ``input`` where a content block goes; an interstate server replaces it,
    before anything is stored or sent to a model, with ``output_text[start:end]`` of the named
    interaction (the SDK's ``output_text``) joined to the text blocks beside it, so the model
    sees exactly the text the client would otherwise have sent. Only interstate servers accept
    it (``client.supports_extensions``); Google's endpoint does not.
    """
    block: dict[str, Any] = {"type": "interstate_quote", "interaction_id": interaction_id}
    if start is not None:
        block["start"] = start
    if end is not None:
        block["end"] = end
    return block
