"""``interstate demo``: the whole run in a subprocess (offline, no socket beyond loopback, resumed
in other processes, measured numbers, inspect commands that work afterwards), and the choices
around it (the model provider, a missing framework, a failing section)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import interstate.demo
from interstate.cli import app
from interstate.demo import _app, _setup
from interstate.server.embedded import EmbeddedServer
from interstate.server.providers import ScriptedProvider

#: A guard loaded into every process of the run (the demo and the processes it starts, through
#: PYTHONPATH): a connection or name lookup to anything but loopback (or a local socket) is
#: refused and logged, and each process logs that the guard is on.
SOCKET_GUARD = textwrap.dedent('''
    import ipaddress, os, socket

    _LOG = os.environ["INTERSTATE_TEST_SOCKET_LOG"]

    def _log(line):
        with open(_LOG, "a", encoding="utf-8") as file:
            file.write(f"{line}\\n")

    def _is_local(address):
        host = address[0] if isinstance(address, tuple) and address else address
        if isinstance(host, bytes):
            host = host.decode()
        if host in (None, "", "localhost") or str(host).startswith(("/", "\\0")):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _check(what, address):
        if not _is_local(address):
            _log(f"violation {os.getpid()} {what} {address!r}")
            raise ConnectionRefusedError(f"socket guard: {what} {address!r} is not loopback")

    def _guarded(name):
        real = getattr(socket.socket, name)
        def method(self, address, *args):
            if self.family != getattr(socket, "AF_UNIX", None):
                _check(name, address)
            return real(self, address, *args)
        return method

    socket.socket.connect = _guarded("connect")
    socket.socket.connect_ex = _guarded("connect_ex")
    _create_connection, _getaddrinfo = socket.create_connection, socket.getaddrinfo

    def create_connection(address, *args, **kwargs):
        _check("create_connection", address)
        return _create_connection(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        _check("getaddrinfo", (host,))
        return _getaddrinfo(host, *args, **kwargs)

    socket.create_connection, socket.getaddrinfo = create_connection, getaddrinfo
    _log(f"loaded {os.getpid()}")
''')

FRAMEWORK_ROWS = ("LangGraph", "AutoGen", "CrewAI")
#: What each framework's inspected chain shows (from the demo's script).
IN_CHAIN = {"LangGraph": "to_fahrenheit", "AutoGen": "Porto", "CrewAI": "lookup_fact"}


def _number(cell: str) -> int:
    return int(re.match(r"\s*([\d,]+)", cell).group(1).replace(",", ""))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``interstate demo --offline`` once, in a subprocess with the socket guard on."""
    work = tmp_path_factory.mktemp("demo")
    (work / "guard").mkdir()
    (work / "guard" / "sitecustomize.py").write_text(SOCKET_GUARD, encoding="utf-8")
    log = work / "sockets.log"
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(INTERSTATE_HOME=str(work / "home"), COLUMNS="320", INTERSTATE_TEST_SOCKET_LOG=str(log),
               PYTHONPATH=os.pathsep.join([str(work / "guard"), env.get("PYTHONPATH", "")]))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", "from interstate.cli import main; main()", "demo", "--offline"],
        capture_output=True, text=True, env=env, cwd=work, timeout=600,
    )  # fmt: skip
    rows, inspect = {}, {}
    for line in done.stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] in FRAMEWORK_ROWS:
            rows[cells[0]] = cells
        command = re.match(r"^(\w+):\s+(interstate show .*)$", line)
        if command and command.group(1) in FRAMEWORK_ROWS:
            inspect[command.group(1)] = command.group(2).strip()
    return {"done": done, "rows": rows, "inspect": inspect, "log": log.read_text(encoding="utf-8") if log.exists() else "",
            "database": work / "home" / "demo.db"}  # fmt: skip


def test_demo_exits_0_with_three_measured_rows(demo_run: dict[str, Any]) -> None:
    done, rows = demo_run["done"], demo_run["rows"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(rows) == set(FRAMEWORK_ROWS), done.stdout
    for name, cells in rows.items():
        turns, calls, interactions = _number(cells[1]), _number(cells[2]), _number(cells[3])
        sent, stock_sent, stored, stock_stored = (_number(c) for c in cells[4:8])
        assert turns > 0 and calls > 0 and interactions > 0, cells
        assert cells[2] == str(calls), f"{name}: not the same number of calls as stock: {cells[2]}"
        assert 0 < sent < stock_sent, f"{name}: interstate sent {sent}, stock {stock_sent}"
        assert stored > 0 and stock_stored > 0, cells
    assert "finished in" in done.stdout


def test_demo_resumes_each_framework_in_another_process(demo_run: dict[str, Any]) -> None:
    out = demo_run["done"].stdout
    for name, restored in (("LangGraph", r"(\d+) messages"), ("AutoGen", r"(\d+) messages"),
                           ("CrewAI", r"(\d+) memories")):  # fmt: skip
        first = re.search(rf"^{name} · process (\d+)", out, re.M)
        resumed = re.search(rf"^{name} · new process (\d+) · restored from the server: .*?{restored}", out, re.M)
        assert first and resumed, out
        assert first.group(1) != resumed.group(1)
        assert int(resumed.group(2)) > 0, resumed.group(0)
    assert "the crew quoted them in its agents' prompts" in out


def test_demo_opens_no_socket_beyond_loopback(demo_run: dict[str, Any]) -> None:
    log = demo_run["log"]
    assert "violation" not in log, log
    pids = {line.split()[1] for line in log.splitlines() if line.startswith("loaded")}
    assert len(pids) >= 4, f"the guard ran in {len(pids)} processes (the demo and 3 resumed ones)"


def test_inspect_commands_work_after_the_demo(demo_run: dict[str, Any]) -> None:
    runner = CliRunner()
    assert set(demo_run["inspect"]) == set(FRAMEWORK_ROWS), demo_run["done"].stdout
    for name, line in demo_run["inspect"].items():
        command = line.split()
        assert command[:2] == ["interstate", "show"] and command[3] == "--url", line
        assert command[4] == f"sqlite:///{demo_run['database'].resolve()}"
        try:
            shown = runner.invoke(app, command[1:], env={"COLUMNS": "200"})
        finally:
            EmbeddedServer.start(command[4]).close()
        assert shown.exit_code == 0, shown.output
        assert command[2] in shown.output and IN_CHAIN[name] in shown.output, shown.output


def test_mode_is_gemini_only_with_a_key_and_not_offline() -> None:
    assert _setup.choose_mode({}).provider == "scripted"
    assert _setup.choose_mode({"GEMINI_API_KEY": ""}).provider == "scripted"
    gemini = _setup.choose_mode({"GEMINI_API_KEY": "k"})
    assert gemini.provider == "gemini" and gemini.model("scripted-demo-x") == _setup.GEMINI_MODEL
    assert _setup.choose_mode({"GEMINI_API_KEY": "k", "INTERSTATE_DEMO_MODEL": "gemini-x"}).gemini_model == "gemini-x"
    assert _setup.choose_mode({"GEMINI_API_KEY": "k"}, scripted=True).provider == "scripted"
    scripted = _setup.choose_mode({})
    assert scripted.model("scripted-demo-x") == "scripted-demo-x"
    assert isinstance(scripted.providers({}).resolve("scripted-demo-x"), ScriptedProvider)
    registry = gemini.providers({"GEMINI_API_KEY": "k"})
    assert type(registry.resolve(gemini.gemini_model)).__name__ == "GeminiMirrorProvider"
    assert isinstance(registry.resolve("scripted-demo-x"), ScriptedProvider)


@pytest.mark.parametrize("flag", ["--offline", "--scripted", None])
def test_offline_flag_forces_the_scripted_model(monkeypatch: pytest.MonkeyPatch, flag: str | None) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(interstate.demo, "run_demo", lambda **kwargs: calls.append(kwargs) or 0)
    result = CliRunner().invoke(app, ["demo", *([flag] if flag else [])])
    assert result.exit_code == 0, result.output
    assert calls == [{"db": None, "scripted": flag is not None}]


def test_missing_framework_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def find(module: str) -> object:
        return None if module == "crewai" else object()

    assert [f.name for f in _setup.missing_frameworks(find)] == ["crewai"]
    assert _setup.missing_frameworks(lambda module: object()) == []
    monkeypatch.setattr(_setup, "find_spec", find)
    monkeypatch.setenv("INTERSTATE_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 2
    assert "not installed: CrewAI" in result.output and _setup.install_command("all") in result.output
    assert not (tmp_path / "demo.db").exists()  # nothing ran


def test_install_hint_from_a_clone_and_from_an_index(tmp_path: Path) -> None:
    """The hint is a command that works where interstate came from: in the clone for an
    (editable) install from a directory, the package name for one from an index."""
    clone = tmp_path / "my clone"
    editable = {"url": clone.as_uri(), "dir_info": {"editable": True}}
    assert _setup.install_command("all", editable) == f"cd '{clone}' && python -m pip install -e '.[all]'"
    assert _setup.install_command("crewai", {"url": clone.as_uri(), "dir_info": {}}).endswith(" install '.[crewai]'")
    assert _setup.install_command("all", {}) == "python -m pip install 'interstate[all]'"  # no direct_url.json
    vcs = {"url": "https://github.com/o/interstate", "vcs_info": {"vcs": "git", "commit_id": "abc"}}
    assert _setup.install_command("all", vcs) == "python -m pip install 'interstate[all] @ git+https://github.com/o/interstate'"
    # this test run: installed with `pip install -e ".[dev]"` from the repository (README, .ci/run)
    here = shlex.split(_setup.install_command("all"))
    assert here[0] == "cd" and Path(here[1]).resolve() == Path(__file__).resolve().parents[1], here
    assert here[2:] == ["&&", "python", "-m", "pip", "install", "-e", ".[all]"], here


def test_a_failing_section_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in _setup.CREWAI_OFFLINE_ENV:  # restored after the test
        monkeypatch.setenv(key, os.environ.get(key, ""))
    broken = _setup.Framework("missing_part", "Broken", ())
    monkeypatch.setattr(_app, "FRAMEWORKS", (broken, _setup.FRAMEWORKS[0]))
    console = Console(record=True, width=300)
    code = _app.run_demo(db=str(tmp_path / "demo.db"), scripted=True, console=console)
    out = console.export_text()
    assert code == 1
    assert re.search(r"^ *Broken +failed", out, re.M), out
    assert re.search(r"^Broken failed: ModuleNotFoundError", out, re.M), out
    langgraph = re.search(r"^ *LangGraph +(\d+) ", out, re.M)
    assert langgraph and int(langgraph.group(1)) > 0, out


def test_failing_model_turns_fail_the_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every model turn fails (as with a fake GEMINI_API_KEY and no network): the demo says
    so with the server's message and exits 1, instead of blank replies and checkmarks."""
    for key in _setup.CREWAI_OFFLINE_ENV:  # restored after the test
        monkeypatch.setenv(key, os.environ.get(key, ""))
    outage = [{"when": {}, "reply": {"error": {"status": 503, "message": "simulated outage"}}}]
    monkeypatch.setattr(_setup, "all_rules", lambda: outage)
    monkeypatch.setattr(_app, "FRAMEWORKS", _setup.FRAMEWORKS[:1])
    console = Console(record=True, width=300)
    code = _app.run_demo(db=str(tmp_path / "demo.db"), scripted=True, console=console)
    out = console.export_text()
    assert code == 1, out
    assert re.search(r"^LangGraph failed: .*simulated outage", out, re.M), out
    assert "✓" not in out, out


def test_failing_frameworks_print_no_tracebacks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """AutoGen logs a failed agent's traceback and wraps it into its error, CrewAI logs each
    failed listener: the demo silences their loggers and reports each failure once, one line."""
    for key in _setup.CREWAI_OFFLINE_ENV:  # restored after the test
        monkeypatch.setenv(key, os.environ.get(key, ""))
    outage = [{"when": {}, "reply": {"error": {"status": 503, "message": "simulated outage"}}}]
    monkeypatch.setattr(_setup, "all_rules", lambda: outage)
    monkeypatch.setattr(_app, "FRAMEWORKS", _setup.FRAMEWORKS[1:])
    console = Console(record=True, width=300)
    with caplog.at_level("DEBUG"):
        code = _app.run_demo(db=str(tmp_path / "demo.db"), scripted=True, console=console)
    out = console.export_text()
    assert code == 1, out
    assert "Traceback" not in out and "File \"" not in out, out
    for title in ("AutoGen", "CrewAI"):
        assert len(re.findall(rf"^{title} failed: .*simulated outage$", out, re.M)) == 1, out
    framework_logs = [r for r in caplog.records if r.name.split(".")[0] in _setup.FRAMEWORK_LOGGERS]
    assert not framework_logs, [r.getMessage()[:200] for r in framework_logs]
    import logging

    assert logging.getLogger("autogen_core").level == logging.NOTSET  # restored afterwards
