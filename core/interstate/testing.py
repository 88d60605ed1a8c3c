"""Helpers for testing code against a real interstate server (used by this project's tests).

``ServerProcess`` runs ``interstate serve`` in a child process on a free loopback port and waits
until it answers ``/healthz``::

    server = ServerProcess(tmp / "x.db", ["--no-auth", "--provider", "scripted"], tmp / "log")
    with server.start():
        client = Client.from_url(server.url)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import httpx

__all__ = ["ServerProcess", "free_port", "throwaway_postgres"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``interstate serve --db DB ARGS...`` on 127.0.0.1, its output appended to ``log``."""

    def __init__(
        self, db: Path | str, args: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None
    ) -> None:
        # A database URL (postgresql://...) stays as it is; Path() would fold its "//".
        self.db = db if isinstance(db, str) and "://" in db else Path(db)
        self.args, self.log = list(args), Path(log)
        #: Variables set for the child on top of this process's environment.
        self.env = dict(env or {})
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    base_url = url

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        """Start it and wait until it is healthy; raises ``RuntimeError`` with its log if not."""
        for _ in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            command = [
                sys.executable, "-c", "from interstate.cli import main; main()", "serve",
                "--host", "127.0.0.1", "--port", str(self.port), "--db", str(self.db),
                "--log-level", "warning", *self.args,
            ]  # fmt: skip
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, **self.env})  # fmt: skip
            if self._wait_healthy(timeout):
                return self
            self.stop()
        raise RuntimeError(f"interstate serve did not start; log:\n{self.log.read_text()}")

    def _wait_healthy(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Terminate it (kill after 15 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


#: Durability a throw-away server can do without (its whole cluster is deleted afterwards).
_FAST = ("fsync", "synchronous_commit", "full_page_writes")


@contextlib.contextmanager
def throwaway_postgres(env: str = "INTERSTATE_BENCH_POSTGRES_URL", *, fast: bool = False) -> Iterator[str]:
    """The URL of a PostgreSQL server for the block: ``$env`` if set, else a cluster of
    ``pgserver`` (PostgreSQL in a wheel) in a temporary directory, deleted afterwards; ``fast``
    turns its fsyncs off. Raises ``RuntimeError`` naming the directory if it cannot start."""
    external = os.environ.get(env)
    if external:
        yield external
        return
    with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (harmless)
        warnings.simplefilter("ignore")
        import pgserver

    root = Path(tempfile.mkdtemp(prefix="interstate-pg-"))
    try:
        server = pgserver.get_server(root / "data", cleanup_mode="delete")
    except Exception as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pgserver could not start PostgreSQL in {root}: {exc!r}") from exc
    try:
        url = server.get_uri()
        if fast:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                for setting in _FAST:
                    conn.execute(f"ALTER SYSTEM SET {setting} = off")  # type: ignore[arg-type]
                conn.execute("SELECT pg_reload_conf()")
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
