"""The command line's first-run mistakes: one line saying what is wrong and what to do, a
non-zero exit, no traceback, and nothing created at a mistyped path (issue 13)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interstate.cli import app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_demo_db_that_cannot_be_a_database(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "notdb").write_text("hello, not a database")
    assert "is a file" in _one_line_error(["demo", "--db", str(tmp_path / "afile" / "x.db")])
    assert "directory" in _one_line_error(["demo", "--db", str(tmp_path)])
    assert "not an SQLite database" in _one_line_error(["demo", "--db", str(tmp_path / "notdb")])


@pytest.mark.parametrize("command", [["threads"], ["show", "v1_x"]])
def test_read_only_commands_create_nothing(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "typo" / "interstate.db"
    assert "No interstate database" in _one_line_error([*command, "--url", f"sqlite:///{missing}"])
    assert not (tmp_path / "typo").exists()


def test_unreachable_postgres(tmp_path: Path) -> None:
    url = f"postgresql://u:p@127.0.0.1:{_closed_port()}/db"
    assert "Cannot open the database" in _one_line_error(["threads", "--url", url])
    assert "PostgreSQL is running" in _one_line_error(["serve", "--db", url, "--no-auth"])


def test_serve_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", "from interstate.cli import main; main()", "serve", "--no-auth", "--port", str(port),
             "--db", str(tmp_path / "s.db")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "interstate serving" not in done.stderr, done.stderr
    assert "already in use" in done.stderr and "--port" in done.stderr, done.stderr


def test_help_version_and_no_auth_env() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["serve", "-h"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0 and "interstate[postgres]" in shown.output, shown.output
    assert "INTERSTATE_NO_AUTH" in shown.output
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("interstate ")


def test_embedded_open_on_unreachable_postgres_is_a_typed_one_line_error() -> None:
    """A client or saver on a PostgreSQL URL nobody listens on raises DatabaseUnavailableError
    (not psycopg's OperationalError), one line, password redacted, no thread left running."""
    import threading

    from interstate.client import AsyncClient, Client
    from interstate.errors import DatabaseUnavailableError
    from interstate.langgraph import InteractionsSaver

    url = f"postgresql://alice:S3cretPass@127.0.0.1:{_closed_port()}/db"
    before = {t.ident for t in threading.enumerate()}
    for open_embedded in (lambda: Client.from_url(url), lambda: AsyncClient.from_url(url),
                          lambda: InteractionsSaver.from_url(url).__enter__()):  # fmt: skip
        with pytest.raises(DatabaseUnavailableError) as caught:
            open_embedded()
        message = str(caught.value)
        assert "\n" not in message and "S3cretPass" not in message and "alice:***@" in message, message
        assert "PostgreSQL is running" in message and caught.value.__cause__ is None
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "interstate-embedded"]
