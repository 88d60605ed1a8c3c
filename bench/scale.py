"""LangGraph reads at scale, cold: a store of many threads, each read in a fresh process, against
the stock savers on the same data in the same run.

    python bench/scale.py                       # 1,000 threads x 20 turns + 300- and 1000-turn threads
    python bench/scale.py --threads 200 --runs 3 --no-postgres

Fill: every thread is ``--turns`` turns of a chat (a 100-character human message, a 300-character
AI answer; one checkpoint per turn, its messages channel growing by two) written with ``put``
straight to each saver, metadata ``{"user": "u<k>"}`` with 50 users; plus one thread of 300 and
one of 1000 turns. The same checkpoints go to SqliteSaver (a file), interstate's
``InteractionsSaver`` on a SQLite file, and — unless ``--no-postgres`` — PostgresSaver and
interstate on PostgreSQL (``$INTERSTATE_BENCH_POSTGRES_URL``, or a throw-away pgserver; the same
server for both). interstate is read embedded and over HTTP (an ``interstate serve`` process on
the same database).

Each read runs in a new Python process that opens the saver, does the read once (nothing cached
here, as in a web app's worker that has not seen the thread) and reports its time, without the
process's start-up and imports; the table gives the median over ``--runs`` processes and the
ratio to the stock saver of the same database. A second, 10x smaller store (same shape) shows
how each read grows with the store. The chained-create row comes from ``bench/chain_depth.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # keep bench/ off sys.path: "langgraph" is LangGraph

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any, Iterator

from interstate.testing import throwaway_postgres

USERS = 50
LONG = (300, 1000)

#: Opens ``kind``'s saver on ``url`` as ``opened`` (the start of both child scripts).
OPEN = r"""
if kind == "sqlite":
    from langgraph.checkpoint.sqlite import SqliteSaver
    opened = SqliteSaver.from_conn_string(url)
elif kind == "postgres":
    from langgraph.checkpoint.postgres import PostgresSaver
    opened = PostgresSaver.from_conn_string(url)
else:
    from interstate.langgraph import InteractionsSaver
    opened = InteractionsSaver.from_url(url)
"""

READ = r"""
import json, sys, time
kind, url, op, thread, user = sys.argv[1:6]
OPEN
if op == "get_state":
    from langgraph.graph import START, MessagesState, StateGraph
start = time.perf_counter()
with opened as saver:
    opened_at = time.perf_counter()
    config = {"configurable": {"thread_id": thread}}
    if op == "get_state":
        graph = StateGraph(MessagesState).add_node("n", lambda s: {}).add_edge(START, "n")
        compiled = graph.compile(checkpointer=saver)
        opened_at = time.perf_counter()
        n = len(compiled.get_state(config).values["messages"])
    elif op == "get_tuple":
        n = len(saver.get_tuple(config).checkpoint["channel_values"]["messages"])
    elif op == "list_all":
        n = len(list(saver.list(None, filter={"user": user}, limit=5)))
    else:
        n = len(list(saver.list(config, filter={"user": user}, limit=5)))
    done = time.perf_counter()
print(json.dumps({"open": opened_at - start, "read": done - opened_at, "n": n}))
""".replace("OPEN\n", OPEN)

#: (label, op, thread chooser)
READS = [
    ("get_tuple, random 20-turn thread", "get_tuple", None),
    ("get_state, 300-turn thread", "get_state", "long-300"),
    ("get_state, 1000-turn thread", "get_state", "long-1000"),
    ("list(None, filter=user, limit=5)", "list_all", None),
    ("list(thread, filter=user, limit=5)", "list_thread", None),
]


def fill_thread(saver: Any, thread_id: str, turns: int, user: str) -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.base import create_checkpoint, empty_checkpoint

    config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    messages: list[Any] = []
    checkpoint = empty_checkpoint()
    for turn in range(turns):
        messages = messages + [HumanMessage("h" * 100, id=f"h-{thread_id}-{turn}"),
                               AIMessage("a" * 300, id=f"a-{thread_id}-{turn}")]  # fmt: skip
        checkpoint = create_checkpoint(checkpoint, None, turn)
        checkpoint["channel_values"] = {"messages": messages}
        checkpoint["channel_versions"] = {"messages": turn + 1}
        metadata = {"source": "loop", "step": turn, "user": user}
        config = saver.put(config, checkpoint, metadata, {"messages": turn + 1})


def fill(saver: Any, threads: int, turns: int, long: bool) -> None:
    for t in range(threads):
        fill_thread(saver, f"thread-{t}", turns, f"u{t % USERS}")
    for size in LONG if long else ():
        fill_thread(saver, f"long-{size}", size, "u0")


def measure(kind: str, url: str, op: str, thread: str | None, runs: int, threads: int,
            seed: int) -> tuple[float, float]:  # fmt: skip
    """Median (open, read) seconds over ``runs`` fresh processes."""
    rng = random.Random(seed)
    opens, reads = [], []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(runs):
        chosen = thread or f"thread-{rng.randrange(threads)}"
        user = f"u{rng.randrange(USERS)}"
        out = subprocess.run([sys.executable, "-c", READ, kind, url, op, chosen, user],
                             capture_output=True, text=True, env=env)  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"{kind} {op} failed:\n{out.stderr[-3000:]}")
        answer = json.loads(out.stdout.strip().splitlines()[-1])
        opens.append(answer["open"])
        reads.append(answer["read"])
    return statistics.median(opens), statistics.median(reads)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def http_server(db: str) -> Iterator[str]:
    """``interstate serve`` on ``db``, on a free loopback port."""
    port = _free_port()
    serve = "import sys; from interstate.cli import main; sys.argv[0] = 'interstate'; main()"
    db = db[len("sqlite:///"):] if db.startswith("sqlite:///") else db
    process = subprocess.Popen([sys.executable, "-c", serve, "serve", "--db", db, "--no-auth",
                                "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(300):
            try:
                httpx.get(url + "/v1beta/interactions?page_size=1", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError(f"interstate serve failed: {process.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    base, _, query = admin_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name
    return url + ("?" + query if query else "")


def fill_all(work: Path, threads: int, turns: int, long: bool, pg_admin: str | None,
             tag: str) -> dict[str, tuple[str, str]]:  # fmt: skip
    """Fill every store; ``{target: (kind, url)}`` (HTTP targets are added by the caller)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from interstate.langgraph import InteractionsSaver

    stores = {"SqliteSaver": ("sqlite", str(work / f"stock-{tag}.db")),
              "SQLite embedded": ("interstate", f"sqlite:///{work / f'interstate-{tag}.db'}")}  # fmt: skip
    started = time.perf_counter()
    with SqliteSaver.from_conn_string(stores["SqliteSaver"][1]) as saver:
        fill(saver, threads, turns, long)
    with InteractionsSaver.from_url(stores["SQLite embedded"][1]) as ours:
        fill(ours, threads, turns, long)
    if pg_admin is not None:
        from langgraph.checkpoint.postgres import PostgresSaver

        stores["PostgresSaver"] = ("postgres", _database(pg_admin, f"stock_{tag}"))
        stores["PostgreSQL embedded"] = ("interstate", _database(pg_admin, f"interstate_{tag}"))
        with PostgresSaver.from_conn_string(stores["PostgresSaver"][1]) as saver:
            saver.setup()
            fill(saver, threads, turns, long)
        with InteractionsSaver.from_url(stores["PostgreSQL embedded"][1]) as ours:
            fill(ours, threads, turns, long)
    print(f"filled {threads} threads x {turns} turns{' + 300/1000-turn threads' if long else ''}"
          f" into {len(stores)} stores in {time.perf_counter() - started:.0f} s")  # fmt: skip
    return stores


INVOKE = r"""
import json, statistics, sys, time, uuid
kind, url, threads, turns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
OPEN
graph = StateGraph(MessagesState).add_node("chat", lambda s: {"messages": [AIMessage("a" * 300)]})
graph = graph.add_edge(START, "chat")
times = []
with opened as saver:
    compiled = graph.compile(checkpointer=saver)
    for t in range(threads):
        config = {"configurable": {"thread_id": f"invoke-{uuid.uuid4()}"}}
        for turn in range(turns):
            start = time.perf_counter()
            compiled.invoke({"messages": [HumanMessage("h" * 100)]}, config)
            times.append(time.perf_counter() - start)
print(json.dumps({"median": statistics.median(times)}))
""".replace("OPEN\n", OPEN)


def invoke_median(kind: str, url: str, threads: int, turns: int) -> float:
    """Median ``invoke`` of new short threads in one process (warm: the web app's steady state)."""
    out = subprocess.run([sys.executable, "-c", INVOKE, kind, url, str(threads), str(turns)],
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{kind} invoke failed:\n{out.stderr[-3000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["median"])


def disk_bytes(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-growth", action="store_true", help="skip the 10x smaller store")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="interstate-scale-"))
    with contextlib.ExitStack() as stack:
        pg_admin = None if args.no_postgres else stack.enter_context(throwaway_postgres())
        stores = fill_all(work, args.threads, args.turns, True, pg_admin, "big")
        small = None
        if not args.no_growth:
            small = fill_all(work, max(args.threads // 10, 1), args.turns, False, None, "small")
        stores["SQLite HTTP"] = ("interstate", stack.enter_context(http_server(stores["SQLite embedded"][1])))
        if pg_admin is not None:
            stores["PostgreSQL HTTP"] = ("interstate",
                                         stack.enter_context(http_server(stores["PostgreSQL embedded"][1])))  # fmt: skip
        groups = [("SqliteSaver", ["SQLite embedded", "SQLite HTTP"])]
        if pg_admin is not None:
            groups.append(("PostgresSaver", ["PostgreSQL embedded", "PostgreSQL HTTP"]))

        results: dict[tuple[str, str], tuple[float, float]] = {}
        for label, op, thread in READS:
            for name, (kind, url) in stores.items():
                results[(label, name)] = measure(kind, url, op, thread, args.runs, args.threads, 1)
        print(f"\ncold reads: median of {args.runs} fresh processes, ms (ratio to the stock saver)")
        for stock, ours in groups:
            header = f"{'read':<38}{stock:>15}" + "".join(f"{name:>26}" for name in ours)
            print("\n" + header + "\n" + "-" * len(header))
            for label, _, _ in READS + [("open (saver ready)", "", None)]:
                if label.startswith("open"):
                    values = {n: results[(READS[0][0], n)][0] for n in [stock, *ours]}
                else:
                    values = {n: results[(label, n)][1] for n in [stock, *ours]}
                cells = "".join(f"{values[n] * 1000:>17.1f} ({values[n] / values[stock]:5.1f}x)"
                                for n in ours)  # fmt: skip
                print(f"{label:<38}{values[stock] * 1000:>12.1f} ms{cells}")

        print("\ninvoke of new 5-turn threads (50 threads, one process, median)")
        for stock, ours in groups:
            medians = {name: invoke_median(*stores[name], 50, 5) for name in [stock, *ours]}
            cells = "".join(f"   {name} {medians[name] * 1000:.1f} ms"
                            f" ({medians[name] / medians[stock]:.1f}x)" for name in ours)  # fmt: skip
            print(f"  {stock} {medians[stock] * 1000:.1f} ms{cells}")

        if small is not None:
            print(f"\ngrowth: the same read on {args.threads // 10} vs {args.threads} threads"
                  " (SQLite, embedded), ratio big / small")  # fmt: skip
            for label, op, thread in READS:
                if thread is not None:
                    continue
                row = []
                for name in ("SqliteSaver", "SQLite embedded"):
                    kind, url = small[name]
                    _, small_s = measure(kind, url, op, thread, args.runs, max(args.threads // 10, 1), 1)
                    row.append(f"{name} {results[(label, name)][1] / small_s:4.1f}x")
                print(f"  {label:<38}" + "   ".join(row))

        stock_db, ours_db = stores["SqliteSaver"][1], stores["SQLite embedded"][1][len("sqlite:///"):]
        turns_total = args.threads * args.turns + sum(LONG)
        conversation = turns_total * 400
        print(f"\non disk (SQLite, {turns_total} turns, {conversation / 1e6:.1f} MB of message text):"
              f" SqliteSaver {disk_bytes(stock_db) / 1e6:.1f} MB"
              f" ({disk_bytes(stock_db) / conversation:.0f}x the text), interstate"
              f" {disk_bytes(ours_db) / 1e6:.1f} MB ({disk_bytes(ours_db) / conversation:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
