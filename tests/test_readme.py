"""Every code block in the README runs (offline), so the quickstarts and commands stay true.

``python`` blocks are executed in this process. ``bash`` blocks are run line by line as the
README's reader would, in a scratch directory with ``INTERSTATE_HOME`` pointing into it, with
three exceptions that cannot run inside the test run itself: ``pip install -e ".[extras]"``
is checked instead (every requirement of those extras is installed at a version they accept —
CI's ``.ci/run`` performs the real install with the README's test command), ``python -m pytest``
is this very run (it must be what ``.ci/run`` runs), and ``interstate serve`` runs until it
answers ``/healthz`` on a free port, then is stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement

from interstate.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
FENCES = re.findall(r"^```(\w*)\n(.*?)^```", TEXT, re.S | re.M)
PYTHON = [code for lang, code in FENCES if lang == "python"]
SHELL = [
    line.split("  #")[0].strip()
    for lang, code in FENCES if lang == "bash"
    for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")
]  # fmt: skip
TEST_COMMAND = 'python -m pip install -e ".[dev]" && python -m pytest'
OFFLINE = {"CREWAI_DISABLE_TELEMETRY": "true", "OTEL_SDK_DISABLED": "true",
           "CREWAI_TRACING_ENABLED": "false", "CREWAI_DISABLE_VERSION_CHECK": "true"}  # fmt: skip


def test_every_block_is_python_or_bash_and_the_two_commands_come_first() -> None:
    assert {lang for lang, _ in FENCES} <= {"python", "bash"}, "untested block language"
    assert len(PYTHON) >= 4 and len(SHELL) >= 4
    assert SHELL[0] == 'python -m pip install -e ".[all]" && interstate demo'
    assert SHELL[1] == TEST_COMMAND
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("code", PYTHON, ids=[f"python{i}" for i in range(len(PYTHON))])
def test_readme_python_block_runs(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("INTERSTATE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})


@pytest.mark.parametrize("line", SHELL, ids=[f"bash{i}" for i in range(len(SHELL))])
def test_readme_shell_line_runs(line: str, tmp_path: Path) -> None:
    env = {**os.environ, **OFFLINE, "INTERSTATE_HOME": str(tmp_path / "home")}
    env.pop("GEMINI_API_KEY", None)  # the demo must run offline on the scripted model
    env.pop("INTERSTATE_URL", None)
    for command in line.split(" && "):
        run(shlex.split(command), tmp_path, env)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    if argv[:4] == ["python", "-m", "pip", "install"]:
        check_installed(argv[4:])
    elif argv == ["python", "-m", "pytest"]:
        return  # this run; test_every_block... checks .ci/run runs the same command
    elif argv[:2] == ["interstate", "serve"]:
        serve(argv, cwd, env)
    else:
        result = subprocess.run(executable(argv), cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=600)  # fmt: skip
        assert result.returncode == 0, f"{argv}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def executable(argv: list[str]) -> list[str]:
    """``python``/``interstate`` of this environment; repository paths made absolute."""
    if argv[0] == "python":
        head = [sys.executable]
    elif argv[0] == "interstate":
        head = [str(Path(sys.executable).with_name("interstate"))]
    else:
        raise AssertionError(f"README command {argv[0]!r} has no runner in this test")
    return head + [str(ROOT / arg) if (ROOT / arg).is_file() else arg for arg in argv[1:]]


def check_installed(args: list[str]) -> None:
    """``-e ".[a,b]"``: interstate is installed and every requirement of those extras is too."""
    assert args[0] == "-e" and args[1].startswith(".["), args
    extras = args[1][2:-1].split(",")
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        seen.add(extra)
        for text in metadata.requires("interstate") or []:
            requirement = Requirement(text)
            if requirement.marker is None or not requirement.marker.evaluate({"extra": extra}):
                continue
            if requirement.name == "interstate":
                pending.extend(e for e in requirement.extras if e not in seen)
                continue
            version = metadata.version(requirement.name)
            assert requirement.specifier.contains(version, prereleases=True), (text, version)


def serve(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    port = free_port()
    args = list(argv[2:])
    args[args.index("--port") + 1] = str(port)
    process = subprocess.Popen(executable(["interstate", "serve", *args]), cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "interstate serve did not come up"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)
