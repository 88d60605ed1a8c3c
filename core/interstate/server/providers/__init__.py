"""Model providers and how a server's configuration turns into a ``ProviderRegistry``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from interstate.server.providers.base import Provider, ProviderError, ProviderRegistry
from interstate.server.providers.scripted import ScriptedProvider

__all__ = [
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderRegistry",
    "ScriptedProvider",
    "build_registry",
]

#: Model names that always go to the scripted model, whatever the default provider is.
SCRIPTED_MODELS = "scripted*"


@dataclass
class ProviderConfig:
    """Which provider serves models by default, and each provider's settings."""

    #: ``scripted``, ``openai``, ``gemini`` or None (only ``scripted*`` models are served).
    default: str | None = None
    script: str | None = None
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    gemini_api_key: str | None = None
    gemini_base_url: str | None = None

    @classmethod
    def from_env(cls) -> "ProviderConfig":
        """``INTERSTATE_PROVIDER``, ``INTERSTATE_SCRIPT``, ``OPENAI_BASE_URL``/``OPENAI_API_KEY``,
        ``GEMINI_API_KEY``/``GOOGLE_API_KEY``, ``INTERSTATE_GEMINI_BASE_URL``. With no provider
        named, Gemini is the default when a Gemini key is set."""
        gemini_key = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        default = os.environ.get("INTERSTATE_PROVIDER") or ("gemini" if gemini_key else None)
        return cls(
            default=default,
            script=os.environ.get("INTERSTATE_SCRIPT"),
            openai_base_url=os.environ.get("OPENAI_BASE_URL"),
            openai_api_key=os.environ.get("OPENAI_API_KEY"),
            gemini_api_key=gemini_key,
            gemini_base_url=os.environ.get("INTERSTATE_GEMINI_BASE_URL"),
        )


def build_registry(config: ProviderConfig) -> ProviderRegistry:
    scripted = ScriptedProvider(config.script)
    routes: list[tuple[str, Provider]] = [(SCRIPTED_MODELS, scripted)]
    if config.default in (None, ""):
        return ProviderRegistry(routes)
    if config.default == "scripted":
        return ProviderRegistry(routes, default=scripted)
    if config.default == "openai":
        from interstate.server.providers.openai import OpenAIProvider

        if not config.openai_base_url:
            raise ValueError(
                "The openai provider needs a base URL: --openai-base-url or OPENAI_BASE_URL "
                "(e.g. http://localhost:11434/v1 for Ollama)"
            )
        provider: Provider = OpenAIProvider(config.openai_base_url, api_key=config.openai_api_key)
        return ProviderRegistry(routes, default=provider)
    if config.default == "gemini":
        from interstate.server.providers.gemini import GeminiMirrorProvider

        if not config.gemini_api_key:
            raise ValueError("The gemini provider needs an API key: set GEMINI_API_KEY")
        provider = GeminiMirrorProvider(config.gemini_api_key, base_url=config.gemini_base_url)
        return ProviderRegistry(routes, default=provider)
    raise ValueError(f"Unknown provider {config.default!r}; use scripted, openai or gemini")
