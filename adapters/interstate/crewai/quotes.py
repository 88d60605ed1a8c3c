"""Earlier model outputs found inside new prompts, sent as ``interstate_quote`` references.

CrewAI pastes earlier answers into new prompts: a sequential task's prompt ends with "This is
the context you're working with:" and the outputs of the tasks before it, and memory recall
repeats facts extracted from earlier replies. The server already stores those outputs, so on an
interstate server the LLM sends such a stretch as ``{"type": "interstate_quote",
"interaction_id", "start", "end"}`` instead (``interstate.types.extensions.quote``); the server
puts the text back before anything is stored or shown to the model, so the model sees exactly
the prompt CrewAI wrote.

``OutputIndex`` keeps recent outputs (interaction id → ``output_text``, the text the server
quotes from) and finds where a prompt repeats them. It does not guess how CrewAI extracted a task
output from a reply ("Final Answer:" prefixes, stripping, stop words): it finds any common
stretch. Each output is cut into aligned blocks of ``BLOCK`` characters kept in a dict; any
common stretch of at least ``2 * BLOCK - 1`` characters contains one whole block, so looking up
every position of the prompt finds every candidate, and each hit is extended both ways (binary
search over slice equality, which runs in C) to the longest common stretch. A stretch becomes a
quote only when the reference is smaller than the text it replaces.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from interstate.types.extensions import quote

__all__ = ["BLOCK", "OutputIndex"]

#: Block length of the index; stretches of ``2 * BLOCK - 1`` characters or more are always found.
BLOCK = 32
#: Entries kept per block: repeated text must not make a lookup scan every output.
_HITS_PER_BLOCK = 8
#: What a quote adds besides its own JSON: the text block it splits off and two commas.
_SPLIT_COST = len('{"type":"text","text":""}') + 2


def _json_len(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _common_prefix(a: str, i: int, b: str, j: int) -> int:
    """The largest ``k`` with ``a[i:i + k] == b[j:j + k]``."""
    lo, hi = 0, min(len(a) - i, len(b) - j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i : i + mid] == b[j : j + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, i: int, b: str, j: int, limit: int) -> int:
    """The largest ``k <= limit`` with ``a[i - k:i] == b[j - k:j]``."""
    lo, hi = 0, min(limit, j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i - mid : i] == b[j - mid : j]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class Span:
    """``prompt[start:end] == output_text(interaction_id)[offset:offset + end - start]``."""

    start: int
    end: int
    interaction_id: str
    offset: int


class OutputIndex:
    """Recent outputs (interaction id → text), findable inside new prompts; thread-safe.

    ``max_chars`` bounds the text kept: the outputs used least recently are dropped first.
    """

    def __init__(self, max_chars: int = 1_000_000) -> None:
        self._lock = threading.Lock()
        self._max_chars = max_chars
        self._chars = 0
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._blocks: dict[str, list[tuple[str, int]]] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, interaction_id: str, text: str) -> None:
        """Index ``text``, the ``output_text`` of the completed interaction ``interaction_id``."""
        if len(text) < 2 * BLOCK - 1 or len(text) > self._max_chars:
            return
        with self._lock:
            if interaction_id in self._texts:
                return
            self._texts[interaction_id] = text
            self._chars += len(text)
            for offset in range(0, len(text) - BLOCK + 1, BLOCK):
                hits = self._blocks.setdefault(text[offset : offset + BLOCK], [])
                hits.append((interaction_id, offset))
                del hits[:-_HITS_PER_BLOCK]
            while self._chars > self._max_chars:
                self._drop(next(iter(self._texts)))

    def forget(self, interaction_ids: Iterable[str]) -> None:
        """Stop quoting these interactions (the server refused a quote of one of them)."""
        with self._lock:
            for interaction_id in interaction_ids:
                if interaction_id in self._texts:
                    self._drop(interaction_id)

    def _drop(self, interaction_id: str) -> None:
        text = self._texts.pop(interaction_id)
        self._chars -= len(text)
        for offset in range(0, len(text) - BLOCK + 1, BLOCK):
            key = text[offset : offset + BLOCK]
            hits = [h for h in self._blocks.get(key, ()) if h[0] != interaction_id]
            if hits:
                self._blocks[key] = hits
            else:
                self._blocks.pop(key, None)

    def _spans(self, prompt: str) -> list[Span]:
        """Non-overlapping stretches of ``prompt`` worth quoting, left to right (greedy: at the
        first position with a hit, the longest stretch through it). Call with the lock held."""
        found: list[Span] = []
        floor = i = 0
        while i + BLOCK <= len(prompt):
            best = self._longest(prompt, i, floor)
            if best is not None and self._worth_it(prompt, best):
                found.append(best)
                self._texts.move_to_end(best.interaction_id)
                floor = i = best.end
            else:
                i += 1
        return found

    def _longest(self, prompt: str, i: int, floor: int) -> Span | None:
        best: Span | None = None
        for interaction_id, offset in self._blocks.get(prompt[i : i + BLOCK], ()):
            text = self._texts[interaction_id]
            back = _common_suffix(prompt, i, text, offset, i - floor)
            ahead = _common_prefix(prompt, i + BLOCK, text, offset + BLOCK)
            if best is None or back + BLOCK + ahead > best.end - best.start:
                best = Span(i - back, i + BLOCK + ahead, interaction_id, offset - back)
        return best

    def _worth_it(self, prompt: str, span: Span) -> bool:
        return _json_len(prompt[span.start : span.end]) > _json_len(self._block(span)) + _SPLIT_COST

    def _block(self, span: Span) -> dict[str, Any]:
        end = span.offset + span.end - span.start
        full = len(self._texts[span.interaction_id])
        return quote(span.interaction_id, start=span.offset or None,
                     end=None if end == full else end)  # fmt: skip

    def quote_text(self, prompt: str) -> tuple[list[dict[str, Any]], list[str]]:
        """``prompt`` as content blocks — text, and quotes of the stretches it repeats —
        and the interactions quoted. Without a stretch worth quoting: one text block."""
        blocks: list[dict[str, Any]] = []
        position = 0
        with self._lock:
            spans = self._spans(prompt)
            for span in spans:
                if span.start > position:
                    blocks.append({"type": "text", "text": prompt[position : span.start]})
                blocks.append(self._block(span))
                position = span.end
        if position < len(prompt) or not blocks:
            blocks.append({"type": "text", "text": prompt[position:]})
        return blocks, [span.interaction_id for span in spans]

    def quote_steps(self, steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        """Input steps with the text of their content blocks quoted where it repeats an output,
        and the interactions quoted. Left as given: other steps (function results — the server
        resolves quotes in ``content`` only), other blocks, and a text block with a plain text
        block beside it (the server would join that neighbour to the quoted text too)."""
        out: list[dict[str, Any]] = []
        quoted: list[str] = []
        for step in steps:
            content = step.get("content")
            if isinstance(content, list) and any(_plain(b) for b in content):
                blocks: list[dict[str, Any]] = []
                for n, block in enumerate(content):
                    beside = content[max(n - 1, 0) : n] + content[n + 1 : n + 2]
                    if _plain(block) and not any(_plain(b) for b in beside):
                        pieces, ids = self.quote_text(block["text"])
                        blocks += pieces
                        quoted += ids
                    else:
                        blocks.append(block)
                step = {**step, "content": blocks}
            out.append(step)
        return out, quoted


def _plain(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "text" and set(block) == {"type", "text"}
