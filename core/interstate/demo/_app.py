"""``interstate demo``: LangGraph, AutoGen and CrewAI on the embedded server, each resumed in a
new process, then measured against the framework alone.

Per framework, in this order:

1. this process runs a few turns with a tool call; the state goes to the demo database;
2. ``python -m interstate.demo.resume`` continues it in a new process, from the database only;
3. the same conversation runs again the stock way (the framework's own state store, a stateless
   full-history model client) on a scratch server (its own file) with the same model.

Every number in the closing table is measured in this run (``_measure``). A section that fails
is reported and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interstate.client import Client
from interstate.demo._measure import Meter, Server, interaction_ids, stored_since
from interstate.demo._script import SCRIPTS
from interstate.demo._section import Phase, Run
from interstate.demo._setup import (
    FRAMEWORKS,
    Framework,
    Mode,
    check_frameworks,
    choose_mode,
    database_url,
    demo_database,
    go_offline,
    quiet_frameworks,
)


@dataclass
class Result:
    """One framework's row of the closing table (all measured), or its error."""

    framework: Framework
    turns: int = 0
    calls: int = 0
    stock_calls: int = 0
    interactions: int = 0
    sent: int = 0
    stock_sent: int = 0
    stored: int = 0
    stock_stored: int = 0
    stock_store: str = ""
    inspect: str = ""
    error: str = ""


@dataclass
class Demo:
    console: Console
    mode: Mode
    database: Path
    work: Path
    run_id: str
    server: Server
    scratch: Server
    #: Reads what was stored (not metered: it is the demo looking, not a framework).
    reader: Client

    @property
    def url(self) -> str:
        return database_url(self.database)


def run_demo(*, db: str | None = None, scripted: bool = False, console: Console | None = None) -> int:
    """Run the demo and print its table; the exit code (0, or 1 if a framework's part failed).

    Raises ``MissingFrameworkError`` before anything runs if a framework is not installed.
    """
    check_frameworks()
    go_offline()
    console = console or Console()
    started = time.perf_counter()
    mode = choose_mode(os.environ, scripted=scripted)
    database = demo_database(db, os.environ)
    console.print(f"[bold]interstate demo[/]: LangGraph, AutoGen and CrewAI on an embedded interstate "
                  f"server (no network), each resumed in a new process.\n"
                  f"  database [cyan]{database}[/]\n  model    {mode.describe()}", soft_wrap=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="interstate-demo-") as work:
        server = Server.start(database_url(database), mode.providers(os.environ))
        scratch = Server.start(database_url(Path(work) / "stock.db"), mode.providers(os.environ))
        demo = Demo(console, mode, database, Path(work), uuid.uuid4().hex[:8], server, scratch,
                    Client.from_url(database_url(database)))  # fmt: skip
        try:
            with quiet_frameworks():
                results = [_section(demo, framework) for framework in FRAMEWORKS]
        finally:
            demo.reader.close()
            scratch.close()
            server.close()
    print_summary(console, results)
    console.print(f"finished in {time.perf_counter() - started:.1f} s; the database stays at "
                  f"{database} for the inspect commands.", soft_wrap=True)  # fmt: skip
    return 1 if any(r.error for r in results) else 0


def _section(demo: Demo, framework: Framework) -> Result:
    """One framework's three runs and its measurements; an error ends only this section."""
    result = Result(framework)
    title, console = framework.title, demo.console
    try:
        module = import_module(f"interstate.demo.{framework.name}")
        key = f"demo-{framework.name}-{demo.run_id}"
        model = demo.mode.model(SCRIPTS[framework.name].model)
        before = interaction_ids(demo.reader)
        meter = Meter()
        with console.status(f"{title}: a few turns in this process…"):
            phase = module.first(Run(demo.server, meter, model, key, demo.work))
        _show(console, f"{title} · process {os.getpid()} · {_count(phase.turns, 'turn')}, "
                       f"{_count(len(meter.calls), 'model call')}", phase)  # fmt: skip
        with console.status(f"{title}: resuming in a new process…"):
            child = _resume(demo, framework.name, key)
        resumed = Phase(child["turns"], child["lines"], child["restored"])
        _show(console, f"{title} · new process {child['pid']} · restored from the server: {resumed.restored}",
              resumed)  # fmt: skip
        meter.add(child["meter"])
        stock_meter = Meter()
        with console.status(f"{title}: the same conversation, stock (for the comparison)…"):
            baseline = module.stock(Run(demo.scratch, stock_meter, model, key, demo.work))
        stored = stored_since(demo.reader, before, demo.database)
    except Exception as exc:  # reported in the table; the other frameworks still run
        result.error = one_line_reason(exc)
        console.print(f"[red]✗ {title} failed:[/] {escape(result.error)}", soft_wrap=True)
        return result
    result.turns, result.calls, result.sent = phase.turns + resumed.turns, len(meter.calls), meter.sent
    result.stock_calls, result.stock_sent = len(stock_meter.calls), stock_meter.sent
    result.interactions, result.stored = stored.count, stored.bytes
    result.stock_stored, result.stock_store = baseline.stored, module.STOCK_STORE
    result.inspect = f"interstate show {stored.deepest_model_turn} --url {demo.url}"
    console.print(f"  [green]✓[/] {meter.chained} of {len(meter.calls)} model calls continued a stored chain; "
                  f"stored {stored.bytes:,} B: {stored.model_bytes:,} B of model turns, "
                  f"{stored.record_bytes:,} B of records (state, memories)\n"
                  f"  inspect: [cyan]{result.inspect}[/]", soft_wrap=True)  # fmt: skip
    return result


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _show(console: Console, headline: str, phase: Phase) -> None:
    console.print(f"[bold]{headline}[/]", soft_wrap=True)
    for line in phase.lines:
        console.print(f"    [dim]{escape(line)}[/]", soft_wrap=True, highlight=False)


def _resume(demo: Demo, framework: str, key: str) -> dict[str, Any]:
    """Run ``interstate.demo.resume`` in a new Python process; what it reported."""
    report = demo.work / f"{framework}-resumed.json"
    command = [sys.executable, "-m", "interstate.demo.resume", framework, "--db", str(demo.database),
               "--key", key, "--provider", demo.mode.provider, "--gemini-model", demo.mode.gemini_model,
               "--work", str(demo.work), "--report", str(report)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # its last line: the exception that ended it
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the resumed process exited with {done.returncode}: {last}")
    return json.loads(report.read_text(encoding="utf-8"))


def one_line_reason(exc: BaseException) -> str:
    """``Type: message``, its first line: AutoGen wraps an agent's error in a RuntimeError whose
    message goes on with the agent's traceback."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _share(part: int, whole: int) -> str:
    return f"{part:,} ({part / whole:.0%})" if whole else f"{part:,}"


def results_table(results: list[Result]) -> Table:
    """The closing table: per framework, interstate's measured numbers next to stock's."""
    stores = ", ".join(f"{r.framework.title}: {r.stock_store}" for r in results if r.stock_store)
    alone = f"; alone: the framework's own store — {stores}" if stores else ""
    table = Table(
        title="interstate vs the framework alone — measured in this run",
        caption="sent: request bodies of every model call, in both processes; alone: the same "
                "conversation with a stateless model client that sends the whole history each call."
                "\nstored: everything interstate stored as JSON — every model call kept as an "
                "Interaction (an audit trail the framework alone does not keep), state, memories "
                f"with their embeddings{alone}.",
        caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )  # fmt: skip
    table.add_column("framework", no_wrap=True)
    for column in ("turns", "model\ncalls", "inter-\nactions", "bytes sent\n(vs alone)",
                   "alone", "bytes stored\n(vs alone)", "alone"):  # fmt: skip
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        if r.error:
            table.add_row(r.framework.title, "[red]failed[/]", *["-"] * 6)
            continue
        calls = f"{r.calls}" if r.calls == r.stock_calls else f"{r.calls} (alone {r.stock_calls})"
        table.add_row(r.framework.title, str(r.turns), calls, str(r.interactions),
                      _share(r.sent, r.stock_sent), f"{r.stock_sent:,}",
                      _share(r.stored, r.stock_stored), f"{r.stock_stored:,}")  # fmt: skip
    return table


def print_summary(console: Console, results: list[Result]) -> None:
    """The table, then how to look at each chain (or why a framework failed)."""
    console.print(results_table(results))
    for r in results:
        if r.error:
            console.print(f"[red]{r.framework.title} failed:[/] {escape(r.error)}",
                          soft_wrap=True)  # fmt: skip
        else:
            console.print(f"{r.framework.title + ':':<11}[cyan]{r.inspect}[/]", soft_wrap=True)
