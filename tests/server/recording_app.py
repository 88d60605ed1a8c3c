"""An HTTP client on the app over a service whose model records every turn it is given."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import httpx

from interstate.server.app import create_app
from interstate.server.providers import ProviderRegistry
from interstate.server.service import InteractionService

from .test_service import RecordingProvider


@contextlib.asynccontextmanager
async def recording_app(
    db_url: str, rules: list[dict[str, Any]]
) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingProvider]]:
    provider = RecordingProvider(rules)
    service = await InteractionService.open(db_url, ProviderRegistry(default=provider), lease_seconds=5)
    transport = httpx.ASGITransport(app=create_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, provider
    finally:
        await service.close()
