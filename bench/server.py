"""Throughput and latency of ``interstate serve`` against a bare Starlette echo endpoint.

    python bench/server.py --requests 500 [--concurrency 8] [--max-seconds 30]

Both servers run as subprocesses under uvicorn on 127.0.0.1 (each on its own free port):

* ``interstate``: ``interstate serve`` with the scripted echo model, a fresh SQLite file, no auth;
* ``starlette echo``: the ceiling — a Starlette app with the same routes that stores nothing and
  answers with the same shapes (a JSON Interaction, or the same seven SSE events through the
  same SSE library), served by uvicorn the same way.

For each server and mode (``create``: non-streaming; ``create stream``: ``"stream": true`` read to
the end) the benchmark runs ``--concurrency`` httpx.AsyncClient workers that share ``--requests``
requests, stopping early after ``--max-seconds``; it prints requests/s and p50/p99 latency.
Numbers only — nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from interstate.testing import free_port

MODEL = "scripted-bench"


# -- the ceiling: a bare Starlette echo app ------------------------------------------------


def echo_app() -> Any:
    from sse_starlette import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    counter = iter(range(1, 1 << 62))

    def interaction(body: dict[str, Any], text: str) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "id": f"v1_echo{next(counter):012x}", "status": "completed", "object": "interaction",
            "model": body.get("model"), "created": now, "updated": now,
            "steps": [{"type": "model_output", "content": [{"type": "text", "text": text}]}],
        }  # fmt: skip

    async def create(request: Request) -> Any:
        body = json.loads(await request.body())
        text = f"echo: {body.get('input')}"
        result = interaction(body, text)
        if not body.get("stream"):
            return JSONResponse(result)
        iid = result["id"]
        started = {**result, "status": "in_progress", "steps": []}
        events = [
            {"event_type": "interaction.created", "interaction": started},
            {"event_type": "interaction.status_update", "interaction_id": iid,
             "status": "in_progress"},
            {"event_type": "step.start", "index": 0,
             "step": {"type": "model_output", "content": []}},
            {"event_type": "step.delta", "index": 0, "delta": {"type": "text", "text": text}},
            {"event_type": "step.stop", "index": 0},
            {"event_type": "interaction.status_update", "interaction_id": iid,
             "status": "completed"},
            {"event_type": "interaction.completed", "interaction": {**result, "steps": []}},
        ]  # fmt: skip

        async def frames() -> Any:
            for seq, event in enumerate(events, start=1):
                event["event_id"] = f"{iid}:{seq}"
                data = json.dumps(event)
                yield {"id": event["event_id"], "event": event["event_type"], "data": data}

        return EventSourceResponse(frames())

    async def health(request: Request) -> Any:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/{version}/interactions", create, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def serve_echo(port: int) -> None:
    import uvicorn

    uvicorn.run(echo_app(), host="127.0.0.1", port=port, log_level="warning")


# -- servers as subprocesses ---------------------------------------------------------------




@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> "Server":
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"{self.name} did not start; see {log}:\n{log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def interstate_server(workdir: Path) -> Server:
    port = free_port()
    command = [
        sys.executable, "-c", "from interstate.cli import main; main()", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--db", str(workdir / "bench.db"),
        "--provider", "scripted", "--no-auth", "--log-level", "warning",
    ]  # fmt: skip
    return Server("interstate", command, port)


def echo_server() -> Server:
    port = free_port()
    command = [sys.executable, os.path.abspath(__file__), "--serve-echo", "--port", str(port)]
    return Server("starlette echo", command, port)


# -- load -------------------------------------------------------------------------------------


@dataclass
class Result:
    server: str
    mode: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def one_request(http: httpx.AsyncClient, n: int, stream: bool) -> None:
    body: dict[str, Any] = {"model": MODEL, "input": f"benchmark request {n}"}
    if not stream:
        response = await http.post("/v1beta/interactions", json=body)
        response.raise_for_status()
        if response.json().get("status") != "completed":
            raise RuntimeError(f"not completed: {response.text[:200]}")
        return
    body["stream"] = True
    last = ""
    async with http.stream("POST", "/v1beta/interactions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                last = line
    if '"interaction.completed"' not in last:
        raise RuntimeError(f"stream did not end with interaction.completed: {last[:200]}")


async def run_load(
    server: Server, mode: str, *, requests: int, concurrency: int, max_seconds: float, warmup: int
) -> Result:
    stream = mode == "create stream"
    result = Result(server.name, mode)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as http:
        for n in range(warmup):
            await one_request(http, -n - 1, stream)
        counter = iter(range(requests))
        start = time.perf_counter()
        deadline = start + max_seconds

        async def worker() -> None:
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                began = time.perf_counter()
                try:
                    await one_request(http, n, stream)
                except Exception as exc:  # counted and reported, never fatal
                    result.errors += 1
                    result.first_error = result.first_error or repr(exc)[:200]
                    continue
                result.latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - start
    return result


def print_table(results: list[Result], *, concurrency: int) -> None:
    title = f"create over loopback, {concurrency} concurrent clients"
    headers = ("server", "mode", "ok", "errors", "req/s", "p50 ms", "p99 ms")
    rows = [
        (
            r.server, r.mode, str(len(r.latencies)), str(r.errors),
            f"{len(r.latencies) / r.elapsed:,.0f}" if r.elapsed else "-",
            f"{r.percentile(50) * 1000:.1f}", f"{r.percentile(99) * 1000:.1f}",
        )  # fmt: skip
        for r in results
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
        print(title)
        for row in (headers, *rows):
            print("  ".join(cell.rjust(w) if i >= 2 else cell.ljust(w)
                            for i, (cell, w) in enumerate(zip(row, widths))))  # fmt: skip
    else:
        table = Table(title=title)
        for i, header in enumerate(headers):
            table.add_column(header, justify="right" if i >= 2 else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    for r in results:
        if r.first_error:
            print(f"{r.server} / {r.mode}: first error: {r.first_error}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="requests per server and mode")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--max-seconds", type=float, default=30.0, help="time bound per server and mode"
    )
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests first")
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo(args.port)
        return

    with tempfile.TemporaryDirectory(prefix="interstate-bench-") as tmp:
        workdir = Path(tmp)
        servers = [interstate_server(workdir), echo_server()]
        try:
            for server in servers:
                server.start(workdir / f"{server.port}.log")
            results = []
            for server in servers:
                for mode in ("create", "create stream"):
                    print(f"running {server.name} / {mode} ...", file=sys.stderr)
                    results.append(
                        asyncio.run(
                            run_load(
                                server, mode, requests=args.requests, concurrency=args.concurrency,
                                max_seconds=args.max_seconds, warmup=args.warmup,
                            )  # fmt: skip
                        )
                    )
        finally:
            for server in servers:
                server.stop()
    print_table(results, concurrency=args.concurrency)


if __name__ == "__main__":
    main()
