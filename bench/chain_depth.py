"""A chained create at depth 1000 against one at depth 1: what re-reading the chain would cost.

    python bench/chain_depth.py                 # 25 creates per depth and target
    python bench/chain_depth.py --creates 51 --depth 2000 --targets "embedded sqlite"

For each target (embedded SQLite, embedded PostgreSQL on a pgserver cluster, and ``interstate
serve`` on loopback over SQLite and over PostgreSQL) two chains are recorded with the ``record``
extension — one of depth 1, one of ``--depth`` turns, each turn a user input and a model output
of a few hundred characters — and then ``--creates`` model turns (scripted model, not streamed)
are created with ``previous_interaction_id`` = each chain's head (forks of the same head, so
every one runs at the same depth). The table gives the median latency per depth and their
ratio, and the first create on the deep chain alone ("cold": its process has not read the chain
yet, so it reads it once). Numbers only — nothing is asserted. ``rows()`` returns the rows for
other scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # keep bench/ off sys.path: "langgraph" is LangGraph

import argparse
import contextlib
import statistics
import tempfile
import time
from typing import Any, Callable, NamedTuple, Sequence

from interstate.client import Client
from interstate.testing import ServerProcess
from interstate.testing import throwaway_postgres as postgres_url

MODEL = "scripted-bench"
TARGETS = ("embedded sqlite", "embedded postgres", "http sqlite", "http postgres")
_TEXT = "Some words of a realistic turn, repeated to a few hundred characters. " * 4


class Row(NamedTuple):
    target: str
    #: Median milliseconds of a chained create at depth 1 and at the deep depth.
    shallow_ms: float
    deep_ms: float
    #: The first create on the deep chain (it reads the chain once).
    cold_ms: float

    @property
    def ratio(self) -> float:
        return self.deep_ms / self.shallow_ms


def _record_chain(client: Client, prefix: str, depth: int) -> str:
    """Record a chain of ``depth`` turns below a root; the head's id."""
    turns: list[dict[str, Any]] = []
    for i in range(depth + 1):
        turn: dict[str, Any] = {
            "id": f"{prefix}-{i}",
            "input": [{"type": "user_input", "content": [{"type": "text", "text": f"{i} {_TEXT}"}]}],
            "steps": [{"type": "model_output", "content": [{"type": "text", "text": _TEXT}]}],
        }
        if i:
            turn["previous_interaction_id"] = f"{prefix}-{i - 1}"
        turns.append(turn)
    for start in range(0, len(turns), 500):
        client.interstate.record_many(turns[start : start + 500])
    return f"{prefix}-{depth}"


def _create_ms(client: Client, parent: str) -> float:
    started = time.perf_counter()
    client.interactions.create(model=MODEL, input="hello", previous_interaction_id=parent)
    return (time.perf_counter() - started) * 1000


def measure(client: Client, target: str, *, depth: int, creates: int) -> Row:
    stamp = f"{int(time.time() * 1000):x}"
    shallow = _record_chain(client, f"shallow-{stamp}", 1)
    deep = _record_chain(client, f"deep-{stamp}", depth)
    cold = _create_ms(client, deep)
    _create_ms(client, shallow)
    deep_times, shallow_times = [], []
    for _ in range(creates):  # interleaved, so that drift affects both depths alike
        shallow_times.append(_create_ms(client, shallow))
        deep_times.append(_create_ms(client, deep))
    return Row(target, statistics.median(shallow_times), statistics.median(deep_times), cold)


def rows(
    *,
    depth: int = 1000,
    creates: int = 25,
    targets: Sequence[str] = TARGETS,
    report: Callable[[str], None] = lambda message: None,
) -> list[Row]:
    """One ``Row`` per target that could run; ``report`` hears why one could not."""
    out: list[Row] = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="interstate-bench-")))
        pg: str | None = None
        if any("postgres" in t for t in targets):
            try:
                pg = stack.enter_context(postgres_url())
            except Exception as exc:  # no pgserver, or it could not start a cluster here
                report(f"PostgreSQL skipped: pgserver could not start ({exc!r})")
        for target in targets:
            kind, _, db = target.partition(" ")
            if db == "postgres" and pg is None:
                continue
            url = pg if db == "postgres" else f"sqlite:///{workdir / (kind + '.db')}"
            assert url is not None
            if kind == "embedded":
                with Client.from_url(url) as client:
                    out.append(measure(client, target, depth=depth, creates=creates))
                continue
            args = ["--no-auth", "--provider", "scripted"]
            with ServerProcess(url, args, workdir / "serve.log").start() as server:
                with Client.from_url(server.url) as client:
                    out.append(measure(client, target, depth=depth, creates=creates))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=1000, help="depth of the deep chain")
    parser.add_argument("--creates", type=int, default=25, help="creates per depth and target")
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated, of: {', '.join(TARGETS)}")  # fmt: skip
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {', '.join(TARGETS)}")
    results = rows(depth=args.depth, creates=args.creates, targets=targets, report=print)
    headers = ("target", "depth 1 ms", f"depth {args.depth} ms", "ratio", "cold ms")
    table = [(r.target, f"{r.shallow_ms:.2f}", f"{r.deep_ms:.2f}", f"{r.ratio:.2f}x",
              f"{r.cold_ms:.1f}") for r in results]  # fmt: skip
    widths = [max(len(h), *(len(line[i]) for line in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)))
    print(f"medians of {args.creates} creates per depth (scripted model, not streamed); "
          "cold: the first create on the deep chain, which reads it once")  # fmt: skip


if __name__ == "__main__":
    main()
