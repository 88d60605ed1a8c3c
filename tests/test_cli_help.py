"""Every command's help reads well at 80 columns: flags read as flags, nothing is cut or
eaten as markup (issue 13)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from interstate.cli import app

COMMANDS = [[], ["serve"], ["show"], ["threads"], ["demo"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "interstate")
def test_help_at_80_columns(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "-h"], env={"COLUMNS": "80"}, prog_name="interstate")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(l for l in lines if len(l) > 80)
    assert "<bool>" not in result.output and "…" not in result.output
    assert not any(line.endswith("...") for line in lines[1:]), result.output  # cut short help
    assert not any(line.strip().startswith(("╭", "│")) for line in lines)  # no boxed panels


def test_boolean_flags_read_as_flags() -> None:
    serve = CliRunner().invoke(app, ["serve", "-h"], env={"COLUMNS": "80"}).output
    flag_line = next(line for line in serve.splitlines() if "--no-auth" in line)
    assert flag_line.split()[0] == "--no-auth" and flag_line.split()[1] == "Accept", flag_line
    assert "interstate[postgres]" in serve  # not eaten as markup
    demo = CliRunner().invoke(app, ["demo", "-h"], env={"COLUMNS": "80"}).output
    assert "--offline, --scripted  Use" in demo, demo
