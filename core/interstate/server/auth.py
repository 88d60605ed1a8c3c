"""API keys and tenants: every key belongs to a tenant, and tenants never see each other."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request

from interstate.server.errors import unauthenticated

#: The tenant of every request when authentication is off (embedded mode, local use).
LOCAL_TENANT = "default"

#: Embedded mode only: the tenant a request acts as (default ``LOCAL_TENANT``). The process holds
#: the database itself, so it may read any tenant's rows, e.g. ``interstate threads --tenant``
#: on a server's database. An HTTP server ignores it: there the API key names the tenant.
TENANT_HEADER = "x-interstate-tenant"


def key_tenant(key: str) -> str:
    """The tenant of a key given without ``:TENANT``: a digest, never the key itself (tenant
    names are stored in every row and shown in logs)."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Auth:
    #: API key → tenant. ``None`` means authentication is off.
    keys: dict[str, str] | None
    #: Embedded mode: ``TENANT_HEADER`` picks the tenant.
    tenant_header: bool = False

    @classmethod
    def disabled(cls) -> "Auth":
        return cls(None)

    @classmethod
    def embedded(cls) -> "Auth":
        """No keys; ``TENANT_HEADER`` names the tenant (for the in-process server only)."""
        return cls(None, tenant_header=True)

    @classmethod
    def from_specs(cls, specs: list[str]) -> "Auth":
        """``KEY`` (its own tenant, named by ``key_tenant``) or ``KEY:TENANT`` entries, e.g.
        from ``--api-key``."""
        keys: dict[str, str] = {}
        for spec in specs:
            for item in spec.split(","):
                key, _, tenant = item.strip().partition(":")
                if not key:
                    raise ValueError(f"Empty API key in {spec!r}; use KEY or KEY:TENANT")
                keys[key] = tenant or key_tenant(key)
        if not keys:
            raise ValueError("No API keys given; pass --api-key KEY[:TENANT] or use --no-auth")
        return cls(keys)

    def tenant_for(self, request: Request) -> str:
        if self.keys is None:
            return (self.tenant_header and request.headers.get(TENANT_HEADER)) or LOCAL_TENANT
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if key is None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            key = token if scheme.lower() == "bearer" else None
        if not key:
            raise unauthenticated(
                "Missing API key: send it in the x-goog-api-key header (genai.Client(api_key=...))"
            )
        for candidate, tenant in self.keys.items():
            if hmac.compare_digest(candidate.encode(), key.strip().encode()):
                return tenant
        raise unauthenticated("API key not valid. Please pass a valid API key.")
