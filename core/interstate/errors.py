"""Exceptions raised by the interstate client.

Hierarchy::

    InterstateError
    ├── APIError                      anything that went wrong talking to a server
    │   ├── APIStatusError            the server answered 4xx/5xx
    │   │   ├── BadRequestError            400
    │   │   ├── AuthenticationError        401
    │   │   ├── PermissionDeniedError      403
    │   │   ├── NotFoundError              404
    │   │   ├── ConflictError              409
    │   │   ├── UnprocessableEntityError   422
    │   │   ├── RateLimitError             429
    │   │   └── InternalServerError        5xx
    │   ├── APIConnectionError        no usable answer (refused, reset, dropped)
    │   │   └── APITimeoutError       the request timed out
    │   ├── APIResponseError          an answer we cannot use (wrong content type, bad JSON)
    │   └── InteractionFailedError    the turn was stored but its model call failed (or was
    │                                 cancelled): raised by the framework adapters
    ├── WaitTimeoutError              wait() reached its deadline (also a TimeoutError)
    ├── ExtensionNotSupportedError    an interstate extension was called on Google's endpoint
    └── AgentRegistrationError        a server's agent entry (--agent NAME=module:attr) is unusable

Status errors carry the server's ``code`` and ``message`` from the Google-shaped body
``{"error": {"code": ..., "message": ...}}``; both the SDK schema (string ``code``) and Google's
own shape (integer ``code`` plus a ``status`` string) are understood, and a non-JSON body is
kept as text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from interstate.types import Interaction

__all__ = [
    "InterstateError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseError",
    "InteractionFailedError",
    "WaitTimeoutError",
    "ExtensionNotSupportedError",
    "DatabaseUnavailableError",
    "AgentRegistrationError",
    "status_error_from_response",
]


class InterstateError(Exception):
    """Base class of every exception raised by interstate."""


class APIError(InterstateError):
    """A request to an Interactions server failed.

    Attributes: ``message``; ``status_code`` (None when no HTTP answer arrived); ``code`` (the
    server's error code, e.g. ``"INVALID_ARGUMENT"``); ``body`` (parsed JSON or raw text);
    ``response`` and ``request`` (the httpx objects, when known).
    """

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        code: str | None = None,
        body: Any = None,
        response: httpx.Response | None = None,
        *,
        request: httpx.Request | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.body = body
        self.response = response
        if request is None and response is not None:
            try:
                request = response.request
            except RuntimeError:  # a Response built without a request
                request = None
        self.request = request


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status.

    ``message`` and ``code`` are the server's; ``str(error)`` adds the status, what to do about
    it (``hint``) and any ``note`` from the client (e.g. how many attempts were made).
    """

    #: What the user can do about this kind of error.
    hint = ""

    def __init__(
        self,
        message: str,
        status_code: int,
        code: str | None = None,
        body: Any = None,
        response: httpx.Response | None = None,
        *,
        note: str = "",
    ) -> None:
        super().__init__(message, status_code, code, body, response)
        self.note = note

    def __str__(self) -> str:
        detail = self.message if len(self.message) <= 1000 else self.message[:1000] + "…"
        reason = f" {self.code}" if self.code else ""
        parts = [f"Error code: {self.status_code}{reason} - {detail.rstrip('.')}.", self.hint,
                 self.note]
        return " ".join(part for part in parts if part)


class BadRequestError(APIStatusError):
    hint = "The request was rejected as invalid; fix the fields named in the message."


class AuthenticationError(APIStatusError):
    hint = (
        "Check the API key: pass api_key=..., or set INTERSTATE_API_KEY for an interstate "
        "server, GEMINI_API_KEY (or GOOGLE_API_KEY) for Google."
    )


class PermissionDeniedError(APIStatusError):
    hint = "The API key is valid but may not use this resource or model."


class NotFoundError(APIStatusError):
    hint = (
        "Check the interaction id and the server URL; interactions created with store=false "
        "are not kept, and deleted or expired ones are gone."
    )


class ConflictError(APIStatusError):
    hint = "The request conflicts with the current state of the interaction; retry later."


class UnprocessableEntityError(APIStatusError):
    hint = "The request was well-formed but could not be processed; fix the fields named above."


class RateLimitError(APIStatusError):
    hint = "Rate limited: slow down, or raise max_retries to wait longer between attempts."


class InternalServerError(APIStatusError):
    hint = "The server failed; retry later, and check the server's logs if this is your server."


class APIConnectionError(APIError):
    """No usable answer: the connection was refused, reset or dropped.

    ``may_have_been_created`` is True when a create request may have reached the server before
    the failure, so an interaction may exist although the call raised.
    """

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        request: httpx.Request | None = None,
        may_have_been_created: bool = False,
    ) -> None:
        super().__init__(message, request=request)
        self.may_have_been_created = may_have_been_created


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write, or waiting for a pooled connection)."""


class APIResponseError(APIError):
    """The server answered 2xx, but not with something the client can use."""


class InteractionFailedError(APIError):
    """A model turn ended ``failed`` or ``cancelled``: the interaction exists, its model call did
    not succeed. ``message`` and ``code`` are the server's (from ``Interaction.errors`` or the
    stream's ``error`` event; ``detail`` is the server's message alone); ``interaction_id`` and
    ``status`` say which turn and how it ended.
    """

    def __init__(self, message: str, *, code: str | None = None,
                 interaction_id: str | None = None, status: str | None = "failed") -> None:  # fmt: skip
        which = f"Interaction {interaction_id}" if interaction_id else "The interaction"
        super().__init__(f"{which} ended {status or 'failed'}: {message}", code=code)
        self.detail = message
        self.interaction_id = interaction_id
        self.status = status

    @classmethod
    def of(cls, interaction: Any) -> "InteractionFailedError":
        """The error of a settled-but-unsuccessful ``Interaction`` (or its wire dict)."""
        wire = interaction if isinstance(interaction, dict) else interaction.to_wire()
        errors = wire.get("errors") or []
        message = "; ".join(str(e.get("message") or e) for e in errors) or "no detail from the server"
        code = next((str(e["code"]) for e in errors if e.get("code") is not None), None)
        return cls(message, code=code, interaction_id=wire.get("id"), status=wire.get("status"))


class WaitTimeoutError(InterstateError, TimeoutError):
    """``wait()`` reached its deadline before the interaction settled.

    ``interaction`` is the last state seen (None if no GET succeeded); the interaction keeps
    running on the server.
    """

    def __init__(
        self, interaction_id: str, timeout: float, interaction: Interaction | None = None
    ) -> None:
        status = getattr(interaction, "status", None)
        super().__init__(
            f"Interaction {interaction_id!r} did not settle within {timeout:g} s "
            f"(last status: {status or 'unknown'}). It keeps running on the server: call "
            f"wait() again with a larger timeout=, or cancel() it."
        )
        self.interaction_id = interaction_id
        self.timeout = timeout
        self.interaction = interaction


class ExtensionNotSupportedError(InterstateError):
    """An interstate extension was called on a target that only speaks Google's standard API."""

    def __init__(self, feature: str) -> None:
        super().__init__(
            f"{feature} is an interstate extension; Google's Interactions endpoint does not "
            "offer it. Point the client at an interstate server instead: run `interstate serve` "
            "and use Client.from_url('http://127.0.0.1:<port>'), or use the embedded server "
            "with Client.from_url('sqlite:///interstate.db')."
        )
        self.feature = feature


class DatabaseUnavailableError(InterstateError):
    """The database of an embedded server (or ``interstate serve``) could not be opened: a
    PostgreSQL server that is down or refuses the login, an unwritable SQLite file. The message
    is one line (the URL's password redacted) saying what is wrong and what to check; ``url`` is
    the redacted URL, ``reason`` the first line of the driver's error."""

    def __init__(self, url: str, error: BaseException) -> None:
        from interstate.redact import redact

        text = str(error).strip()
        self.url = redact(url)
        self.reason = redact(text.splitlines()[0]) if text else type(error).__name__
        postgres = url.lower().startswith(("postgres://", "postgresql://"))
        hint = ("check that PostgreSQL is running and the URL (host, port, user, password, "
                "database) is right" if postgres else "use a writable SQLite file path")  # fmt: skip
        super().__init__(f"Cannot open the database {self.url}: {self.reason}; {hint}")


class AgentRegistrationError(InterstateError, ValueError):
    """An agent entry of a server (``--agent NAME=module:attr``, ``INTERSTATE_AGENTS``,
    ``EmbeddedServer.start(agents=...)``) cannot be served: malformed, not importable, or not
    an agent. The message is one line naming the entry and the fix; raised at start-up."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _status_class(status_code: int) -> type[APIStatusError]:
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


def _parse_error_body(text: str) -> tuple[Any, str | None, str | None]:
    """(body, code, message) from an error response body, whatever its shape."""
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        return text, None, (text.strip() or None)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return body, None, None
    code, message = error.get("code"), error.get("message")
    # Google's own shape: {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}.
    status = error.get("status")
    if isinstance(status, str) and not isinstance(code, str):
        code = status
    return (
        body,
        None if code is None else str(code),
        None if message is None else str(message),
    )


def status_error_from_response(response: httpx.Response, *, note: str = "") -> APIStatusError:
    """The typed error for a 4xx/5xx ``response`` (whose body must already be read)."""
    body, code, message = _parse_error_body(response.text)
    return _status_class(response.status_code)(
        message or response.reason_phrase or "no message",
        response.status_code,
        code,
        body,
        response,
        note=note,
    )
