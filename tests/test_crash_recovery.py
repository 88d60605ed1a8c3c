"""A server killed with SIGKILL mid-work loses nothing and leaves nothing stuck.

``interstate serve`` runs as a subprocess with a slow scripted model and ``--max-concurrency 8``.
We queue 100 background interactions, wait until some are running, ``kill -9`` the process, and
restart it on the same SQLite file. The new process sees that the old owner's pid is gone
(``worker.owner_is_dead``) and takes the abandoned turns over at once, so every interaction
reaches a terminal status, and the stream of a resumed one ends with a terminal event.

Deadlines below are bounds for polling, not timing assertions.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from interstate.testing import free_port

KEY = "crash-key"
MODEL = "scripted-crash"
TOTAL = 100
CONCURRENCY = 8
#: Each turn waits, then streams its text in small delayed chunks, so a kill lands mid-stream.
RULES = [{"reply": {"text": "done {input}", "delay": 0.2, "chunk_size": 4, "chunk_delay": 0.05}}]
TERMINAL = {"completed", "failed", "cancelled", "requires_action", "incomplete"}




def start_server(db: Path, script: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    for _ in range(3):  # a probed port can be taken before the server binds it
        port = free_port()
        command = [
            sys.executable, "-c", "from interstate.cli import main; main()", "serve",
            "--host", "127.0.0.1", "--port", str(port), "--db", str(db),
            "--provider", "scripted", "--script", str(script), "--api-key", KEY,
            "--max-concurrency", str(CONCURRENCY), "--log-level", "warning",
            # Leases outlast the test: only the dead-owner check lets the restart take over.
            "--lease-seconds", "600",
        ]  # fmt: skip
        with open(log, "ab") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                    return proc, base_url
            except httpx.TransportError:
                time.sleep(0.05)
        stop(proc)
    raise RuntimeError(f"interstate serve did not start:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def poll(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def statuses(db: Path) -> dict[str, str]:
    """Every interaction's status, read straight from the database file."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return dict(conn.execute("SELECT id, status FROM interactions"))


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(
            line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")
        )
        if data and data != "[DONE]":
            events.append(json.loads(data))
    return events


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "rules.json").write_text(json.dumps({"rules": RULES}), encoding="utf-8")
    return tmp_path


def test_kill_9_loses_nothing_and_leaves_nothing_stuck(workdir: Path) -> None:
    db, script, log = workdir / "crash.db", workdir / "rules.json", workdir / "server.log"
    proc, base_url = start_server(db, script, log)
    try:
        with httpx.Client(base_url=base_url, headers={"x-goog-api-key": KEY}, timeout=30) as http:
            ids: dict[str, str] = {}
            for n in range(TOTAL):
                response = http.post(
                    "/v1beta/interactions",
                    json={"model": MODEL, "input": f"job {n}", "background": True},
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["status"] in ("queued", "in_progress")
                ids[body["id"]] = f"job {n}"

            # Wait until some turns have finished and others are running (streamed part-way).
            def count(status: str) -> int:
                page = http.get(
                    "/v1beta/interstate/interactions",
                    params={"status": status, "page_size": "1000"},
                ).json()
                return len(page["interactions"])

            def running() -> bool:
                return count("completed") >= 10 and count("in_progress") >= CONCURRENCY // 2

            poll(running, timeout=30, interval=0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()  # reap it, so its pid is really gone
    finally:
        stop(proc)

    before = statuses(db)
    assert set(before) == set(ids)
    interrupted = [i for i, s in before.items() if s == "in_progress"]
    queued = [i for i, s in before.items() if s == "queued"]
    assert interrupted, before
    assert any(s == "completed" for s in before.values()), before
    assert queued, "every turn had started before the kill; queue more or slow the model"

    proc, base_url = start_server(db, script, log)
    try:
        with httpx.Client(base_url=base_url, headers={"x-goog-api-key": KEY}, timeout=30) as http:

            def all_settled() -> dict[str, dict[str, Any]] | None:
                if any(s not in TERMINAL for s in statuses(db).values()):
                    return None
                return {i: http.get(f"/v1beta/interactions/{i}").json() for i in ids}

            final = poll(all_settled, timeout=90, interval=0.2)

            # None lost: every id answers, and the list has exactly these 100.
            assert set(final) == set(ids)
            listed = http.get("/v1beta/interstate/interactions", params={"page_size": "1000"})
            assert {i["id"] for i in listed.json()["interactions"]} == set(ids)
            # None stuck, and each either completed with its own answer or failed clearly.
            for interaction_id, body in final.items():
                assert body["id"] == interaction_id
                assert body["status"] in ("completed", "failed"), body
                if body["status"] == "completed":
                    texts = [c["text"] for s in body["steps"] if s["type"] == "model_output"
                             for c in s.get("content", [])]
                    assert "".join(texts) == f"done {ids[interaction_id]}"
                else:
                    assert body["errors"] and len(body["errors"][-1]["message"]) > 10, body
            # One crash is within the retry budget: the interrupted turns ran again to the end.
            assert all(final[i]["status"] == "completed" for i in interrupted)

            # A resumed turn's stream says it restarted, is whole and ends with a terminal event.
            for interaction_id in interrupted:
                response = http.get(
                    f"/v1beta/interactions/{interaction_id}", params={"stream": "true"}
                )
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = sse_events(response)
                kinds = [e["event_type"] for e in events]
                assert kinds[:2] == ["interstate.turn_restarted", "interaction.created"], kinds
                assert kinds[-1] in ("interaction.completed", "error"), kinds
                assert kinds.count("interaction.created") == 1
                event_ids = [e["event_id"] for e in events]
                assert len(event_ids) == len(set(event_ids))
                text = "".join(
                    e["delta"]["text"] for e in events
                    if e["event_type"] == "step.delta" and e["delta"]["type"] == "text"
                )  # fmt: skip
                assert text == f"done {ids[interaction_id]}"
                assert events[-1]["interaction"]["status"] == "completed"
    finally:
        stop(proc)
