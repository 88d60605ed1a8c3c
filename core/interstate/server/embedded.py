"""Embedded mode: the server's ASGI app served in-process, with no socket.

One ``EmbeddedServer`` per database per process runs the service on a private event-loop thread;
every ``Client``/``AsyncClient`` opened on that URL (from any thread or event loop) reaches it
through ``EmbeddedTransport`` / ``AsyncEmbeddedTransport``, which hand each httpx request to the
same Starlette app the HTTP server runs, so both modes behave the same by construction.

A server lives while it is used: each transport holds a lease on it (``acquire``), released
when its client closes, and the last lease to go stops the server — its thread, its loop, its
database connections — unless someone started it explicitly with ``start`` (then ``close``
stops it). So a process that opens a client or a saver per request leaks nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import re
import threading
from typing import Any, AsyncIterator, Callable, Iterator

import httpx
from starlette.requests import Request
from starlette.routing import Match, Route

from interstate.errors import DatabaseUnavailableError, InterstateError
from interstate.server.app import create_app, server_error
from interstate.server.agents import build_agents
from interstate.server.auth import Auth
from interstate.server.store.batch import run_sync
from interstate.server.providers import ProviderConfig, ProviderRegistry, build_registry
from interstate.server.service import InteractionService
from interstate.server.store import store_scheme
from interstate.server.store.sqlite import SqliteStore, sqlite_path


#: Routes a caller's thread serves itself (``EmbeddedServer.serve_here``): what checkpointers
#: send on every step and read, whose handlers only run SQL the store can run ``here()``.
_HERE_PATHS = re.compile(
    r"/\{version\}/interstate/(batch|refs|interactions(/\{interaction_id\}(/chain)?)?)"
)


class EmbeddedServer:
    _instances: dict[str, "EmbeddedServer"] = {}
    _instances_lock = threading.RLock()

    def __init__(self, url: str, providers: ProviderRegistry, **service_options: Any) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="interstate-embedded", daemon=True
        )
        self._thread.start()
        try:
            self.service: InteractionService = self.call(
                InteractionService.open(url, providers, **service_options)
            )
        except BaseException as exc:
            self._stop_loop()
            if isinstance(exc, (ValueError, InterstateError)) or not isinstance(exc, Exception):
                raise
            raise DatabaseUnavailableError(url, exc) from None  # not psycopg's 10-line error
        if isinstance(self.service.store, SqliteStore):
            self.service.store.run_on_loop = True  # see there: two thread hand-offs fewer
        self.app = create_app(self.service, auth=Auth.embedded())
        self._here_routes = [r for r in self.app.routes
                             if isinstance(r, Route) and _HERE_PATHS.fullmatch(r.path)]  # fmt: skip
        self.closed = False
        #: Leases held by transports (``acquire``); ``pinned``: started by ``start``, stopped
        #: only by ``close``.
        self._leases = 0
        self.pinned = False
        #: Requests being served: the loop keeps only weak references to its tasks.
        self._running: set[asyncio.Task[None]] = set()

    @classmethod
    def start(
        cls, url: str, *, providers: ProviderRegistry | None = None, **service_options: Any
    ) -> "EmbeddedServer":
        """The process's server for ``url``, started now with these providers if not running,
        and kept running until ``close`` (clients' leases come and go meanwhile).

        Providers default to the environment (``ProviderConfig.from_env``). ``agents`` (a
        service option) serves the user's own agents as ``agent="NAME"``: ``{name: object}`` or
        ``["NAME=module:attr", ...]`` (``interstate.server.agents``; a bad entry raises
        ``AgentRegistrationError``). Raises ``ValueError`` if a server for ``url`` is already
        running with other explicit providers or agents.
        """
        if service_options.get("agents") is not None:
            service_options["agents"] = build_agents(service_options["agents"])
        server = cls._get(url, providers, service_options)
        server.pinned = True
        return server

    @classmethod
    def acquire(cls, url: str) -> "EmbeddedServer":
        """The process's server for ``url`` (started if not running) with one more lease;
        ``release`` gives it back, and the last release stops a server nobody ``start``-ed."""
        with cls._instances_lock:
            server = cls._get(url, None, {})
            server._leases += 1
            return server

    @classmethod
    def _get(cls, url: str, providers: ProviderRegistry | None,
             service_options: dict[str, Any]) -> "EmbeddedServer":  # fmt: skip
        key = _key(url)
        with cls._instances_lock:
            server = cls._instances.get(key)
            if server is not None and not server.closed:
                if providers is not None and providers is not server.service.providers:
                    raise ValueError(
                        f"An embedded server for {url} is already running with other providers; "
                        "close it first (EmbeddedServer.close) or reuse it"
                    )
                agents = service_options.get("agents")
                if agents is not None and agents is not server.service.agents:
                    raise ValueError(
                        f"An embedded server for {url} is already running with other agents; "
                        "close it first (EmbeddedServer.close) or reuse it"
                    )
                return server
            registry = providers or build_registry(ProviderConfig.from_env())
            server = cls(url, registry, **service_options)
            cls._instances[key] = server
            return server

    def release(self) -> None:
        """Give back a lease from ``acquire``; stops the server when it was the last one."""
        with self._instances_lock:
            self._leases = max(0, self._leases - 1)
            last = self._leases == 0 and not self.pinned and not self.closed
        if last:
            self.close()

    def call(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, exchange: "_Exchange") -> None:
        """Serve ``exchange`` on the server's loop (from any thread; returns at once).

        Cheaper than ``run_coroutine_threadsafe`` (no concurrent future chained to the task):
        the answer travels through the exchange itself.
        """
        self.loop.call_soon_threadsafe(self._serve, exchange)

    def serve_here(self, exchange: "_Exchange") -> bool:
        """Serve ``exchange`` in the calling thread if it is a batch, a ref read or a read of
        interactions (one, a chain, a list) on a store that can (``Store.serves_here``);
        False (nothing done) otherwise.

        Handing a request to the loop's thread and its answer back costs two hand-offs of the
        GIL, each of which may wait for whatever other thread holds it, and these requests are
        a few statements. The app's own endpoint runs (version check, auth, errors as the app
        renders them); only Starlette's routing and ASGI plumbing are skipped.
        """
        store = self.service.store
        if not store.serves_here or self.closed:
            return False
        request = exchange.request
        wanted = {"type": "http", "path": request.url.path, "method": request.method}
        for route in self._here_routes:
            match, child = route.matches(wanted)
            if match is Match.FULL:
                break
        else:
            return False
        scope = {**exchange.scope(), **child, "app": self.app}
        request = Request(scope, exchange.receive_body)
        with store.here():
            try:
                response = run_sync(route.endpoint(request))
            except Exception as exc:
                response = run_sync(server_error(request, exc))
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
        exchange.done = True
        exchange.deliver(("head", response.status_code, headers, bytes(response.body), True))
        return True

    def _serve(self, exchange: "_Exchange") -> None:
        task = self.loop.create_task(exchange.run(self.app))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def close(self) -> None:
        """Stop the worker (handing unfinished turns back), close the store, stop the thread."""
        with self._instances_lock:
            if self.closed:
                return
            self.closed = True
            if self._instances.get(_key(self.url)) is self:
                del self._instances[_key(self.url)]
        try:
            self.call(self.service.close(), timeout=30)
            self.call(_cancel_other_tasks(), timeout=10)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()  # its selector and self-pipe: three descriptors

    @classmethod
    def close_all(cls) -> None:
        for server in list(cls._instances.values()):
            server.close()


atexit.register(EmbeddedServer.close_all)


async def _cancel_other_tasks() -> None:
    """Cancel what is left on the loop (e.g. sse-starlette's shutdown watchers) before it stops."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _key(url: str) -> str:
    if store_scheme(url) == "postgres":
        return url
    path = sqlite_path(url)
    if path == ":memory:":
        return path
    return os.path.abspath(os.path.expanduser(path))


class _Exchange:
    """One request/response through the ASGI app, run as a task on the server's loop.

    What the app sends reaches the caller through ``deliver`` as few items as possible, because
    each item wakes the caller's thread (or loop), and with the GIL every wake-up is a hand-off
    that can wait for other busy threads: a response that declares its length (every JSON
    answer) arrives as one ``("head", status, headers, body, True)``, handed over once the app
    has returned (woken earlier, the caller would only wait for the GIL while the app unwinds);
    one without (SSE) as its head, then ``("body", chunk, more_body is False)`` items, as they
    come; a failure as ``("error", exc)``.
    """

    def __init__(self, request: httpx.Request, body: bytes, deliver: Callable[[tuple[Any, ...]], None]):
        self.request = request
        self.body = body
        self.deliver = deliver
        self.done = False
        self._head: tuple[int, list[tuple[str, str]]] | None = None
        self._whole: tuple[Any, ...] | None = None
        self._disconnect: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def scope(self) -> dict[str, Any]:
        url = self.request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in self.request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": (url.host, url.port or 80),
        }

    async def receive_body(self) -> dict[str, Any]:
        """The request body, as ASGI's ``receive`` gives it, for ``serve_here``."""
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def run(self, app: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._disconnect = asyncio.Event()
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            assert self._disconnect is not None
            await self._disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                raw = message["headers"]
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
                if any(k.lower() == b"content-length" for k, _ in raw):
                    self._head = (message["status"], headers)  # its body follows at once
                else:
                    self.deliver(("head", message["status"], headers, b"", False))
            elif message["type"] == "http.response.body" and not self.done:
                chunk = bytes(message.get("body", b""))
                self.done = not message.get("more_body", False)
                if self._head is not None and self.done:
                    self._whole = ("head", *self._head, chunk, True)
                elif self._head is not None:
                    self.deliver(("head", *self._head, chunk, False))
                elif chunk or self.done:
                    self.deliver(("body", chunk, self.done))
                self._head = None

        failure: BaseException | None = None
        try:
            await app(self.scope(), receive, send)
        except BaseException as exc:  # surfaced to the caller as a transport error
            failure = exc
        if self._whole is not None:
            self.deliver(self._whole)
        elif not self.done:  # failed, or returned without finishing its response
            self.done = True
            self.deliver(("error", failure or RuntimeError("the app ended without a complete response")))
        if failure is not None and not isinstance(failure, Exception):
            raise failure

    def disconnect(self) -> None:
        """The caller stopped reading: let the app see ``http.disconnect`` (a no-op once done)."""
        if not self.done and self._loop is not None and self._disconnect is not None:
            self._loop.call_soon_threadsafe(self._disconnect.set)


def _read_timeout(request: httpx.Request) -> float | None:
    return (request.extensions.get("timeout") or {}).get("read")


def _check(item: tuple[Any, ...], request: httpx.Request) -> None:
    if item[0] == "error":
        raise httpx.RemoteProtocolError(f"embedded server failed: {item[1]!r}", request=request)


def _response(head: tuple[Any, ...], request: httpx.Request,
              rest: Callable[[], httpx.SyncByteStream | httpx.AsyncByteStream]) -> httpx.Response:  # fmt: skip
    """The httpx response for a ``head`` item; ``rest`` streams the body when it is not all here."""
    _, status, headers, body, done = head
    stream = httpx.ByteStream(body) if done else rest()
    return httpx.Response(status, headers=headers, stream=stream, request=request)


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, items: "queue.SimpleQueue[tuple[Any, ...]]",
                 first: bytes, timeout: float | None):  # fmt: skip
        self.exchange, self.items, self.first, self.timeout = exchange, items, first, timeout

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            yield self.first
        while True:
            try:
                item = self.items.get(timeout=self.timeout)
            except queue.Empty:
                raise httpx.ReadTimeout("embedded server sent nothing in time", request=self.exchange.request) from None
            _check(item, self.exchange.request)
            if item[1]:
                yield item[1]
            if item[2]:
                return

    def close(self) -> None:
        self.exchange.disconnect()


class _Lease:
    """A transport's hold on its server, given back once (``EmbeddedServer.acquire``)."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self.server.release()


class EmbeddedTransport(httpx.BaseTransport):
    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self._lease = _Lease(server)

    def close(self) -> None:
        """The client closed: give back its lease on the server."""
        self._lease.release()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # SimpleQueue: the C queue, a fraction of queue.Queue's locking per item.
        items: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        exchange = _Exchange(request, request.read(), items.put)
        timeout = _read_timeout(request)
        if not self.server.serve_here(exchange):
            self.server.submit(exchange)  # then block at once: the server's thread wants the GIL
        try:
            head = items.get(timeout=timeout)
        except queue.Empty:
            exchange.disconnect()
            raise httpx.ReadTimeout("embedded server did not answer in time", request=request) from None
        _check(head, request)
        return _response(head, request, lambda: _SyncBody(exchange, items, head[3], timeout))


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, items: "asyncio.Queue[tuple[Any, ...]]",
                 first: bytes, timeout: float | None):  # fmt: skip
        self.exchange, self.items, self.first, self.timeout = exchange, items, first, timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.first:
            yield self.first
        while True:
            try:
                item = await asyncio.wait_for(self.items.get(), self.timeout)
            except asyncio.TimeoutError:
                raise httpx.ReadTimeout("embedded server sent nothing in time", request=self.exchange.request) from None
            _check(item, self.exchange.request)
            if item[1]:
                yield item[1]
            if item[2]:
                return

    async def aclose(self) -> None:
        self.exchange.disconnect()


class AsyncEmbeddedTransport(httpx.AsyncBaseTransport):
    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self._lease = _Lease(server)

    async def aclose(self) -> None:
        """The client closed: give back its lease on the server (stopping it waits for the
        server's own loop, not this one, so it runs in a worker thread)."""
        if self.server._leases == 1 and not self.server.pinned:
            await asyncio.to_thread(self._lease.release)
        else:
            self._lease.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

        def deliver(item: tuple[Any, ...]) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the caller's loop is gone: nobody will read the rest
                exchange.disconnect()

        exchange = _Exchange(request, await request.aread(), deliver)
        timeout = _read_timeout(request)
        self.server.submit(exchange)
        try:
            head = await asyncio.wait_for(items.get(), timeout)
        except asyncio.TimeoutError:
            exchange.disconnect()
            raise httpx.ReadTimeout("embedded server did not answer in time", request=request) from None
        _check(head, request)
        return _response(head, request, lambda: _AsyncBody(exchange, items, head[3], timeout))


def embedded_transport(
    url: str, *, asynchronous: bool
) -> EmbeddedTransport | AsyncEmbeddedTransport:
    """The transport ``Client.from_url`` uses for ``sqlite://``, ``memory://`` and
    ``postgresql://`` URLs."""
    if url.startswith("memory://"):
        url = "sqlite://:memory:"
    elif store_scheme(url) is None:
        raise ValueError(
            f"The embedded server stores interactions in SQLite or PostgreSQL; {url!r} is neither "
            "a sqlite:/// nor a postgresql:// URL. Use sqlite:///path.db, or run `interstate "
            "serve` and connect with http://host:port"
        )
    server = EmbeddedServer.acquire(url)
    return AsyncEmbeddedTransport(server) if asynchronous else EmbeddedTransport(server)
