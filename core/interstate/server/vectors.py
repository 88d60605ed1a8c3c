"""Vector helpers for the search extension: packing, cosine similarity, and filter SQL.

Embeddings are stored L2-normalised as little-endian float32 blobs, so cosine similarity is a
dot product. The dot product runs inside SQLite as a registered function (on the store's own
thread, never on the event loop); numpy is used when it is installed, plain Python otherwise.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
import sys
from array import array
from typing import Any

from interstate.server.store.base import VectorQuery

__all__ = ["SQL_FUNCTION", "pack", "dot", "normalize", "filter_sql", "json_path"]

#: Name of the SQLite function computing the dot product of two packed vectors.
SQL_FUNCTION = "interstate_dot"
_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


def normalize(vector: list[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else [0.0 for _ in vector]


def pack(vector: list[float]) -> bytes:
    """A unit-length copy of ``vector`` as little-endian float32 bytes."""
    data = array("f", normalize(vector))
    if sys.byteorder == "big":  # pragma: no cover
        data.byteswap()
    return data.tobytes()


def _unpack(blob: bytes) -> array:  # type: ignore[type-arg]
    data = array("f")
    data.frombytes(blob)
    if sys.byteorder == "big":  # pragma: no cover
        data.byteswap()
    return data


def dot(a: bytes | None, b: bytes | None) -> float | None:
    """Dot product of two packed vectors (their cosine similarity); None if they differ in size."""
    if a is None or b is None or len(a) != len(b) or not a:
        return None
    np = _numpy()
    if np is not None:
        return float(np.frombuffer(a, dtype="<f4") @ np.frombuffer(b, dtype="<f4"))
    return float(sum(map(operator.mul, _unpack(a), _unpack(b))))


@functools.cache
def _numpy() -> Any:
    """numpy, an optional speed-up (interstate does not depend on it), or None; imported on the
    first dot product, not with the module: it takes longer to import than the server to open."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy ships with every framework extra
        return None
    return numpy


def json_path(key: str) -> str:
    """A dotted metadata key (``meta.topic``) as an SQLite JSON path (``$."meta"."topic"``)."""
    segments = key.split(".")
    if not all(_KEY_SEGMENT.match(s) for s in segments):
        raise ValueError(
            f"metadata key {key!r} must be dot-separated names of letters, digits, _ and -"
        )
    return "$" + "".join(f'."{s}"' for s in segments)


def _scalar(value: Any) -> Any:
    """A JSON value as ``json_extract`` returns it (booleans 0/1, objects/arrays as JSON text)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def filter_sql(tenant: str, query: VectorQuery, *, table: str) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) for the filters of ``query`` on ``table``.

    Raises ``ValueError`` for a malformed key."""
    t = table
    where = [f"{t}.tenant = ?", f"{t}.deleted = 0"]
    params: list[Any] = [tenant]
    for key, value in query.labels.items():
        where.append(f"json_extract({t}.labels, ?) = ?")
        params += [f'$."{key}"', value]  # keys are checked by validate_labels: no quotes
    for key, value in query.metadata.items():
        if value is None:
            where.append(f"json_type({t}.metadata, ?) IS NULL")
            params.append(json_path(key))
            continue
        where.append(f"json_extract({t}.metadata, ?) = ?")
        params += [json_path(key), _scalar(value)]
    for key, prefix in query.metadata_prefix.items():
        stem = prefix.rstrip("/")
        if not stem:
            continue
        path = json_path(key)
        where.append(
            f"(json_extract({t}.metadata, ?) = ? OR substr(json_extract({t}.metadata, ?), 1, ?) = ?)"
        )
        params += [path, stem, path, len(stem) + 1, stem + "/"]
    for key, values in query.metadata_any.items():
        if not values:
            where.append("0")
            continue
        where.append(
            f"EXISTS (SELECT 1 FROM json_each({t}.metadata, ?) AS j"
            f" WHERE j.value IN ({', '.join('?' * len(values))}))"
        )
        params += [json_path(key), *(_scalar(v) for v in values)]
    return " AND ".join(where), params
