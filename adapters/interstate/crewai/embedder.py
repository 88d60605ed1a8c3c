"""Offline embedders for CrewAI memory.

CrewAI's ``Memory`` needs an embedder for every save and recall, and its default (OpenAI's
``text-embedding-3-large``) needs the network and a key. ``HashingEmbedder`` is the default that
``interstate.crewai.enable()`` installs:

* **what it is** — feature hashing: lower-cased word unigrams and bigrams plus character
  trigrams of each word, hashed with BLAKE2b into ``dimensions`` signed buckets, sublinear
  (log) term weights, L2-normalised. No model, no weights, no dependency, no network; the same
  text gives the same vector in every process, on every machine, in every Python version
  (BLAKE2b, not ``hash()``), so vectors stored by one process are searchable by another.
* **the trade-off** — it measures *lexical* overlap, not meaning: "capital of France" finds
  "Paris is the capital of France" (shared words) but not "France's seat of government is
  Paris" as well as a neural model would, and it knows no synonyms or other languages'
  equivalents. Character trigrams give some robustness to inflection and typos
  ("capitals" ~ "capital"). Memories saved with one embedder are only comparable with vectors
  of the same embedder: switching embedders means re-embedding (``InteractionsStorage``
  simply finds no candidates of another dimension).
* **when to use something else** — for semantic recall, pass any callable
  ``fn(list[str]) -> list[list[float]]`` as ``enable(embedder=...)`` (a local model, Ollama,
  an API); CrewAI's own embedder configs work too (``Crew(embedder={...})``).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Sequence

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """A deterministic, dependency-free text embedder (see the module docstring)."""

    def __init__(self, dimensions: int = 384, *, char_ngrams: int = 3) -> None:
        if dimensions < 8:
            raise ValueError("dimensions must be at least 8")
        self.dimensions = dimensions
        self.char_ngrams = char_ngrams

    def __repr__(self) -> str:
        return f"HashingEmbedder(dimensions={self.dimensions})"

    def _features(self, text: str) -> dict[str, float]:
        words = [w.lower() for w in _WORD.findall(text)]
        counts: dict[str, float] = {}

        def add(feature: str, weight: float) -> None:
            counts[feature] = counts.get(feature, 0.0) + weight

        for index, word in enumerate(words):
            add("w:" + word, 1.0)
            if index:
                add("b:" + words[index - 1] + " " + word, 0.5)
            padded = f"<{word}>"
            n = self.char_ngrams
            if n and len(padded) > n:
                for start in range(len(padded) - n + 1):
                    add("c:" + padded[start : start + n], 0.25)
        return counts

    def embed(self, text: str) -> list[float]:
        """The unit-length vector of one text (all zeros for text without words)."""
        vector = [0.0] * self.dimensions
        for feature, count in self._features(text).items():
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            bucket = value % self.dimensions
            sign = 1.0 if (value >> 63) & 1 else -1.0
            vector[bucket] += sign * (1.0 + math.log(count)) if count >= 1 else sign * count
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    def __call__(self, input: Sequence[str]) -> list[list[float]]:  # noqa: A002 - chromadb's name
        """CrewAI calls ``embedder(list_of_texts)``."""
        if isinstance(input, str):
            return [self.embed(input)]
        return [self.embed(text) for text in input]
