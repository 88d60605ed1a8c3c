"""Run LangGraph's own test suite with interstate's checkpointers, beside SqliteSaver.

    python tests/langgraph_suite/run.py              # SQLite: stock vs interstate
    python tests/langgraph_suite/run.py --postgres   # also interstate on PostgreSQL (pgserver,
                                                     # or $INTERSTATE_TEST_POSTGRES_URL)
    python tests/langgraph_suite/run.py -k time_travel --keep /tmp/lg

It downloads the sdist of the *installed* langgraph version from the package index (its tests
and snapshots are not in the wheel), appends one import to the suite's ``tests/conftest.py`` (our
``interstate_suite_savers`` fixtures replace ``sync_checkpointer`` / ``async_checkpointer``), and
runs every test file parametrized over those fixtures once per saver family, in the same run:
LangGraph's ``SqliteSaver`` / ``AsyncSqliteSaver`` first, then ``InteractionsSaver`` /
``AsyncInteractionsSaver`` on a fresh embedded SQLite file per test. It prints passed/total and
the time of each beside the other, and exits 1 unless every interstate test passed (a failure
that passes when run again on its own is reported as flaky, by name, and does not fail the
run: LangGraph's suite has timing-dependent tests). Nothing of
LangGraph's is kept in this repository; the suite's test-only dependencies are in our ``dev``
extra.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATCH = "\nfrom interstate_suite_savers import *  # noqa: F401,F403  (interstate's suite run)\n"
FIXTURES = re.compile(r"\b(sync_checkpointer|async_checkpointer)\b")


@dataclass
class Outcome:
    label: str
    total: int
    passed: int
    failed: int
    skipped: int
    seconds: float
    failures: list[str]
    #: Failed, then passed when run again on their own (timing-dependent tests).
    flaky: list[str] = field(default_factory=list)


def fetch_suite(version: str, into: Path) -> Path:
    """The extracted sdist of langgraph ``version`` (downloaded once into ``into``)."""
    root = into / f"langgraph-{version}"
    if (root / "tests" / "conftest.py").exists():
        return root
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                    ":all:", f"langgraph=={version}", "-d", str(into)], check=True)  # fmt: skip
    archive = next(into.glob(f"langgraph-{version}.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return root


def patch_conftest(root: Path) -> None:
    conftest = root / "tests" / "conftest.py"
    text = conftest.read_text(encoding="utf-8")
    if PATCH not in text:
        conftest.write_text(text + PATCH, encoding="utf-8")


def checkpointer_files(root: Path) -> list[str]:
    tests = root / "tests"
    return sorted(f"tests/{p.name}" for p in tests.glob("test_*.py")
                  if FIXTURES.search(p.read_text(encoding="utf-8")))  # fmt: skip


def run_pytest(root: Path, files: list[str], savers: str, label: str, extra: list[str],
               env_extra: dict[str, str]) -> Outcome:  # fmt: skip
    report = Path(tempfile.mkdtemp(prefix="lg-suite-")) / "report.xml"
    env = {**os.environ, **env_extra, "INTERSTATE_SUITE_SAVERS": savers, "NO_DOCKER": "true",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    command = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
               "-p", "no:randomly", "--junitxml", str(report), "-o", "junit_family=xunit2",
               *extra, *files]  # fmt: skip
    print(f"\n== {label}: {' '.join(command[3:8])} … ({len(files)} files)", flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=root, env=env)
    seconds = time.perf_counter() - started
    return summarize(report, label, seconds)


def summarize(report: Path, label: str, seconds: float) -> Outcome:
    if not report.exists():
        return Outcome(label, 0, 0, 0, 0, seconds, ["pytest wrote no report"])
    total = passed = failed = skipped = 0
    failures: list[str] = []
    for case in ET.parse(report).getroot().iter("testcase"):
        total += 1
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed += 1
            failures.append(_node_id(str(case.get("classname")), str(case.get("name"))))
        elif "skipped" in kinds:
            skipped += 1
        else:
            passed += 1
    return Outcome(label, total, passed, failed, skipped, seconds, failures)


def _node_id(classname: str, name: str) -> str:
    """A pytest node id from JUnit's ``classname`` (``tests.test_x`` or ``tests.test_x.TestY``)."""
    parts = classname.split(".")
    return "/".join(parts[:2]) + ".py::" + "::".join([*parts[2:], name])


def retry_failures(root: Path, run: Outcome, savers: str, env_extra: dict[str, str]) -> Outcome:
    """Run a run's failures once more, on their own: those that pass are reported as flaky
    (LangGraph's suite has timing-dependent tests), the rest stay failures."""
    if not run.failures or len(run.failures) > 20:
        return run
    again = run_pytest(root, run.failures, savers, f"{run.label}, failures again", [], env_extra)
    still = set(again.failures) if again.total == len(run.failures) else set(run.failures)
    flaky = [name for name in run.failures if name not in still]
    return Outcome(run.label, run.total, run.passed + len(flaky), run.failed - len(flaky), run.skipped,
                   run.seconds, [n for n in run.failures if n in still], flaky)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "interstate-lg-suite",
                        help="where the sdist is downloaded and extracted (reused if present)")  # fmt: skip
    parser.add_argument("--postgres", action="store_true", help="also run interstate on PostgreSQL")
    parser.add_argument("--no-stock", action="store_true", help="skip the SqliteSaver run")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    parser.add_argument("-x", action="store_true", help="stop at the first failure")
    args = parser.parse_args(argv)

    version = importlib.metadata.version("langgraph")
    root = fetch_suite(version, args.keep)
    patch_conftest(root)
    files = checkpointer_files(root)
    extra = (["-k", args.keyword] if args.keyword else []) + (["-x"] if args.x else [])
    runs: list[Outcome] = []
    if not args.no_stock:
        runs.append(run_pytest(root, files, "sqlite,sqlite_aio", "SqliteSaver / AsyncSqliteSaver", extra, {}))
    ours = run_pytest(root, files, "interstate,interstate_aio", "InteractionsSaver / Async (SQLite)",
                      extra, {})  # fmt: skip
    runs.append(retry_failures(root, ours, "interstate,interstate_aio", {}))
    if args.postgres:
        sys.path.insert(0, str(HERE.parent.parent))
        from tests.server.postgres_support import postgres_server  # pgserver, as our tests use it

        with postgres_server() as uri:
            env = {"INTERSTATE_SUITE_PG_URL": uri}
            pg = run_pytest(root, files, "interstate_pg,interstate_pg_aio",
                            "InteractionsSaver / Async (PostgreSQL)", extra, env)  # fmt: skip
            runs.append(retry_failures(root, pg, "interstate_pg,interstate_pg_aio", env))

    print(f"\nLangGraph {version}'s own tests, {len(files)} checkpointer-parametrized files")
    print(f"{'saver':<42} {'passed':>13} {'failed':>7} {'skipped':>8} {'time':>9} {'× stock':>8}"
          f" {'flaky':>6}")
    stock = runs[0] if not args.no_stock else None
    for run in runs:
        ratio = f"{run.seconds / stock.seconds:.2f}×" if stock and stock.seconds else "—"
        print(f"{run.label:<42} {f'{run.passed}/{run.total}':>13} {run.failed:>7} {run.skipped:>8} "
              f"{run.seconds:>8.1f}s {ratio:>8} {len(run.flaky):>6}")  # fmt: skip
    ours = [r for r in runs if r.label.startswith("Interactions")]
    for run in ours:
        for name in run.flaky:
            print(f"FLAKY ({run.label}): {name} failed, then passed on its own")
        for name in run.failures:
            print(f"FAILED ({run.label}): {name}")
    return 0 if all(r.total and not r.failed for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
