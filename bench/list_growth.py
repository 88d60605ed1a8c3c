"""How list latency grows with the store: every list kind on 60k and on 600k interactions.

    python bench/list_growth.py                    # SQLite, 60,000 and 600,000 rows
    python bench/list_growth.py --rows 20000 200000 --postgres

Rows: chains of 20 interactions (threads), each labelled ``app=<one of 10>`` and with metadata
``{"user": "u<one of 500>", "step": n}``, inserted straight into the store (``insert_many``).
Each list is the median of 50 calls (a page of 20, newest first), on a fresh store object per
size: by root (a thread), by parent, by several parents, by label, by metadata, by label and
metadata, and leaves by metadata. The table prints both sizes and their ratio; an index-backed
list stays flat (the goal: under 2x for 10x the rows).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time

from interstate.server.store import open_store
from interstate.server.store.base import KIND_RECORD, InteractionRecord, ListQuery
from interstate.testing import throwaway_postgres

CHAIN = 20


def _rows(start: int, count: int) -> list[InteractionRecord]:
    out = []
    now = time.time()
    for n in range(start, start + count):
        chain, depth = divmod(n, CHAIN)
        iid = f"i{n:08d}"
        out.append(InteractionRecord(
            id=iid, tenant="t", kind=KIND_RECORD, status="completed", created=now + n * 1e-3,
            updated=now, parent_id=f"i{n - 1:08d}" if depth else None,
            root_id=f"i{chain * CHAIN:08d}", depth=depth,
            input=[{"type": "user_input", "content": [{"type": "text", "text": "h" * 100}]}],
            steps=[{"type": "model_output", "content": [{"type": "text", "text": "a" * 300}]}],
            labels={"app": f"a{chain % 10}"}, metadata={"user": f"u{chain % 500}", "step": depth},
        ))  # fmt: skip
    return out


async def fill(url: str, rows: int, already: int) -> None:
    store = await open_store(url)
    try:
        for start in range(already, rows, 10000):
            await store.insert_many(_rows(start, min(10000, rows - start)))
    finally:
        await store.close()


def queries(rows: int, rng: random.Random) -> dict[str, ListQuery]:
    chain = rng.randrange(rows // CHAIN)
    parent = chain * CHAIN + rng.randrange(CHAIN - 1)
    return {
        "by root (a thread)": ListQuery(root_id=f"i{chain * CHAIN:08d}", limit=20),
        "by parent": ListQuery(parent_id=f"i{parent:08d}", limit=20),
        "by 5 parents": ListQuery(parent_ids=tuple(f"i{parent + k * CHAIN:08d}" for k in range(5))
                                  if parent + 5 * CHAIN < rows else (f"i{parent:08d}",), limit=20),
        "by label": ListQuery(labels={"app": f"a{rng.randrange(10)}"}, limit=20),
        "by metadata": ListQuery(metadata={"user": f"u{rng.randrange(500)}"}, limit=20),
        "by label and metadata": ListQuery(labels={"app": "a1"}, metadata={"step": 3}, limit=20),
        "leaves by metadata": ListQuery(metadata={"user": f"u{rng.randrange(500)}"},
                                        leaves_only=True, limit=20),
    }  # fmt: skip


async def measure(url: str, rows: int) -> dict[str, float]:
    store = await open_store(url)
    try:
        if url.startswith("postgres"):  # fresh statistics, as autovacuum would have them
            async with store._pool.connection() as conn:  # type: ignore[attr-defined]
                await conn.execute("ANALYZE")
        times: dict[str, list[float]] = {}
        rng = random.Random(7)
        for _ in range(50):
            for name, query in queries(rows, rng).items():
                start = time.perf_counter()
                await store.list("t", query)
                times.setdefault(name, []).append(time.perf_counter() - start)
        return {name: statistics.median(values) for name, values in times.items()}
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs=2, default=[60000, 600000])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL too (pgserver)")
    args = parser.parse_args()
    small, big = args.rows
    targets = {"SQLite": f"sqlite:///{tempfile.mkdtemp(prefix='interstate-growth-')}/g.db"}
    with contextlib.ExitStack() as stack:
        if args.postgres:
            targets["PostgreSQL"] = stack.enter_context(throwaway_postgres())
        for name, url in targets.items():
            started = time.perf_counter()
            asyncio.run(fill(url, small, 0))
            at_small = asyncio.run(measure(url, small))
            asyncio.run(fill(url, big, small))
            at_big = asyncio.run(measure(url, big))
            print(f"\n{name}: filled {big} rows in {time.perf_counter() - started:.0f} s;"
                  " median list of 20, newest first")  # fmt: skip
            print(f"{'list':<26}{small:>10} rows{big:>10} rows{'growth':>9}")
            for query, seconds in at_small.items():
                print(f"{query:<26}{seconds * 1000:>10.2f} ms{at_big[query] * 1000:>10.2f} ms"
                      f"{at_big[query] / seconds:>8.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
