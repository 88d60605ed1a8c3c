"""Embedded mode: the server's ASGI app served in-process, with no socket.

One ``EmbeddedServer`` per database per process runs the service on a private event-loop thread;
every ``Client``/``AsyncClient`` opened on that URL (from any thread or event loop) reaches it
through ``EmbeddedTransport`` / ``AsyncEmbeddedTransport``, which hand each httpx request to the
same Starlette app the HTTP server runs, so both modes behave the same by construction.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import threading
from typing import Any, AsyncIterator, Callable, Iterator

import httpx

from interstate.server.app import create_app
from interstate.server.providers import ProviderConfig, ProviderRegistry, build_registry
from interstate.server.service import InteractionService
from interstate.server.store.sqlite import sqlite_path

_END = ("end",)


class EmbeddedServer:
    _instances: dict[str, "EmbeddedServer"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, url: str, providers: ProviderRegistry, **service_options: Any) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="interstate-embedded", daemon=True
        )
        self._thread.start()
        self.service: InteractionService = self.call(
            InteractionService.open(url, providers, **service_options)
        )
        self.app = create_app(self.service)
        self.closed = False

    @classmethod
    def start(
        cls, url: str, *, providers: ProviderRegistry | None = None, **service_options: Any
    ) -> "EmbeddedServer":
        """The process's server for ``url``, started now with these providers if not running.

        Providers default to the environment (``ProviderConfig.from_env``). Raises ``ValueError``
        if a server for ``url`` is already running with other explicit providers.
        """
        key = _key(url)
        with cls._instances_lock:
            server = cls._instances.get(key)
            if server is not None and not server.closed:
                if providers is not None and providers is not server.service.providers:
                    raise ValueError(
                        f"An embedded server for {url} is already running with other providers; "
                        "close it first (EmbeddedServer.close) or reuse it"
                    )
                return server
            registry = providers or build_registry(ProviderConfig.from_env())
            server = cls(url, registry, **service_options)
            cls._instances[key] = server
            return server

    def call(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

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
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

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
    path = sqlite_path(url)
    if path == ":memory:":
        return path
    return os.path.abspath(os.path.expanduser(path))


class _Exchange:
    """One request/response through the ASGI app; ``put`` delivers response messages."""

    def __init__(self, request: httpx.Request, body: bytes, put: Callable[[tuple[Any, ...]], None]):
        self.request = request
        self.body = body
        self.put = put
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
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]
                self.put(("start", message["status"], headers))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    self.put(("body", bytes(message["body"])))
                if not message.get("more_body", False):
                    self.put(_END)

        try:
            await app(self.scope(), receive, send)
        except BaseException as exc:  # surfaced to the caller as a transport error
            self.put(("error", exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            self.put(_END)

    def disconnect(self) -> None:
        if self._loop is not None and self._disconnect is not None:
            self._loop.call_soon_threadsafe(self._disconnect.set)


def _read_timeout(request: httpx.Request) -> float | None:
    return (request.extensions.get("timeout") or {}).get("read")


def _check(item: tuple[Any, ...], request: httpx.Request) -> None:
    if item[0] == "error":
        raise httpx.RemoteProtocolError(f"embedded server failed: {item[1]!r}", request=request)


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, items: "queue.Queue[tuple[Any, ...]]", timeout: float | None):
        self.exchange, self.items, self.timeout = exchange, items, timeout

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                item = self.items.get(timeout=self.timeout)
            except queue.Empty:
                raise httpx.ReadTimeout("embedded server sent nothing in time", request=self.exchange.request) from None
            _check(item, self.exchange.request)
            if item[0] == "end":
                return
            yield item[1]

    def close(self) -> None:
        self.exchange.disconnect()


class EmbeddedTransport(httpx.BaseTransport):
    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        items: queue.Queue[tuple[Any, ...]] = queue.Queue()
        exchange = _Exchange(request, request.read(), items.put)
        asyncio.run_coroutine_threadsafe(exchange.run(self.server.app), self.server.loop)
        timeout = _read_timeout(request)
        try:
            first = items.get(timeout=timeout)
        except queue.Empty:
            exchange.disconnect()
            raise httpx.ReadTimeout("embedded server did not answer in time", request=request) from None
        _check(first, request)
        _, status, headers = first
        return httpx.Response(
            status, headers=headers, stream=_SyncBody(exchange, items, timeout), request=request
        )


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, items: "asyncio.Queue[tuple[Any, ...]]", timeout: float | None):
        self.exchange, self.items, self.timeout = exchange, items, timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                item = await asyncio.wait_for(self.items.get(), self.timeout)
            except asyncio.TimeoutError:
                raise httpx.ReadTimeout("embedded server sent nothing in time", request=self.exchange.request) from None
            _check(item, self.exchange.request)
            if item[0] == "end":
                return
            yield item[1]

    async def aclose(self) -> None:
        self.exchange.disconnect()


class AsyncEmbeddedTransport(httpx.AsyncBaseTransport):
    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

        def put(item: tuple[Any, ...]) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the caller's loop is gone: nobody will read the rest
                exchange.disconnect()

        exchange = _Exchange(request, await request.aread(), put)
        asyncio.run_coroutine_threadsafe(exchange.run(self.server.app), self.server.loop)
        timeout = _read_timeout(request)
        try:
            first = await asyncio.wait_for(items.get(), timeout)
        except asyncio.TimeoutError:
            exchange.disconnect()
            raise httpx.ReadTimeout("embedded server did not answer in time", request=request) from None
        _check(first, request)
        _, status, headers = first
        return httpx.Response(
            status, headers=headers, stream=_AsyncBody(exchange, items, timeout), request=request
        )


def embedded_transport(
    url: str, *, asynchronous: bool
) -> EmbeddedTransport | AsyncEmbeddedTransport:
    """The transport ``Client.from_url`` uses for ``sqlite://`` and ``memory://`` URLs."""
    if url.startswith("memory://"):
        url = "sqlite://:memory:"
    elif not url.startswith("sqlite:"):
        raise ValueError(
            f"The embedded server stores interactions in SQLite; {url!r} is not a sqlite:/// URL. "
            "Use sqlite:///path.db, or run `interstate serve` and connect with http://host:port"
        )
    server = EmbeddedServer.start(url)
    return AsyncEmbeddedTransport(server) if asynchronous else EmbeddedTransport(server)
