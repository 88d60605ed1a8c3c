"""LangGraph checkpointers on a long chat: bytes stored and latency, from one run.

    .venv/bin/python bench/langgraph.py            # 300 turns, figures at turns 100 and 300
    .venv/bin/python bench/langgraph.py --turns 300 --at 100 300

Graph: ``START -> chat -> END`` over ``messages: Annotated[list, add_messages]`` (the DeltaChannel
variant: ``DeltaChannel(_messages_delta_reducer)``). Each turn invokes the graph with one 100-character
human message; ``chat`` answers with a 500-character AI message (a fixed model, no network), default
durability ("async"): 3 checkpoints and 2 write batches per turn, as in the stock savers' own runs.

Savers: InMemorySaver; SqliteSaver on a file; SqliteSaver with DeltaChannel messages; interstate's
InteractionsSaver on the embedded server (SQLite file, in process), again with
``?synchronous=full`` (an fsync per commit, as SqliteSaver's default: equal durability), and over
HTTP (``interstate serve`` on 127.0.0.1, its own SQLite file).

Measured at each snapshot turn:

* bytes stored — SQLite savers and interstate: the database file(s) (``.db`` + ``-wal``) after
  ``PRAGMA wal_checkpoint(TRUNCATE)`` from a separate connection, no VACUUM; InMemorySaver: the
  serialized checkpoints, metadata, blobs and writes it holds. "x conv" divides by the conversation's
  own size: the JSON of its messages once (``json.dumps(messages_to_dict(messages))``);
* put — median and mean of the checkpointer's ``put`` over the last 20 turns before the snapshot
  (60 calls). The mean includes the process's garbage-collector pauses (a full collection takes
  30-70 ms here and lands in whatever call is running), so one pause moves it by 0.5-1 ms; each
  saver starts after a ``gc.collect()``;
* get_tuple — median of 30 ``get_tuple`` calls for the latest checkpoint (the call every ``invoke``
  starts with), warm;
* get_state — median of 30 ``graph.get_state`` calls; for interstate also "cold": the first
  ``get_state`` of a new saver on a new client (a new process: nothing cached, the chain is read).

A second section runs the same chat with ``ChatInteractions`` as the model (the scripted model on the
embedded server answering 500 characters) and reports the bytes it sends per turn and what the server
stores, model turns included (each message stored once: checkpoints continue the model's turns).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is bench/langgraph.py: keep its folder off sys.path so that "langgraph" is LangGraph.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import gc
import json
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
from typing import Annotated, Any, Callable

import httpx
from langchain_core.messages import AIMessage, HumanMessage, messages_to_dict
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import _messages_delta_reducer, add_messages
from rich.console import Console
from rich.table import Table
from typing_extensions import TypedDict

from interstate.client import Client
from interstate.langgraph import ChatInteractions, InteractionsSaver

WORDS = "state interaction chain graph model thread step message store server token cache".split()


def text(rng: random.Random, size: int) -> str:
    out = ""
    while len(out) < size:
        out += rng.choice(WORDS) + " "
    return out[:size]


class Plain(TypedDict):
    messages: Annotated[list, add_messages]


class Delta(TypedDict):
    messages: Annotated[list, DeltaChannel(_messages_delta_reducer)]


def build(state: type, checkpointer: Any, reply: Callable[[Any], Any]) -> Any:
    builder = StateGraph(state)
    builder.add_node("chat", reply)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=checkpointer)


def fixed_model(rng: random.Random) -> Callable[[Any], Any]:
    def chat(state: Any) -> dict[str, Any]:
        n = len(state["messages"])
        return {"messages": [AIMessage(text(rng, 500), id=f"ai-{n}")]}

    return chat


class Timer:
    """Wraps a saver's put and get_tuple, recording durations per turn."""

    def __init__(self, saver: Any) -> None:
        self.turn = 0
        self.puts: dict[int, list[float]] = {}
        for name in ("put", "get_tuple"):
            original = getattr(saver, name)

            def timed(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    if _name == "put":
                        self.puts.setdefault(self.turn, []).append(time.perf_counter() - start)

            setattr(saver, name, timed)

    def put_ms(self, last: int) -> tuple[float, float]:
        """Median and mean of ``put`` over the last 20 turns up to ``last``."""
        samples = [d for t in range(last - 19, last + 1) for d in self.puts.get(t, [])]
        return 1000 * statistics.median(samples), 1000 * statistics.mean(samples)


def median_ms(call: Callable[[], Any], n: int = 30) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def file_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def memory_bytes(saver: InMemorySaver) -> int:
    total = 0
    for namespaces in saver.storage.values():
        for checkpoints in namespaces.values():
            for checkpoint, metadata, _ in checkpoints.values():
                total += len(checkpoint[1]) + len(metadata[1])
    for writes in saver.writes.values():
        total += sum(len(value[2][1]) for value in writes.values())
    return total + sum(len(blob[1]) for blob in saver.blobs.values())


class HttpServer:
    def __init__(self, db: Path) -> None:
        sock = __import__("socket").socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from interstate.cli import main; main()", "serve", "--no-auth",
             "--provider", "scripted", "--host", "127.0.0.1", "--port", str(self.port), "--db", str(db),
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(600):
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("interstate serve did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_variant(name: str, make: Callable[[], tuple[Any, Callable[[], int], Any]], state: type,
                turns: int, at: list[int], seed: int) -> list[dict[str, Any]]:  # fmt: skip
    rng = random.Random(seed)
    saver, size_of, reopen = make()
    timer = Timer(saver)
    graph = build(state, saver, fixed_model(rng))
    config = {"configurable": {"thread_id": "bench"}}
    rows = []
    start, paused = time.perf_counter(), 0.0
    for turn in range(1, turns + 1):
        timer.turn = turn
        graph.invoke({"messages": [HumanMessage(text(rng, 100), id=f"h-{turn}")]}, config)
        if turn in at:
            measuring = time.perf_counter()
            wall = measuring - start - paused
            messages = graph.get_state(config).values["messages"]
            conversation = len(json.dumps(messages_to_dict(messages)))
            row = {
                "saver": name, "turn": turn, "bytes": size_of(), "conversation": conversation,
                "put": timer.put_ms(turn), "get_tuple": median_ms(lambda: saver.get_tuple(config)),
                "get_state": median_ms(lambda: graph.get_state(config)), "wall": wall, "cold": None,
            }  # fmt: skip
            if reopen is not None:
                cold_graph = build(state, reopen(), fixed_model(rng))
                begin = time.perf_counter()
                assert cold_graph.get_state(config).values["messages"] == messages
                row["cold"] = 1000 * (time.perf_counter() - begin)
            rows.append(row)
            paused += time.perf_counter() - measuring  # measurements are not wall time
    return rows


def chat_section(work: Path, turns: int, at: list[int], seed: int) -> list[dict[str, Any]]:
    """ChatInteractions as the model: bytes sent per turn, bytes stored with model turns."""
    from interstate.server.embedded import EmbeddedServer
    from interstate.server.providers import ProviderRegistry, ScriptedProvider

    rng = random.Random(seed)
    url = f"sqlite:///{work}/chat.db"
    scripted = ScriptedProvider({"rules": [], "default": {"text": text(rng, 500)}})
    EmbeddedServer.start(url, providers=ProviderRegistry([("scripted*", scripted)], default=scripted))
    client = Client.from_url(url)
    sent: list[int] = []

    def record(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/interactions"):
            sent.append(len(request.content))

    client._http.event_hooks["request"].append(record)
    model = ChatInteractions(client=client, model="scripted-bench")
    graph = build(Plain, InteractionsSaver(client), lambda s: {"messages": [model.invoke(s["messages"])]})
    config = {"configurable": {"thread_id": "bench-chat"}}
    rows = []
    for turn in range(1, turns + 1):
        graph.invoke({"messages": [HumanMessage(text(rng, 100), id=f"h-{turn}")]}, config, durability="sync")
        if turn in at or turn == 1:
            messages = graph.get_state(config).values["messages"]
            rows.append({"turn": turn, "sent": sent[-1], "bytes": file_bytes(work / "chat.db"),
                         "conversation": len(json.dumps(messages_to_dict(messages)))})  # fmt: skip
    client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--at", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    at = sorted(t for t in args.at if t <= args.turns)
    console = Console(width=170)
    with tempfile.TemporaryDirectory(prefix="interstate-bench-") as tmp:
        work = Path(tmp)
        http = HttpServer(work / "http.db")
        try:
            def memory() -> tuple[Any, Callable[[], int], Any]:
                saver = InMemorySaver()
                return saver, lambda: memory_bytes(saver), None

            def sqlite(file: str) -> Callable[[], tuple[Any, Callable[[], int], Any]]:
                def make() -> tuple[Any, Callable[[], int], Any]:
                    saver = SqliteSaver(sqlite3.connect(work / file, check_same_thread=False))
                    return saver, lambda: file_bytes(work / file), None

                return make

            def interstate(url: str, db: Path) -> Callable[[], tuple[Any, Callable[[], int], Any]]:
                def make() -> tuple[Any, Callable[[], int], Any]:
                    return (InteractionsSaver(Client.from_url(url)), lambda: file_bytes(db),
                            lambda: InteractionsSaver(Client.from_url(url)))  # fmt: skip

                return make

            variants = [
                ("InMemorySaver", memory, Plain),
                ("SqliteSaver", sqlite("sqlite.db"), Plain),
                ("SqliteSaver + DeltaChannel", sqlite("delta.db"), Delta),
                ("interstate embedded", interstate(f"sqlite:///{work}/embedded.db", work / "embedded.db"), Plain),
                ("interstate embedded, fsync", interstate(f"sqlite:///{work}/full.db?synchronous=full",
                                                          work / "full.db"), Plain),  # fmt: skip
                ("interstate HTTP", interstate(http.url, work / "http.db"), Plain),
            ]
            rows = []
            for name, make, state in variants:
                console.print(f"running {name} ({args.turns} turns)...")
                gc.collect()  # what the previous saver left is not this one's to collect
                rows += run_variant(name, make, state, args.turns, at, args.seed)
            chat = chat_section(work, args.turns, at, args.seed)
        finally:
            http.stop()
    table = Table(title=f"LangGraph checkpointers, one thread, {args.turns} turns "
                        "(100-char question, 500-char answer; default durability)")  # fmt: skip
    for column in ("saver", "turn", "bytes stored", "x conv", "put ms median / mean", "get_tuple ms",
                   "get_state ms", "cold get_state ms", "wall s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "saver" else "right")
    for row in sorted(rows, key=lambda r: (r["turn"], r["saver"] != "InMemorySaver")):
        table.add_row(row["saver"], str(row["turn"]), f"{row['bytes']:,}",
                      f"{row['bytes'] / row['conversation']:.1f}", "{:.2f} / {:.2f}".format(*row["put"]),
                      f"{row['get_tuple']:.2f}", f"{row['get_state']:.2f}",
                      "-" if row["cold"] is None else f"{row['cold']:.1f}", f"{row['wall']:.1f}")  # fmt: skip
    console.print(table)
    conversations = {r["turn"]: r["conversation"] for r in rows if r["saver"] == "InMemorySaver"}
    console.print("conversation once (JSON of its messages): "
                  + ", ".join(f"{conversations[t]:,} bytes at turn {t}" for t in at))  # fmt: skip
    table = Table(title="ChatInteractions as the model (scripted, embedded, durability='sync')")
    for column in ("turn", "bytes sent this turn", "bytes stored (model turns included)", "x conv"):
        table.add_column(column, justify="right")
    for row in chat:
        table.add_row(str(row["turn"]), f"{row['sent']:,}", f"{row['bytes']:,}",
                      f"{row['bytes'] / row['conversation']:.1f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
