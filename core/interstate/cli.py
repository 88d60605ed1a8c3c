"""The ``interstate`` command line: ``interstate serve`` runs the server over HTTP."""

from __future__ import annotations

import contextlib
import copy
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional

import typer

if TYPE_CHECKING:
    from interstate.client import Client
    from interstate.server.agents import AgentRegistry

app = typer.Typer(
    help="interstate: server-side Interaction state for LangGraph, CrewAI and AutoGen.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain click help: typer's rich panels squeeze the help text into half of an 80-column
    # terminal, label flags "<bool>" and eat "[...]" as markup.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"interstate {version('interstate')}")
        raise typer.Exit()


@app.callback()
def interstate(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """interstate: server-side Interaction state for LangGraph, CrewAI and AutoGen."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command(short_help="Run the interstate server over HTTP.")
def serve(
    host: str = typer.Option("127.0.0.1", envvar="INTERSTATE_HOST", help="Address to listen on."),
    port: int = typer.Option(8080, envvar="INTERSTATE_PORT", help="TCP port to listen on."),
    db: str = typer.Option(
        None, envvar="INTERSTATE_DB", metavar="PATH|URL",
        help="SQLite database file (created if missing) or a postgresql://user:pass@host/db "
        "URL (needs interstate[postgres]). Default: $INTERSTATE_HOME/interstate.db.",
    ),
    provider: Optional[str] = typer.Option(
        None, envvar="INTERSTATE_PROVIDER",
        help="Model provider for every model: scripted (offline, deterministic), openai "
        "(any OpenAI-compatible endpoint) or gemini (Google, mirror mode). Models named "
        "scripted* always use the scripted model.",
    ),
    script: Optional[Path] = typer.Option(
        None, envvar="INTERSTATE_SCRIPT",
        help="JSON script for the scripted model (rules; see interstate.server.providers.scripted).",
    ),
    openai_base_url: Optional[str] = typer.Option(
        None, envvar="OPENAI_BASE_URL",
        help="Base URL of the OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.",
    ),
    openai_api_key: Optional[str] = typer.Option(
        None, envvar="OPENAI_API_KEY", help="API key for the OpenAI-compatible endpoint."
    ),
    gemini_api_key: Optional[str] = typer.Option(
        None, envvar="GEMINI_API_KEY", help="Gemini API key for --provider gemini."
    ),
    gemini_base_url: Optional[str] = typer.Option(
        None, envvar="INTERSTATE_GEMINI_BASE_URL",
        help="Upstream Interactions endpoint for --provider gemini (default: Google's).",
    ),
    api_key: Optional[List[str]] = typer.Option(
        None, "--api-key", envvar="INTERSTATE_API_KEYS", metavar="KEY[:TENANT]",
        help="An accepted API key, KEY or KEY:TENANT (repeat, or comma-separate in the env var). "
        "Each tenant sees only its own interactions.",
    ),
    no_auth: bool = typer.Option(
        False, "--no-auth", envvar="INTERSTATE_NO_AUTH",
        help="Accept requests without an API key (loopback addresses only).",
    ),
    max_body_bytes: int = typer.Option(
        10 * 1024 * 1024, envvar="INTERSTATE_MAX_BODY_BYTES",
        help="Largest request body accepted (413 above it).",
    ),
    body_timeout: float = typer.Option(
        60.0, envvar="INTERSTATE_BODY_TIMEOUT",
        help="Seconds a request body may take to arrive (408 after).",
    ),
    lease_seconds: float = typer.Option(
        15.0, envvar="INTERSTATE_LEASE_SECONDS",
        help="How long a running turn's lease lasts without renewal before another worker takes "
        "it over (turns of a dead process on this host are taken over at once).",
    ),
    max_concurrency: int = typer.Option(
        16, envvar="INTERSTATE_MAX_CONCURRENCY", help="Background turns run at once."
    ),
    lenient_requests: bool = typer.Option(
        False, "--lenient-requests", envvar="INTERSTATE_LENIENT_REQUESTS",
        help="Drop (and log) unknown fields of create bodies instead of refusing them with 400, "
        "for clients newer than this server.",
    ),
    agent: Optional[List[str]] = typer.Option(
        None, "--agent", envvar="INTERSTATE_AGENTS", metavar="NAME=module:attr",
        help="Serve an agent of your own as agent=NAME: a compiled LangGraph graph, an AutoGen "
        "team, an async function (input_steps, context) or a zero-argument factory of one, imported from "
        "module (the current directory is on the path). Repeat, or comma-separate in the env var.",
    ),
    log_level: str = typer.Option("info", envvar="INTERSTATE_LOG_LEVEL", help="uvicorn log level."),
) -> None:
    """Run the interstate server: the Interactions API over HTTP on a database you own."""
    import sse_starlette  # noqa: F401  # before uvicorn: it hooks uvicorn's exit to end streams
    import uvicorn

    from interstate.server.app import create_app
    from interstate.server.auth import Auth
    from interstate.server.providers import ProviderConfig, build_registry
    from interstate.server.service import InteractionService

    if no_auth and api_key:
        raise typer.BadParameter("Use either --api-key or --no-auth, not both")
    if no_auth and not _is_loopback(host):
        raise typer.BadParameter("--no-auth is only allowed on a loopback address (127.0.0.1)")
    if not no_auth and not api_key:
        raise typer.BadParameter(
            "No API keys: pass --api-key KEY[:TENANT] (or INTERSTATE_API_KEYS), or --no-auth "
            "for local use on a loopback address"
        )
    try:
        auth = Auth.disabled() if no_auth else Auth.from_specs(list(api_key or []))
        registry = build_registry(
            ProviderConfig(
                default=provider,
                script=str(script) if script else None,
                openai_base_url=openai_base_url,
                openai_api_key=openai_api_key,
                gemini_api_key=gemini_api_key,
                gemini_base_url=gemini_base_url,
            )
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    agents = _registered_agents(agent or [])
    from interstate._cli_checks import bind, probe_database
    from interstate.client import default_database_url
    from interstate.redact import RedactFilter, redact
    from interstate.server.store import database_url

    url = database_url(db) if db else default_database_url()
    with _reported_errors():
        probe_database(url)
        sock = bind(host, port)

    async def open_service() -> InteractionService:
        return await InteractionService.open(
            url, registry, lease_seconds=lease_seconds, max_concurrency=max_concurrency,
            lenient_requests=lenient_requests, agents=agents,
        )

    application = create_app(
        open_service=open_service, auth=auth, max_body_bytes=max_body_bytes,
        body_timeout_seconds=body_timeout,
    )
    typer.echo(f"interstate serving {redact(url)} on http://{host}:{port}", err=True)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["filters"] = {"redact": {"()": RedactFilter}}
    for handler in log_config["handlers"].values():  # secrets in URLs and ?key= never logged
        handler["filters"] = ["redact"]
    config = uvicorn.Config(application, log_level=log_level, log_config=log_config)
    uvicorn.Server(config).run(sockets=[sock])


def _registered_agents(specs: List[str]) -> "AgentRegistry":
    """The agents of ``--agent`` entries; a bad one is one line on stderr and exit code 2."""
    from interstate.errors import AgentRegistrationError
    from interstate.server.agents import build_agents

    try:
        return build_agents(specs)
    except AgentRegistrationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command(short_help="List the agents an interstate server serves.")
def agents(
    url: Optional[str] = typer.Option(
        None, "--url", envvar="INTERSTATE_URL", metavar="URL",
        help="The server, http://host:port (interstate serve). Default: $INTERSTATE_URL.",
    ),
    api_key: Optional[str] = typer.Option(
        None, envvar="INTERSTATE_API_KEY", help="API key for an interstate server."
    ),
) -> None:
    """List the agents registered on a server (interstate serve --agent NAME=module:attr):
    one line each, NAME and KIND."""
    from interstate.client import Client

    with _reported_errors():
        with Client.from_url(url, api_key=api_key) as client:
            client._require_extensions("listing agents")
            listed = client._request("GET", "interstate/agents").json()
    rows = listed.get("agents", []) if isinstance(listed, dict) else []
    if not rows:
        typer.echo("No agents are registered on this server (interstate serve --agent NAME=module:attr).")
    for row in rows:
        typer.echo(f"{row.get('name')}\t{row.get('kind')}")


@contextlib.contextmanager
def _reported_errors() -> Iterator[None]:
    """Print an interstate error as one line and exit 1, instead of a traceback."""
    from interstate.errors import InterstateError
    from interstate.redact import redact

    try:
        yield
    except (InterstateError, ValueError) as exc:
        typer.echo(f"error: {redact(str(exc))}", err=True)
        raise typer.Exit(1) from None


URL_HELP = (
    "Where the interactions live: sqlite:///path.db (embedded), http://host:port "
    "(interstate serve). Default: $INTERSTATE_URL, else ~/.interstate/interstate.db."
)


TENANT_HELP = (
    "Embedded databases only: whose interactions to read. A server's database holds those of "
    "every tenant of its keys (--api-key KEY:TENANT; KEY alone is tenant key-<digest>). "
    "Default: default (the tenant of embedded use and --no-auth)."
)


def _reader(url: str | None, api_key: str | None, tenant: str | None) -> tuple["Client", str | None, str]:
    """A client for a read-only command, the tenant it reads (None: an HTTP server's key
    decides) and the target's URL."""
    from interstate._cli_checks import read_only_target
    from interstate.client import Client
    from interstate.client._config import resolve_target
    from interstate.server.auth import LOCAL_TENANT, TENANT_HEADER

    read_only_target(url)
    target = resolve_target(url)
    if target.kind != "embedded":
        if tenant:
            raise ValueError(
                f"--tenant / INTERSTATE_TENANT is for embedded databases; {target.url} decides "
                "the tenant from the API key (--api-key / INTERSTATE_API_KEY)"
            )
        return Client.from_url(url, api_key=api_key), None, target.url
    tenant = tenant or LOCAL_TENANT
    return Client.from_url(url, api_key=api_key, headers={TENANT_HEADER: tenant}), tenant, target.url


@app.command(short_help="Print the conversation tree holding an interaction.")
def show(
    interaction_id: str = typer.Argument(
        ..., metavar="INTERACTION_ID", help="An interaction id of the chain to show."
    ),
    url: Optional[str] = typer.Option(
        None, "--url", envvar="INTERSTATE_URL", metavar="URL", help=URL_HELP
    ),
    api_key: Optional[str] = typer.Option(
        None, envvar="INTERSTATE_API_KEY", help="API key for an interstate server."
    ),
    tenant: Optional[str] = typer.Option(None, envvar="INTERSTATE_TENANT", help=TENANT_HELP),
) -> None:
    """Print the conversation holding INTERACTION_ID: its turns, where it forks, and the steps
    of the chain from the root down to it."""
    from rich.console import Console

    from interstate._tenants import wrong_tenant_hint
    from interstate.errors import NotFoundError
    from interstate.inspect import show as show_chain

    with _reported_errors():
        client, read_as, target = _reader(url, api_key, tenant)
        with client:
            try:
                show_chain(client, interaction_id, Console())
            except NotFoundError:
                hint = read_as and wrong_tenant_hint(target, interaction_id, read_as)
                if hint:
                    raise ValueError(hint) from None
                raise


@app.command(short_help="List recent conversations, newest first.")
def threads(
    url: Optional[str] = typer.Option(
        None, "--url", envvar="INTERSTATE_URL", metavar="URL", help=URL_HELP
    ),
    api_key: Optional[str] = typer.Option(
        None, envvar="INTERSTATE_API_KEY", help="API key for an interstate server."
    ),
    tenant: Optional[str] = typer.Option(None, envvar="INTERSTATE_TENANT", help=TENANT_HELP),
    limit: int = typer.Option(20, help="How many threads to list."),
    label: Optional[List[str]] = typer.Option(
        None, metavar="KEY=VALUE", help="Only threads whose newest turn has this label, KEY=VALUE (repeatable)."
    ),
) -> None:
    """List recent conversations (the newest turn of each chain), newest first."""
    from rich.console import Console

    from interstate._tenants import no_rows_note
    from interstate.inspect import threads as list_threads

    bad = [item for item in label or [] if "=" not in item]
    if bad:
        raise typer.BadParameter(f"{bad[0]!r} is not KEY=VALUE", param_hint="--label")
    labels = dict(item.split("=", 1) for item in label or [])
    console = Console()
    with _reported_errors():
        client, read_as, target = _reader(url, api_key, tenant)
        with client:
            shown = list_threads(client, console, limit=limit, labels=labels, tenant=read_as)
        if shown:
            return
        whose = f" of tenant {read_as!r}" if read_as else ""
        if labels:
            console.print(f"No threads{whose} with the labels {', '.join(label or [])}.")
        else:
            console.print(no_rows_note(target, read_as) if read_as else "No interactions stored yet for this API key's tenant.")


@app.command(short_help="Run the three frameworks on the embedded server, measured.")
def demo(
    db: Optional[str] = typer.Option(
        None, "--db", help="Database file for the demo (kept afterwards for `interstate show`). "
        "Default: a fresh $INTERSTATE_HOME/demo.db (~/.interstate/demo.db).",
    ),
    offline: bool = typer.Option(
        False, "--offline", "--scripted",
        help="Use the offline scripted model even when GEMINI_API_KEY is set.",
    ),
) -> None:
    """Run a LangGraph agent, an AutoGen group chat and a CrewAI crew on the embedded server,
    resume each in a new process, and measure bytes sent and stored against each framework
    alone. Offline with the scripted model; on Gemini when GEMINI_API_KEY is set. Exit code 1
    if a framework's part failed, 2 if a framework is not installed."""
    from interstate.demo import MissingFrameworkError, run_demo

    try:
        code = run_demo(db=db, scripted=offline)
    except MissingFrameworkError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # an unusable --db
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def main() -> None:
    app()
