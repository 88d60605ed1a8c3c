"""The demo's second process: ``python -m interstate.demo.resume FRAMEWORK --db PATH --key KEY``.

It shares nothing with the first process but the database file and the key of the thread, team
or crew memory: it starts its own embedded server on the file, loads the state from it and
continues the conversation. What it did (and its process id) goes to ``--report`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from importlib import import_module
from pathlib import Path

from interstate.demo._measure import Meter, Server
from interstate.demo._script import SCRIPTS
from interstate.demo._section import Run
from interstate.demo._setup import Mode, database_url, go_offline, quiet_frameworks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("framework", choices=sorted(SCRIPTS))
    parser.add_argument("--db", required=True, type=Path, help="the demo database file")
    parser.add_argument("--key", required=True, help="the thread / team / crew memory key")
    parser.add_argument("--provider", choices=["scripted", "gemini"], default="scripted")
    parser.add_argument("--gemini-model", default=Mode("gemini").gemini_model)
    parser.add_argument("--work", required=True, type=Path, help="the demo's scratch folder")
    parser.add_argument("--report", required=True, type=Path, help="where to write what happened")
    args = parser.parse_args(argv)
    go_offline()  # before the framework (CrewAI) is imported
    mode = Mode(args.provider, args.gemini_model)
    server = Server.start(database_url(args.db), mode.providers(os.environ))
    module = import_module(f"interstate.demo.{args.framework}")
    meter = Meter()
    with quiet_frameworks():  # a failure ends this process with its one-line reason (see _resume)
        phase = module.resume(Run(server, meter, mode.model(SCRIPTS[args.framework].model), args.key, args.work))
    report = {"pid": os.getpid(), "turns": phase.turns, "lines": phase.lines,
              "restored": phase.restored, "meter": meter.report()}  # fmt: skip
    args.report.write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    main()
