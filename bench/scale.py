"""LangGraph reads at scale, cold: a store of many threads, each read in a fresh process, against
SqliteSaver on the same data in the same run.

    python bench/scale.py                      # 1,000 threads x 20 turns, 5 fresh processes per read
    python bench/scale.py --threads 200 --turns 10 --runs 3

Fill: every thread is ``--turns`` turns of a chat (a 100-character human message, a 300-character
AI answer; one checkpoint per turn, its messages channel growing by two) written with ``put``
straight to each saver, metadata ``{"user": "u<k>"}`` with 50 users. The same checkpoints go to
SqliteSaver (a file) and to interstate's ``InteractionsSaver`` on the embedded server (a SQLite
file). Each read runs in a new Python process that opens the saver, does the read once (nothing
cached, as in a web app's worker that has not seen the thread) and reports its time, without the
process's start-up and imports; the table gives the median over ``--runs`` processes, the read
and (beside it) opening the saver, which for interstate starts the embedded server.

Reads: ``get_tuple`` of a random thread's latest checkpoint; ``list(None, filter={"user": ...},
limit=5)`` (every thread's checkpoints); ``list(thread, filter=..., limit=5)``.

This covers a part of issue 12 only (no PostgreSQL, HTTP or 1000-turn thread yet).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # keep bench/ off sys.path: "langgraph" is LangGraph

import argparse
import json
import random
import statistics
import subprocess
import tempfile
import time
from typing import Any

USERS = 50

READ = r"""
import json, sys, time
kind, url, op, thread, user = sys.argv[1:6]
if kind == "stock":
    from langgraph.checkpoint.sqlite import SqliteSaver as Saver
    opened = Saver.from_conn_string(url)
else:
    from interstate.langgraph import InteractionsSaver as Saver
    opened = Saver.from_url(url)
start = time.perf_counter()
with opened as saver:
    opened_at = time.perf_counter()
    if op == "get_tuple":
        found = saver.get_tuple({"configurable": {"thread_id": thread}})
        n = len(found.checkpoint["channel_values"]["messages"])
    elif op == "list_all":
        n = len(list(saver.list(None, filter={"user": user}, limit=5)))
    else:
        n = len(list(saver.list({"configurable": {"thread_id": thread}}, filter={"user": user}, limit=5)))
    done = time.perf_counter()
print(json.dumps({"open": opened_at - start, "read": done - opened_at, "n": n}))
"""


def fill(saver: Any, threads: int, turns: int) -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.base import create_checkpoint, empty_checkpoint

    for t in range(threads):
        config: dict[str, Any] = {"configurable": {"thread_id": f"thread-{t}", "checkpoint_ns": ""}}
        messages: list[Any] = []
        checkpoint = empty_checkpoint()
        for turn in range(turns):
            messages = messages + [HumanMessage("h" * 100, id=f"h-{t}-{turn}"),
                                   AIMessage("a" * 300, id=f"a-{t}-{turn}")]  # fmt: skip
            checkpoint = create_checkpoint(checkpoint, None, turn)
            checkpoint["channel_values"] = {"messages": messages}
            checkpoint["channel_versions"] = {"messages": turn + 1}
            metadata = {"source": "loop", "step": turn, "user": f"u{t % USERS}"}
            config = saver.put(config, checkpoint, metadata, {"messages": turn + 1})


def measure(kind: str, url: str, op: str, runs: int, threads: int,
            rng: random.Random) -> tuple[float, float]:  # fmt: skip
    """Median (open, read) seconds over ``runs`` fresh processes."""
    opens, reads = [], []
    for _ in range(runs):
        thread = f"thread-{rng.randrange(threads)}"
        user = f"u{rng.randrange(USERS)}"
        out = subprocess.run([sys.executable, "-c", READ, kind, url, op, thread, user],
                             capture_output=True, text=True, check=True)  # fmt: skip
        answer = json.loads(out.stdout.strip().splitlines()[-1])
        opens.append(answer["open"])
        reads.append(answer["read"])
    return statistics.median(opens), statistics.median(reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from langgraph.checkpoint.sqlite import SqliteSaver

    from interstate.langgraph import InteractionsSaver

    work = Path(tempfile.mkdtemp(prefix="interstate-scale-"))
    stock_path, ours_url = str(work / "stock.db"), f"sqlite:///{work / 'interstate.db'}"
    started = time.perf_counter()
    with SqliteSaver.from_conn_string(stock_path) as stock:
        fill(stock, args.threads, args.turns)
    with InteractionsSaver.from_url(ours_url) as ours:
        fill(ours, args.threads, args.turns)
    print(f"filled {args.threads} threads x {args.turns} turns into both in "
          f"{time.perf_counter() - started:.0f} s ({work})")  # fmt: skip

    rows = [("get_tuple, random thread", "get_tuple"),
            ("list(None, filter=user, limit=5)", "list_all"),
            ("list(thread, filter=user, limit=5)", "list_thread")]  # fmt: skip
    print(f"\n{'cold read (fresh process, median of ' + str(args.runs) + ')':<40}"
          f"{'SqliteSaver':>13}{'interstate':>13}{'ratio':>8}   open: stock / interstate")
    for label, op in rows:
        stock_open, stock_s = measure("stock", stock_path, op, args.runs, args.threads, random.Random(1))
        ours_open, ours_s = measure("ours", ours_url, op, args.runs, args.threads, random.Random(1))
        print(f"{label:<40}{stock_s * 1000:>10.1f} ms{ours_s * 1000:>10.1f} ms{ours_s / stock_s:>7.1f}x"
              f"   {stock_open * 1000:.1f} / {ours_open * 1000:.0f} ms")


if __name__ == "__main__":
    main()
