"""Errors the service raises, rendered as Google-shaped bodies: ``{"error": {"code", "message"}}``.

``code`` is a string (the SDK's schema types it as one); we use the canonical gRPC status names
(``INVALID_ARGUMENT``, ``NOT_FOUND``...) so that they read like Google's own errors.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A failure to report to the caller with an HTTP status and a Google-shaped body."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def invalid_argument(message: str) -> ServiceError:
    return ServiceError(400, "INVALID_ARGUMENT", message)


def failed_precondition(message: str) -> ServiceError:
    return ServiceError(400, "FAILED_PRECONDITION", message)


def unauthenticated(message: str) -> ServiceError:
    return ServiceError(401, "UNAUTHENTICATED", message)


def not_found(message: str) -> ServiceError:
    return ServiceError(404, "NOT_FOUND", message)


def already_exists(message: str) -> ServiceError:
    return ServiceError(409, "ALREADY_EXISTS", message)


def id_taken(what: str) -> ServiceError:
    """409 for a client-chosen id the database already holds, said the same whoever holds it:
    ids are unique across tenants, so a collision must not tell whether another tenant holds
    the id or the caller's own tombstone does (an interaction deleted while it had children)."""
    return already_exists(
        f"{what} is already taken; ids are unique on this server and a deleted interaction "
        "whose children remain keeps its id: choose another id, or omit id to get a generated one"
    )


def payload_too_large(message: str) -> ServiceError:
    return ServiceError(413, "INVALID_ARGUMENT", message)


def unsupported_media_type(message: str) -> ServiceError:
    return ServiceError(415, "INVALID_ARGUMENT", message)


def deadline_exceeded(message: str) -> ServiceError:
    """The client was too slow (a request body that does not arrive)."""
    return ServiceError(408, "DEADLINE_EXCEEDED", message)


def resource_exhausted(message: str, *, retry_after: float | None = None) -> ServiceError:
    headers = {"retry-after": str(max(0, round(retry_after)))} if retry_after is not None else None
    return ServiceError(429, "RESOURCE_EXHAUSTED", message, headers=headers)


def unavailable(message: str) -> ServiceError:
    return ServiceError(503, "UNAVAILABLE", message)
