"""What the demo's orchestrator and each framework's part hand each other.

A framework's part is a module (``interstate.demo.langgraph``, ``.autogen``, ``.crewai``) with
three functions, each given a ``Run``:

* ``first(run) -> Phase`` — the first process: a few turns with a tool call, state on the server;
* ``resume(run) -> Phase`` — run by ``python -m interstate.demo.resume`` in a new process: load
  that state from the server (nothing else is shared) and continue it;
* ``stock(run) -> Baseline`` — the same conversation on the framework's own state store with a
  stateless full-history model client, for the comparison (``STOCK_STORE`` names the store).

Modules import their framework at the top; the orchestrator imports them only when their
section runs, so a missing or broken framework fails its own section only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from interstate.demo._measure import Meter, Server


@dataclass
class Run:
    """One framework's run in one process."""

    #: The embedded server (the demo database, or the stock baseline's scratch server).
    server: Server
    #: Counts what this process's clients send; give it to every client (``server.client``).
    meter: Meter
    model: str
    #: The thread / team / crew-memory key, the same in both processes.
    key: str
    #: A scratch folder (the stock baseline's files).
    work: Path


@dataclass
class Phase:
    """What one process did, for people: turns, a transcript, what it restored."""

    turns: int
    lines: list[str] = field(default_factory=list)
    #: In the resumed process: what it loaded from the server before continuing.
    restored: str = ""


@dataclass
class Baseline:
    """The stock run: turns (the same as interstate's two processes) and its store's bytes."""

    turns: int
    stored: int


def excerpt(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
