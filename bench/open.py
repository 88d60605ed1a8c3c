"""Opening an embedded interstate client or checkpointer in a fresh process, against sqlite3's own
open and LangGraph's SqliteSaver.

    python bench/open.py                      # 11 fresh processes per case
    python bench/open.py --runs 21
    python bench/open.py --no-bytecode-cache  # modules compiled in every process

Each run is a new Python process that times, with ``time.perf_counter``:

* import — importing what the case needs, in a process that imported nothing else; in the
  "langgraph first" rows ``langgraph.graph`` (what a graph's own code imports) is imported
  untimed before, so their import column is what the checkpointer adds;
* open — from the call that opens (``Client.from_url``, entering ``InteractionsSaver.from_url``
  or ``SqliteSaver.from_conn_string``, ``sqlite3.connect``) to its return;
* first — a first request: by default a trivial one, a get of a missing id (client), a
  ``get_tuple`` of a missing thread (savers), a SELECT of a missing key (sqlite3); in the
  "first put" / "first create" rows the first write instead (an empty checkpoint; a turn of
  the scripted model, which echoes);
* ready — open + first, the time from asking for the saver to its first answer;
* close — leaving the context / closing.

The database file exists (a warm-up run, not counted, created it) except in the "new file" row,
where every run creates one. Medians over ``--runs`` processes. The children run without the
provider variables (``GEMINI_API_KEY``...), so no model provider is configured, and with a
bytecode cache of their own (an installed package has its ``.pyc`` files; this checkout may be
run with ``PYTHONDONTWRITEBYTECODE``, which ``--no-bytecode-cache`` keeps). ``measure()``
returns the rows for other scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # keep bench/ off sys.path: "langgraph" is LangGraph

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Sequence

#: What every child runs around a case's statements; prints the phases' times in seconds.
_CHILD = r"""
import json, sys, time
path = sys.argv[1]
{pre}
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{open}
t2 = time.perf_counter()
{first}
t3 = time.perf_counter()
{close}
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "open": t2 - t1, "first": t3 - t2, "close": t4 - t3}}))
"""

_GET_MISSING_THREAD = 'assert saver.get_tuple({"configurable": {"thread_id": "missing"}}) is None'
_PUT_CHECKPOINT = """\
from langgraph.checkpoint.base import empty_checkpoint
saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, empty_checkpoint(),
          {"source": "input", "step": -1}, {})"""
_GET_MISSING_ID = """\
try:
    client.interactions.get("v1_missing")
except NotFoundError:
    pass
else:
    raise AssertionError("found")"""
_CREATE = 'assert client.interactions.create(model="scripted", input="hi").status == "completed"'
_LANGGRAPH = "import langgraph.graph"


@dataclass(frozen=True)
class Case:
    name: str
    imports: str
    open: str
    first: str
    close: str
    pre: str = ""
    #: A new database file per run (else one file, created by the warm-up run).
    new_file: bool = False


@dataclass(frozen=True)
class Row:
    """Medians in milliseconds over ``runs`` processes (``ready``: of each run's open + first)."""

    case: str
    imports: float
    open: float
    first: float
    ready: float
    close: float
    runs: int


def _client(name: str, first: str = _GET_MISSING_ID, *, new_file: bool = False) -> Case:
    return Case(
        name,
        "from interstate.client import Client\nfrom interstate.errors import NotFoundError",
        'client = Client.from_url("sqlite:///" + path)',
        first,
        "client.close()",
        new_file=new_file,
    )


def _saver(name: str, first: str = _GET_MISSING_THREAD, *, pre: str = "") -> Case:
    return Case(
        name,
        "from interstate.langgraph import InteractionsSaver",
        'opened = InteractionsSaver.from_url("sqlite:///" + path)\nsaver = opened.__enter__()',
        first,
        "opened.__exit__(None, None, None)",
        pre=pre,
    )


def _stock(name: str, first: str = _GET_MISSING_THREAD, *, pre: str = "") -> Case:
    return Case(
        name,
        "from langgraph.checkpoint.sqlite import SqliteSaver",
        "opened = SqliteSaver.from_conn_string(path)\nsaver = opened.__enter__()",
        first,
        "opened.__exit__(None, None, None)",
        pre=pre,
    )


CASES: tuple[Case, ...] = (
    Case(
        "sqlite3.connect (stdlib)",
        "import sqlite3",
        "conn = sqlite3.connect(path)\n"
        "conn.execute('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)')",
        "assert conn.execute('SELECT v FROM kv WHERE k = ?', ('missing',)).fetchone() is None",
        "conn.close()",
    ),
    _stock("SqliteSaver"),
    _stock("SqliteSaver, langgraph first", pre=_LANGGRAPH),
    _stock("SqliteSaver, first put", _PUT_CHECKPOINT),
    _client("interstate Client (embedded)"),
    _client("interstate Client, new file", new_file=True),
    _client("interstate Client, first create", _CREATE),
    _saver("InteractionsSaver (embedded)"),
    _saver("InteractionsSaver, langgraph first", pre=_LANGGRAPH),
    _saver("InteractionsSaver, first put", _PUT_CHECKPOINT),
)

#: Variables that would configure a model provider (or another target) in the children.
_CLEARED = ("INTERSTATE_URL", "INTERSTATE_PROVIDER", "INTERSTATE_SCRIPT", "GEMINI_API_KEY",
            "GOOGLE_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY")  # fmt: skip


def _run(case: Case, path: str, env: dict[str, str]) -> dict[str, float]:
    code = _CHILD.format(pre=case.pre, imports=case.imports, open=case.open,
                         first=case.first, close=case.close)  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{case.name}: the child failed:\n{done.stderr}")
    times = {k: v * 1000 for k, v in json.loads(done.stdout.splitlines()[-1]).items()}
    times["ready"] = times["open"] + times["first"]
    return times


def measure(
    runs: int = 11, cases: Sequence[Case] = CASES, *, bytecode_cache: bool = True
) -> list[Row]:
    """One row per case: medians over ``runs`` fresh processes (after a warm-up run each).

    With ``bytecode_cache`` the children cache compiled modules (in a temporary directory), as
    an installed package has them; without, they compile every module that has no ``.pyc``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="interstate-open-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        if bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        for index, case in enumerate(cases):
            shared = os.path.join(tmp, f"case{index}.db")
            _run(case, shared, env)  # creates the file; fills the bytecode cache
            samples = [_run(case, os.path.join(tmp, f"case{index}-{n}.db") if case.new_file
                            else shared, env) for n in range(runs)]  # fmt: skip
            median = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            rows.append(Row(case.name, median["import"], median["open"], median["first"],
                            median["ready"], median["close"], runs))  # fmt: skip
    return rows


def table(rows: Sequence[Row]) -> str:
    head = f"{'case':<38} {'import':>8} {'open':>8} {'first':>8} {'ready':>8} {'close':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.case:<38} {r.imports:>8.1f} {r.open:>8.1f} {r.first:>8.1f} "
                     f"{r.ready:>8.1f} {r.close:>8.1f}")  # fmt: skip
    runs = rows[0].runs if rows else 0
    lines.append(f"ms, medians of {runs} fresh processes; ready = open + first request")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="fresh processes per case")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="children compile every module that has no .pyc")  # fmt: skip
    args = parser.parse_args()
    print(table(measure(args.runs, bytecode_cache=not args.no_bytecode_cache)))


if __name__ == "__main__":
    main()
