"""Which stored interaction wrote which text: input quotes for other agents' replies.

In a group chat every agent's new input is the other agents' replies, and those replies are the
outputs of interactions the shared model client just stored. Sent as text, they are the bulk of
every chained call (each reply travels once more per agent that reads it). An interstate server
takes ``{"type": "interstate_quote", "interaction_id": ID, "end"?: n}`` where a content block
goes and substitutes ``output_text[:n]`` of ``ID`` before anything is stored or shown to the
model, joined with the text blocks beside it (docs/server.md, "Input quotes"). So the model,
the stored input and every later read see exactly the text the client would have sent.

``OutputIndex`` keeps, per server (``scope``), the output text of each completed interaction
as a digest (and for finding a reply inside a longer text, such as a SelectorGroupChat prompt
that flattens the history, its first ``_ANCHOR`` characters):

* filled by every completed model call of this process (``remember``) and by the team state
  store when it reads chains back; the model client also tags the interaction with
  ``{"autogen_output": digest}``, so another process finds it with a metadata lookup;
* ``quote_steps`` rewrites a request's input: a text block that *is* a known output becomes a
  quote; one that *contains* known outputs (at least ``MIN_QUOTE`` characters each) becomes
  text + quote + text pieces, which the server joins back into the one block. A text block with
  a plain text neighbour is left alone: the server would join the neighbours too.

Only texts of at least ``MIN_QUOTE`` characters are quoted: a quote costs about 80 bytes. Only
interstate servers get quotes (``client.supports_extensions``); Google's endpoint never does.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from interstate.client import AsyncClient
from interstate.types import InteractionOutput
from interstate.types.extensions import quote

__all__ = ["MIN_QUOTE", "OUTPUT_KEY", "OutputIndex", "output_text"]

OUTPUT_KEY = "autogen_output"
#: Shortest text worth quoting (a quote block is ~80 bytes of JSON).
MIN_QUOTE = 120
#: Leading characters of an output that locate it inside a longer text.
_ANCHOR = 64
#: Server lookups per call for texts not known in this process (newest first).
MAX_QUOTE_LOOKUPS = 4
_MEMORY_SIZE = 200_000
_QUOTABLE_STEPS = ("user_input", "model_output")

Step = dict[str, Any]


@dataclass(frozen=True)
class _Entry:
    interaction_id: str
    length: int
    #: The quote's ``end``: None for the whole output, else the length of its prefix quoted.
    end: int | None
    anchor: str


_lock = threading.Lock()
#: (scope, digest of a text) -> the output that text is (or the prefix of).
_entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
#: scope -> first _ANCHOR characters -> digests of the texts starting with them.
_anchors: dict[str, dict[str, set[str]]] = {}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def output_text(steps: Sequence[Step]) -> str:
    """The text a quote of an interaction with these output steps resolves to."""
    return InteractionOutput.model_validate({"steps": list(steps)}).output_text


def _store(scope: str, interaction_id: str, text: str, end: int | None) -> None:
    key = (scope, digest(text))
    entry = _Entry(interaction_id, len(text), end, text[:_ANCHOR])
    with _lock:
        _entries[key] = entry
        _entries.move_to_end(key)
        _anchors.setdefault(scope, {}).setdefault(entry.anchor, set()).add(key[1])
        while len(_entries) > _MEMORY_SIZE:
            (old_scope, old_digest), old = _entries.popitem(last=False)
            _drop_anchor(old_scope, old_digest, old.anchor)


def _drop_anchor(scope: str, text_digest: str, anchor: str) -> None:
    digests = _anchors.get(scope, {}).get(anchor)
    if digests is not None:
        digests.discard(text_digest)
        if not digests:
            del _anchors[scope][anchor]


def _recall(scope: str, text: str) -> _Entry | None:
    with _lock:
        return _entries.get((scope, digest(text)))


def _plain(block: Any) -> bool:
    return (isinstance(block, dict) and block.get("type") == "text"
            and isinstance(block.get("text"), str) and set(block) <= {"type", "text"})  # fmt: skip


def _quotable(steps: Iterable[Step]) -> Iterable[tuple[list[Any], int]]:
    """``(content, index)`` of each text block a quote may replace (no plain text neighbour)."""
    for step in steps:
        content = step.get("content")
        if step.get("type") not in _QUOTABLE_STEPS or not isinstance(content, list):
            continue
        for index, block in enumerate(content):
            if not _plain(block) or len(block["text"]) < MIN_QUOTE:
                continue
            if any(0 <= k < len(content) and _plain(content[k]) for k in (index - 1, index + 1)):
                continue
            yield content, index


class OutputIndex:
    """Known output texts of one server, and quoting against them (module docstring)."""

    def __init__(self, client: AsyncClient, scope: str) -> None:
        self.client = client
        self.scope = scope
        self._misses: set[str] = set()
        #: Server lookups made (for tests and benchmarks).
        self.server_lookups = 0

    def remember(self, interaction_id: str, text: str) -> str | None:
        """Note ``interaction_id``'s output text; its digest, or None if too short to quote."""
        if len(text) < MIN_QUOTE:
            return None
        _store(self.scope, interaction_id, text, None)
        # SelectorGroupChat's transcript holds each message right-stripped.
        stripped = text.rstrip()
        if stripped != text and len(stripped) >= MIN_QUOTE:
            _store(self.scope, interaction_id, stripped, len(stripped))
        return digest(text)

    def whole(self, text: str) -> str | None:
        """The interaction whose whole output text is ``text`` (known in this process)."""
        entry = _recall(self.scope, text)
        return entry.interaction_id if entry is not None and entry.end is None else None

    def forget(self, interaction_ids: Iterable[str]) -> None:
        """Drop outputs of interactions that are gone (a quote of them answered 404)."""
        gone = set(interaction_ids)
        with _lock:
            for key, entry in list(_entries.items()):
                if key[0] == self.scope and entry.interaction_id in gone:
                    del _entries[key]
                    _drop_anchor(key[0], key[1], entry.anchor)

    async def quote_steps(
        self, steps: Sequence[Step], *, look_up: bool = True
    ) -> tuple[list[Step], list[str]]:
        """``steps`` with known outputs sent as quotes, and the interactions quoted.

        ``look_up=False`` asks the server nothing (for prompts a framework composed anew, such
        as a speaker-selection prompt, whose whole text is never a model output).
        """
        if not self.client.supports_extensions:
            return list(steps), []
        copies = [{**s, "content": list(s["content"])} if isinstance(s.get("content"), list)
                  else s for s in steps]  # fmt: skip
        places = list(_quotable(copies))
        if look_up:
            await self._look_up([content[index]["text"] for content, index in reversed(places)])
        quoted: list[str] = []
        for content, index in reversed(places):  # right to left: indexes stay valid
            pieces = self._pieces(content[index]["text"])
            if any("interaction_id" in p for p in pieces):
                content[index : index + 1] = pieces
                quoted += [p["interaction_id"] for p in pieces if "interaction_id" in p]
        return copies, quoted

    async def _look_up(self, texts: Sequence[str]) -> None:
        """Ask the server about whole texts this process does not know (a few per call)."""
        asked = 0
        for text in texts:
            text_digest = digest(text)
            if asked >= MAX_QUOTE_LOOKUPS or text_digest in self._misses:
                continue
            if _recall(self.scope, text) is not None:
                continue
            asked += 1
            self.server_lookups += 1
            page = await self.client.interstate.list(metadata={OUTPUT_KEY: text_digest},
                                                     page_size=5)  # fmt: skip
            found = next((i.id for i in page.interactions if i.status == "completed" and i.id),
                         None)  # fmt: skip
            if found is None:
                self._misses.add(text_digest)
            else:
                self.remember(found, text)

    def _pieces(self, text: str) -> list[dict[str, Any]]:
        """``text`` as text and quote blocks (one text block when nothing is known in it)."""
        entry = _recall(self.scope, text)
        if entry is not None:
            return [quote(entry.interaction_id, end=entry.end)]
        # Read without the lock (dict.get is atomic); the candidates are copied under it.
        anchors = _anchors.get(self.scope)
        pieces: list[dict[str, Any]] = []
        start = position = 0
        while anchors and position <= len(text) - MIN_QUOTE:
            found = self._match(text, position, anchors.get(text[position : position + _ANCHOR]))
            if found is None:
                position += 1
                continue
            if position > start:
                pieces.append({"type": "text", "text": text[start:position]})
            pieces.append(quote(found.interaction_id, end=found.end))
            position = start = position + found.length
        if start < len(text):
            pieces.append({"type": "text", "text": text[start:]})
        return pieces

    def _match(self, text: str, position: int, digests: set[str] | None) -> _Entry | None:
        """The longest known output that ``text`` holds at ``position``."""
        if not digests:
            return None
        with _lock:
            candidates = [(d, _entries.get((self.scope, d))) for d in digests]
        best: _Entry | None = None
        for text_digest, entry in candidates:
            if entry is None or (best is not None and entry.length <= best.length):
                continue
            if digest(text[position : position + entry.length]) == text_digest:
                best = entry
        return best
