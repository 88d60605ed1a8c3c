"""Secrets stay out of everything interstate prints, logs, stores and answers (issue 13):
URL passwords, API keys in ``?key=``, and keys given without ``:TENANT``."""

from __future__ import annotations

import hashlib
import logging
import socket
import sqlite3
from pathlib import Path

import httpx
from typer.testing import CliRunner

from interstate.cli import app
from interstate.redact import RedactFilter, redact
from interstate.server.auth import Auth, key_tenant
from interstate.testing import ServerProcess

API_KEY = "SECRETKEY1234567"
UPSTREAM_PASSWORD = "OpenAIPass987"
DB_PASSWORD = "S3cretPass"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redact() -> None:
    assert redact(f"postgresql://alice:{DB_PASSWORD}@db:5432/x") == "postgresql://alice:***@db:5432/x"
    assert redact("GET /v1beta/interactions?key=abc&page=2 HTTP/1.1") == (
        "GET /v1beta/interactions?key=***&page=2 HTTP/1.1")
    assert redact("/x?api_key=a&access_token=b&n=1") == "/x?api_key=***&access_token=***&n=1"
    assert redact("sqlite:////tmp/a.db and postgresql://bob@h/db") == (
        "sqlite:////tmp/a.db and postgresql://bob@h/db")
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s "%s %s"',
                               ("127.0.0.1", "GET", "/v1beta/x?key=abc"), None)  # fmt: skip
    RedactFilter().filter(record)
    assert "abc" not in record.getMessage()


def test_a_key_without_tenant_gets_a_digest_tenant() -> None:
    auth = Auth.from_specs([f"{API_KEY},other:team"])
    assert auth.keys == {API_KEY: key_tenant(API_KEY), "other": "team"}
    assert key_tenant(API_KEY) == "key-" + hashlib.sha256(API_KEY.encode()).hexdigest()[:16]


def test_database_password_is_not_printed() -> None:
    url = f"postgresql://alice:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/db"
    runner = CliRunner()
    for args in (["serve", "--db", url, "--no-auth"], ["threads", "--url", url]):
        result = runner.invoke(app, args)
        assert result.exit_code != 0
        assert DB_PASSWORD not in result.output and "alice:***@" in result.output, result.output


def test_no_secret_in_output_logs_rows_or_responses(tmp_path: Path) -> None:
    upstream = f"http://bob:{UPSTREAM_PASSWORD}@127.0.0.1:{_closed_port()}/v1"
    log = tmp_path / "server.log"
    server = ServerProcess(tmp_path / "s.db", [
        "--api-key", API_KEY, "--provider", "openai", "--openai-base-url", upstream,
        "--log-level", "info",
    ], log).start()  # fmt: skip
    answers: list[str] = []
    try:
        body = {"model": "some-model", "input": "hello"}
        created = httpx.post(f"{server.url}/v1beta/interactions?key={API_KEY}", json=body, timeout=60)
        answers.append(created.text)
        assert created.status_code == 503 or '"failed"' in created.text, created.text
        recorded = httpx.post(f"{server.url}/v1beta/interactions?key={API_KEY}", timeout=30,
                              json={"model": "scripted", "input": "hi"})  # fmt: skip
        answers.append(recorded.text)
        listed = httpx.get(f"{server.url}/v1beta/interactions/{recorded.json()['id']}?key={API_KEY}", timeout=30)
        answers.append(listed.text)
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        tenants = {row[0] for row in conn.execute("SELECT DISTINCT tenant FROM interactions")}
    assert tenants == {key_tenant(API_KEY)}
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))
    output = log.read_text()
    assert "?key=***" in output, output  # the access log ran, redacted
    for secret in (API_KEY, UPSTREAM_PASSWORD):
        assert secret.encode() not in stored
        assert secret not in output, output
        for answer in answers:
            assert secret not in answer, answer
