"""Agent configuration (``agent_config``) and the sandbox ``environment`` for agents and code."""

from __future__ import annotations

from typing import Literal

from ._base import Int64, TypedModel, UnknownVariant, WireModel, open_union

__all__ = [
    "DynamicAgentConfig",
    "DeepResearchAgentConfig",
    "AntigravityAgentConfig",
    "FileContent",
    "FindRequest",
    "FixRequest",
    "SessionConfig",
    "CodeMenderAgentConfig",
    "UnknownAgentConfig",
    "AgentConfig",
    "EnvVar",
    "AllowlistEntry",
    "EnvironmentNetworkEgressAllowlist",
    "Source",
    "Environment",
    "UnknownEnvironment",
    "EnvironmentConfig",
]


class DynamicAgentConfig(TypedModel):
    type: Literal["dynamic"] = "dynamic"


class DeepResearchAgentConfig(TypedModel):
    type: Literal["deep-research"] = "deep-research"
    #: ``auto`` or ``none``.
    thinking_summaries: str | None = None
    #: ``off`` or ``auto``.
    visualization: str | None = None
    collaborative_planning: bool | None = None
    enable_bigquery_tool: bool | None = None


class AntigravityAgentConfig(TypedModel):
    type: Literal["antigravity"] = "antigravity"
    model: str | None = None
    max_total_tokens: Int64 | None = None


class FileContent(WireModel):
    """A source file handed to CodeMender: its ``path`` and text ``content``."""

    path: str | None = None
    content: str | None = None


class FixRequest(WireModel):
    description: str | None = None
    finding_id: str | None = None
    source_files: list[FileContent] | None = None


class FindRequest(FixRequest):
    """Like a fix request, plus the ``mode``: ``scan`` or ``verify``."""

    mode: str | None = None


class SessionConfig(WireModel):
    max_rounds: int | None = None


class CodeMenderAgentConfig(TypedModel):
    type: Literal["code-mender"] = "code-mender"
    model: str | None = None
    session_id: str | None = None
    session_config: SessionConfig | None = None
    find_request: FindRequest | None = None
    fix_request: FixRequest | None = None


class UnknownAgentConfig(UnknownVariant):
    """An agent config of a type this client does not know, kept as received."""


AgentConfig = open_union(
    DynamicAgentConfig,
    DeepResearchAgentConfig,
    AntigravityAgentConfig,
    CodeMenderAgentConfig,
    unknown=UnknownAgentConfig,
)


# --- environment -------------------------------------------------------------------------------


class EnvVar(WireModel):
    """An environment variable given by ``value`` or by a stored ``credential``."""

    value: str | None = None
    credential: str | None = None


class AllowlistEntry(WireModel):
    """A domain the sandbox may reach, optionally with headers injected by ``transform``."""

    domain: str
    credential: str | None = None
    transform: dict[str, str] | list[dict[str, str]] | None = None


class EnvironmentNetworkEgressAllowlist(WireModel):
    #: ``"disabled"`` or a list of allowed domains.
    allowlist: str | list[AllowlistEntry] | None = None


class Source(WireModel):
    """Files to place in the sandbox. ``type`` (gcs, inline, repository, skill_registry) is a
    plain field here, not a union tag."""

    type: str | None = None
    source: str | None = None
    target: str | None = None
    content: str | None = None
    encoding: str | None = None


class Environment(TypedModel):
    """A remote sandbox: variables, network policy and source files."""

    type: Literal["remote"] = "remote"
    environment_id: str | None = None
    env: dict[str, str | EnvVar] | None = None
    #: ``"disabled"`` or an egress allowlist.
    network: str | EnvironmentNetworkEgressAllowlist | None = None
    sources: list[Source] | None = None


class UnknownEnvironment(UnknownVariant):
    """An environment object of a type this client does not know, kept as received."""


#: The object form of ``environment`` (the field also accepts an environment id string).
EnvironmentConfig = open_union(Environment, unknown=UnknownEnvironment)
