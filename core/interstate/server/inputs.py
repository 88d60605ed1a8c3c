"""Checks on untrusted input shared by every route: JSON parsing, quoting, stored JSON values.

Bad input must be refused with a 4xx before anything is written, never fail later in a store
(a NaN that SQLite keeps but cannot render back, a NUL that PostgreSQL's ``jsonb`` refuses with
its own error text) or in an error message that echoes a megabyte back.
"""

from __future__ import annotations

import json
import math
import re
import threading
from typing import Any

from interstate.server.errors import invalid_argument
from interstate.types import InteractionStatus

#: How much of a user's value an error message quotes.
QUOTE_CHARS = 100
#: The longest ``x-interstate-idempotency-key`` accepted.
MAX_IDEMPOTENCY_KEY = 256
#: The statuses a recorded or imported finished turn may have.
FINISHED_STATUSES = frozenset({
    InteractionStatus.COMPLETED, InteractionStatus.REQUIRES_ACTION, InteractionStatus.FAILED,
    InteractionStatus.CANCELLED, InteractionStatus.INCOMPLETE, InteractionStatus.BUDGET_EXCEEDED,
})  # fmt: skip
#: A ``\uD800``-``\uDFFF`` escape: the only way a lone surrogate gets into parsed JSON.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def clip(value: Any) -> str:
    """``repr(value)``, cut to about ``QUOTE_CHARS`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "..."


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send finite numbers only")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:QUOTE_CHARS]} is out of range for a number")
    return value


def loads(text: str | bytes) -> Any:
    """Parse JSON as a request body or import line; ``ValueError`` saying what is wrong.

    Refuses what ``json.loads`` lets through but nothing can store or render back: ``NaN`` and
    ``Infinity``, numbers that overflow to infinity, and lone surrogates (``"\\ud800"``)."""
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None
    raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff)") from None
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def integral_floats(value: Any) -> Any:
    """``value`` with every float that is a whole number made an int, for strict validation:
    JSON has one number type, and JSON Schema's ``integer`` takes ``5.0``."""
    if type(value) is float:
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: integral_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_floats(v) for v in value]
    return value


def check_stored_json(value: Any, what: str) -> None:
    """Refuse a NUL character in labels or metadata (PostgreSQL's ``jsonb`` cannot hold one;
    refused on every store, so both behave alike)."""
    if _has_nul(value):
        raise invalid_argument(f"{what} must not contain NUL characters (\\u0000)")


def check_idempotency_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise invalid_argument(
            f"x-interstate-idempotency-key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )


def check_finished_status(status: Any) -> str:
    if not isinstance(status, str) or status not in FINISHED_STATUSES:
        raise invalid_argument(
            f"A recorded turn has finished; status {clip(status)} is not allowed (use "
            + ", ".join(sorted(FINISHED_STATUSES)) + ")"
        )
    return status


class BodyBudget:
    """The bytes of request bodies being read at once, capped: without a cap, many large
    uploads at the same time hold many times the body limit in memory. Thread-safe (embedded
    servers read bodies in their callers' threads too)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Count ``size`` more bytes; False when that passes the cap (they are counted anyway:
        the reader ``give``s back all it read)."""
        with self._lock:
            self.used += size
            return self.used <= self.limit

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size
