"""Flavour-neutral client configuration: targets, URLs, headers, timeouts."""

from __future__ import annotations

import functools
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping
from urllib.parse import quote, urlsplit

import httpx

from interstate.errors import ExtensionNotSupportedError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "NOT_GIVEN",
    "NotGiven",
    "TimeoutArg",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "GOOGLE_BASE_URL",
    "EMBEDDED_BASE_URL",
    "IDEMPOTENCY_HEADER",
    "TargetKind",
    "Target",
    "resolve_target",
    "default_database_url",
    "resolve_api_key",
    "load_embedded_transport",
    "BaseClient",
]

GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com"
_GOOGLE_HOST = "generativelanguage.googleapis.com"
#: Base URL used with the in-process transport; the host is never resolved.
EMBEDDED_BASE_URL = "http://interstate.embedded"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_RETRIES = 4
#: Sent on every create; an interstate server deduplicates creates by it, Google ignores it.
IDEMPOTENCY_HEADER = "x-interstate-idempotency-key"
_EMBEDDED_SCHEMES = ("sqlite", "memory", "postgresql", "postgres")


class NotGiven:
    """Sentinel for "argument not passed" where ``None`` has a meaning (``timeout=None``)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = NotGiven()
TimeoutArg = float | httpx.Timeout | None


TargetKind = Literal["embedded", "http", "google"]


@dataclass(frozen=True)
class Target:
    """Where a client sends its requests. ``url`` is what the user asked for."""

    kind: TargetKind
    url: str
    base_url: str


def _is_google(base_url: str) -> bool:
    return urlsplit(base_url).hostname == _GOOGLE_HOST


def default_database_url() -> str:
    """``sqlite:///`` + ``$INTERSTATE_HOME/interstate.db`` (default ``~/.interstate``)."""
    home = os.environ.get("INTERSTATE_HOME") or os.path.join("~", ".interstate")
    return "sqlite:///" + os.path.abspath(os.path.join(os.path.expanduser(home), "interstate.db"))


def resolve_target(url: str | None) -> Target:
    """Pick a target from a URL, or from ``$INTERSTATE_URL``, or the default embedded database.

    * ``google`` or ``https://generativelanguage.googleapis.com`` → Google's endpoint;
    * ``http://...`` / ``https://...`` → an interstate server (``interstate serve``);
    * ``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``sqlite://:memory:``,
      ``memory://`` (and ``postgresql://...``) → the embedded server, in process;
    * nothing → ``default_database_url()`` (``~/.interstate/interstate.db``).
    """
    if url is None:
        url = os.environ.get("INTERSTATE_URL") or default_database_url()
    url = url.strip()
    if url.lower() == "google":
        return Target("google", url, GOOGLE_BASE_URL)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        base_url = url.rstrip("/")
        return Target("google" if _is_google(base_url) else "http", url, base_url)
    if scheme in _EMBEDDED_SCHEMES:
        return Target("embedded", url, EMBEDDED_BASE_URL)
    raise ValueError(
        f"Cannot tell where to send requests from the URL {url!r}. Use 'sqlite:///path.db' "
        "(embedded, in this process), 'memory://' (embedded, not persisted), "
        "'http://host:port' (an interstate server started with `interstate serve`), or "
        "'google' (Google's Interactions API)."
    )


def resolve_api_key(kind: TargetKind, api_key: str | None) -> str | None:
    """The explicit key, else the environment: INTERSTATE_API_KEY, or for Google
    GEMINI_API_KEY / GOOGLE_API_KEY."""
    if api_key is not None:
        return api_key
    names = ("GEMINI_API_KEY", "GOOGLE_API_KEY") if kind == "google" else ("INTERSTATE_API_KEY",)
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


def load_embedded_transport(url: str, *, asynchronous: bool) -> Any:
    """The in-process transport of the embedded server (imported only when asked for)."""
    try:
        from interstate.server.embedded import embedded_transport
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("interstate"):
            raise
        raise ImportError(
            f"The embedded interstate server is not available ({exc}), so {url!r} cannot be "
            "opened in process. Reinstall interstate, or run `interstate serve` and connect "
            "with an http:// URL."
        ) from exc
    return embedded_transport(url, asynchronous=asynchronous)


@functools.lru_cache(maxsize=1)
def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"interstate/{version('interstate')}"
    except PackageNotFoundError:
        return "interstate/unknown"


def to_timeout(value: TimeoutArg) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def path_id(interaction_id: str) -> str:
    """An interaction id made safe for use as one path segment."""
    if not interaction_id:
        raise ValueError("An interaction id is required (got an empty string).")
    return quote(interaction_id, safe="")


def new_idempotency_key() -> str:
    """Random, from ``secrets`` rather than ``uuid.uuid4`` (which callers' tests patch)."""
    return secrets.token_hex(16)


class BaseClient:
    """What ``Client`` and ``AsyncClient`` share: configuration and request building.

    Subclasses provide ``_http`` (an ``httpx.Client`` / ``httpx.AsyncClient``), the I/O loop
    ``_request`` and ``_sleep``.
    """

    _http: httpx.Client | httpx.AsyncClient
    #: Monotonic clock used by wait(); tests replace it together with ``_sleep``.
    _clock = staticmethod(time.monotonic)

    #: Whether the subclass needs async transports.
    _asynchronous: bool = False
    #: The embedded transport, when this client made its httpx client with it (``_sends_directly``).
    _direct: Any = None

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None,
        api_version: str,
        timeout: TimeoutArg | NotGiven,
        max_retries: int,
        headers: Mapping[str, str] | None,
        owns_http: bool,
        idempotent_create: bool | None,
        target: TargetKind | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}.")
        self.base_url = (base_url or GOOGLE_BASE_URL).rstrip("/")
        self.api_version = api_version.strip("/")
        self.target: TargetKind = target or ("google" if _is_google(self.base_url) else "http")
        self.idempotent_create = (
            self.target != "google" if idempotent_create is None else idempotent_create
        )
        self.max_retries = max_retries
        # Applied to every request, also through an injected client (whose own default, 5 s
        # in httpx, is too short for model calls).
        self.timeout = DEFAULT_TIMEOUT if isinstance(timeout, NotGiven) else to_timeout(timeout)
        self._headers = httpx.Headers(
            {"content-type": "application/json", "user-agent": _user_agent()}
        )
        if api_key is not None:
            self._headers["x-goog-api-key"] = api_key.strip()
        self._headers.update(headers)
        self._owns_http = owns_http

    @classmethod
    def from_url(cls, url: str | None = None, *, api_key: str | None = None, **kwargs: Any) -> Self:
        """A client for ``url``: ``sqlite:///file.db`` / ``memory://`` (the embedded server, in
        this process), ``http(s)://host`` (an interstate server), or ``google``.

        Defaults: ``$INTERSTATE_URL``, else ``sqlite:///~/.interstate/interstate.db``; the API
        key from ``$INTERSTATE_API_KEY`` (Google: ``$GEMINI_API_KEY`` / ``$GOOGLE_API_KEY``).
        Other keyword arguments go to the constructor.
        """
        target = resolve_target(url)
        transport = None
        if target.kind == "embedded":
            transport = load_embedded_transport(target.url, asynchronous=cls._asynchronous)
        return cls(
            resolve_api_key(target.kind, api_key),
            base_url=target.base_url,
            _target=target.kind,
            _transport=transport,
            **kwargs,
        )

    @property
    def supports_extensions(self) -> bool:
        """Whether interstate extensions (beyond Google's four operations) are available."""
        return self.target != "google"

    def _require_extensions(self, feature: str) -> None:
        """Raise ``ExtensionNotSupportedError`` for ``feature`` on Google's endpoint."""
        if not self.supports_extensions:
            raise ExtensionNotSupportedError(feature)

    def _build_request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutArg | NotGiven = NOT_GIVEN,
        stream: bool = False,
    ) -> httpx.Request:
        """``{base_url}/{api_version}/{path}`` with default headers, then per-call headers."""
        merged = self._headers.copy()
        merged["accept"] = "text/event-stream" if stream else "application/json"
        merged.update(headers)
        url = _parsed_url(f"{self.base_url}/{self.api_version}/{path.lstrip('/')}")
        pairs = _query_params(params) or None  # [] would make httpx parse the URL again
        limits = self.timeout if isinstance(timeout, NotGiven) else to_timeout(timeout)
        if self._sends_directly():
            # What build_request makes of it (our embedded client has no cookies, params or
            # base URL to merge, nor hooks to see its default headers), for a third of the cost.
            return httpx.Request(method, url, content=content, json=json, params=pairs,
                                 headers=merged, extensions={"timeout": limits.as_dict()})  # fmt: skip
        return self._http.build_request(method, url, json=json, content=content, params=pairs,
                                        headers=merged, timeout=limits)  # fmt: skip

    def _sends_directly(self) -> bool:
        """Whether the next request may go straight to ``_direct``, the in-process transport
        this client's own httpx client was made with, skipping httpx's send machinery.

        Per call that machinery (auth and redirect flows, cookie extraction through urllib,
        logging, timers) costs as much CPU as the in-process exchange itself, and nothing in
        it can act here: the embedded server sets no cookies, redirects are not followed,
        there is no auth. Event hooks or a closed client take the regular path.
        """
        if self._direct is None:
            return False
        hooks = self._http.event_hooks
        return not (hooks["request"] or hooks["response"] or self._http.is_closed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, base_url={self.base_url!r})"


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """``url`` parsed once: httpx parses a URL string on every request, a large share of the
    client's own cost per call on the embedded server (``httpx.URL`` is immutable)."""
    return httpx.URL(url)


def _query_params(params: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """Query pairs; ``None`` values are dropped and a list value repeats its key."""
    pairs: list[tuple[str, Any]] = []
    for key, value in (params or {}).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                pairs.append((key, _query_value(item)))
    return pairs


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
