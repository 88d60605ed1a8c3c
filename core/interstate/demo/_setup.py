"""Choices made before the demo runs: the model provider, the frameworks, the database, the
environment that keeps CrewAI off the network."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, MutableMapping
from urllib.parse import unquote, urlsplit

from interstate._cli_checks import check_sqlite_file
from interstate.demo._script import all_rules
from interstate.server.providers import ProviderConfig, ProviderRegistry, ScriptedProvider, build_registry

#: The Gemini model the demo uses when ``GEMINI_API_KEY`` is set (``INTERSTATE_DEMO_MODEL``
#: picks another).
GEMINI_MODEL = "gemini-2.5-flash"

#: CrewAI's network switches (no telemetry, trace upload or version check; no first-run
#: prompt), set in this process and inherited by the resumed ones before CrewAI is imported.
CREWAI_OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "CREWAI_TESTING": "true",
}


#: The frameworks' top loggers (their modules log under them). AutoGen logs a failed agent's
#: traceback, CrewAI each failed listener, before the error reaches the demo, which reports it.
FRAMEWORK_LOGGERS = ("autogen_core", "autogen_agentchat", "autogen_ext", "crewai", "langgraph",
                     "langchain", "langchain_core")  # fmt: skip


@contextlib.contextmanager
def quiet_frameworks() -> Iterator[None]:
    """Silence the frameworks' own logging while the demo runs: a failure is reported once, by
    the demo, in one line, not as the frameworks' tracebacks above the summary."""
    loggers = [logging.getLogger(name) for name in FRAMEWORK_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@dataclass(frozen=True)
class Framework:
    name: str
    title: str
    #: Top-level modules the demo imports for it.
    modules: tuple[str, ...]


FRAMEWORKS = (
    Framework("langgraph", "LangGraph", ("langgraph", "langchain_core")),
    Framework("autogen", "AutoGen", ("autogen_agentchat", "autogen_core")),
    Framework("crewai", "CrewAI", ("crewai",)),
)


class MissingFrameworkError(RuntimeError):
    """A framework the demo runs is not installed."""


def missing_frameworks(find: Callable[[str], object] | None = None) -> list[Framework]:
    """The frameworks whose modules ``find`` (default ``importlib.util.find_spec``) does not
    find: checked without importing them, as CrewAI alone takes seconds to import."""
    find = find or find_spec
    return [f for f in FRAMEWORKS if any(find(module) is None for module in f.modules)]


def _direct_url() -> dict[str, Any] | None:
    """How interstate was installed, if not from a package index (PEP 610 ``direct_url.json``)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("interstate").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    return json.loads(text) if text else None


def install_command(extras: str, direct_url: dict[str, Any] | None = None) -> str:
    """The command that adds ``extras`` to this installation: from the clone it was installed
    from (``pip install -e ".[all]"`` there, as the README does), else from the package index.
    ``direct_url`` defaults to this installation's ``direct_url.json``."""
    origin: dict[str, Any] = (direct_url if direct_url is not None else _direct_url()) or {}
    url = str(origin.get("url") or "")
    if url.startswith("file://") and isinstance(origin.get("dir_info"), dict):
        clone = shlex.quote(unquote(urlsplit(url).path))
        editable = "-e " if origin["dir_info"].get("editable") else ""
        return f"cd {clone} && python -m pip install {editable}{shlex.quote(f'.[{extras}]')}"
    if url and isinstance(origin.get("vcs_info"), dict):
        vcs = origin["vcs_info"].get("vcs", "git")
        source = url if url.startswith(f"{vcs}+") else f"{vcs}+{url}"
        return f"python -m pip install {shlex.quote(f'interstate[{extras}] @ {source}')}"
    return f"python -m pip install {shlex.quote(f'interstate[{extras}]')}"


def check_frameworks(find: Callable[[str], object] | None = None) -> None:
    """Raise ``MissingFrameworkError`` naming what to install if a framework is missing."""
    missing = missing_frameworks(find)
    if missing:
        names = ", ".join(f.title for f in missing)
        extras = ",".join(f.name for f in missing)
        only = f" (or only these: {install_command(extras)})" if len(missing) < len(FRAMEWORKS) else ""
        raise MissingFrameworkError(
            f"The demo runs LangGraph, AutoGen and CrewAI; not installed: {names}. "
            f"Install them with: {install_command('all')}{only}"
        )


@dataclass(frozen=True)
class Mode:
    """Which model answers: interstate's offline scripted model, or Gemini (mirror mode)."""

    provider: Literal["scripted", "gemini"]
    #: The Gemini model; the scripted mode uses each framework's scripted model name.
    gemini_model: str = GEMINI_MODEL

    def model(self, scripted_model: str) -> str:
        return scripted_model if self.provider == "scripted" else self.gemini_model

    def providers(self, environ: Mapping[str, str]) -> ProviderRegistry:
        """A new provider registry for one embedded server (providers are bound to its loop)."""
        if self.provider == "gemini":
            return build_registry(ProviderConfig(
                default="gemini", gemini_api_key=environ["GEMINI_API_KEY"],
                gemini_base_url=environ.get("INTERSTATE_GEMINI_BASE_URL"),
            ))  # fmt: skip
        return ProviderRegistry([("scripted*", ScriptedProvider(all_rules()))])

    def describe(self) -> str:
        if self.provider == "gemini":
            return f"{self.gemini_model} on Gemini (mirror mode: GEMINI_API_KEY is set)"
        return "interstate's scripted model (offline, deterministic; set GEMINI_API_KEY for Gemini)"


def choose_mode(environ: Mapping[str, str], *, scripted: bool = False) -> Mode:
    """Gemini when ``GEMINI_API_KEY`` is set, unless ``scripted`` (``--offline``) forces the
    scripted model."""
    if scripted or not environ.get("GEMINI_API_KEY"):
        return Mode("scripted")
    return Mode("gemini", environ.get("INTERSTATE_DEMO_MODEL") or GEMINI_MODEL)


def demo_database(db: str | None, environ: Mapping[str, str]) -> Path:
    """``--db`` (a path or ``sqlite:///`` URL, kept if it exists), else a fresh
    ``$INTERSTATE_HOME/demo.db`` (``~/.interstate/demo.db``; the previous demo's is replaced).

    Raises ``ValueError`` if ``--db`` is a directory, not an SQLite file, or inside a file."""
    if db:
        path = Path(db.removeprefix("sqlite:///")).expanduser().resolve()
        check_sqlite_file(path, must_exist=False)
        return path
    home = Path(environ.get("INTERSTATE_HOME") or Path("~") / ".interstate").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    path = (home / "demo.db").resolve()
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    return path


def database_url(path: Path) -> str:
    return f"sqlite:///{path}"


def go_offline(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set CrewAI's network switches (before CrewAI is imported)."""
    environ.update(CREWAI_OFFLINE_ENV)
