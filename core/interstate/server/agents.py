"""Agents of the user's own: a LangGraph graph, an AutoGen team or an async function, served as
``agent="NAME"`` beside the model providers (docs/agents.md); CrewAI crews and flows are
detected, and refused until they can be served.

An agent turns an agent turn into output steps the way a provider turns a model turn into them:
it yields the provider items of ``providers.base`` (``OpenStep`` / ``Delta`` / ``CloseStep``, and
an optional ``Finish``), so agent turns run through the same runner, leases, events, cancel and
durability as model turns.

Registration (``interstate serve --agent NAME=module:attr``, ``INTERSTATE_AGENTS``, or
``EmbeddedServer.start(..., agents=...)``) detects the kind of each object from the names and
modules of its class's MRO — no framework is imported to do it, and subclasses are found — and
fails at start-up with one line (``AgentRegistrationError``) naming the entry and the fix.
"""

from __future__ import annotations

import bisect

import abc
import functools
import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable, Mapping, Sequence, Union

from pydantic import TypeAdapter, ValidationError

from interstate.errors import AgentRegistrationError
from interstate.server.errors import invalid_argument, not_found
from interstate.server.providers.base import ProviderItem, step_items
from interstate.types import Step, UnknownStep

if TYPE_CHECKING:
    from interstate.client import AsyncClient
    from interstate.server.service import InteractionService

__all__ = [
    "Agent",
    "AgentContext",
    "AgentRegistry",
    "AgentSpecs",
    "FunctionAgent",
    "build_agents",
    "detect_kind",
    "load_entry",
    "settled_status",
    "wire_step",
]

#: What ``agents=`` / ``--agent`` accept: a registry, ``{name: object}``, or ``NAME=module:attr``
#: strings (comma-separated lists allowed, as in ``INTERSTATE_AGENTS``).
AgentSpecs = Union["AgentRegistry", Mapping[str, Any], Sequence[str], str, None]

#: (kind, class name, module prefix) found in an object's MRO. The first match wins.
_KINDS: tuple[tuple[str, str, str], ...] = (
    ("langgraph", "Pregel", "langgraph."),
    ("langgraph", "CompiledStateGraph", "langgraph."),
    ("autogen", "BaseGroupChat", "autogen_agentchat."),
    ("autogen", "BaseChatAgent", "autogen_agentchat."),
    ("crewai", "Crew", "crewai"),
    ("crewai", "Flow", "crewai"),
)
#: Builders that are not runnable yet, and what to do about them.
_UNCOMPILED = {("StateGraph", "langgraph."): "call .compile() on it (e.g. graph = builder.compile())",
               ("Graph", "langgraph.")  : "call .compile() on it (e.g. graph = builder.compile())"}  # fmt: skip
#: Kinds that are detected but cannot run as agents in this version.
_NOT_YET = {
    "crewai": "CrewAI crews and flows cannot run as agents on this server yet",
}
_ENTRY_HELP = "use NAME=module:attr, e.g. --agent support=myapp.graphs:graph"



@functools.lru_cache(maxsize=1)
def _step_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(Step)  # built on first use: importing the server stays cheap


def _mro_match(obj: Any, table: Iterable[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    for cls in type(obj).__mro__:
        module = cls.__module__ or ""
        for row in table:
            name, prefix = row[1], row[2]
            if cls.__name__ == name and (module == prefix.rstrip(".") or module.startswith(prefix)):
                return row
    return None


def detect_kind(obj: Any) -> str | None:
    """``langgraph`` / ``autogen`` / ``crewai`` / ``function`` for what can be an agent, else
    None (factories are not called here; see ``load_entry``)."""
    row = _mro_match(obj, _KINDS)
    if row is not None:
        return str(row[0])
    if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
        return "function"
    call = getattr(type(obj), "__call__", None)
    if not inspect.isclass(obj) and call is not None and (
        inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
    ):
        return "function"
    return None


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if inspect.isroutine(obj):
        return f"the sync function {getattr(obj, '__qualname__', obj)!r}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__} object"


def _zero_arg(obj: Any) -> bool:
    """Whether ``obj`` is a plain sync function callable without arguments (a factory)."""
    if not inspect.isroutine(obj) or inspect.isclass(obj):
        return False
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )


def _refuse_unusable(entry: str, obj: Any) -> None:
    row = _mro_match(obj, [(fix, name, prefix) for (name, prefix), fix in _UNCOMPILED.items()])
    if row is not None:
        raise AgentRegistrationError(f"{entry}: {_describe(obj)} is a graph builder, not a "
                                     f"compiled graph; {row[0]}")  # fmt: skip


def resolve_agent(entry: str, obj: Any) -> tuple[str, Any]:
    """``(kind, agent object)`` for a registered object, calling a zero-argument factory once;
    ``AgentRegistrationError`` naming ``entry`` if it cannot be an agent."""
    _refuse_unusable(entry, obj)
    kind = detect_kind(obj)
    if kind is None and _zero_arg(obj):
        try:
            made = obj()
        except Exception as exc:
            raise AgentRegistrationError(f"{entry}: the factory raised {exc!r}") from None
        _refuse_unusable(entry, made)
        kind = detect_kind(made)
        if kind is None:
            raise AgentRegistrationError(
                f"{entry}: the factory returned {_describe(made)}, which is not an agent; return "
                "a compiled LangGraph graph, an AutoGen team or agent, a CrewAI Crew or Flow, or "
                "an async function (input_steps, context)"
            )
        obj = made
    if kind is None:
        hint = ("make it async (async def fn(input_steps, context)), or a zero-argument factory"
                if inspect.isroutine(obj) else
                "register a compiled LangGraph graph, an AutoGen team or agent, a CrewAI Crew or "
                "Flow, an async function (input_steps, context), or a zero-argument factory "
                "returning one")  # fmt: skip
        raise AgentRegistrationError(f"{entry}: {_describe(obj)} is not an agent; {hint}")
    if kind in _NOT_YET:
        raise AgentRegistrationError(
            f"{entry}: {_NOT_YET[kind]}; wrap it in an async function agent "
            "(async def fn(input_steps, context)) meanwhile"
        )
    return kind, obj


def load_entry(spec: str) -> tuple[str, Any]:
    """``(name, object)`` for ``NAME=module:attr`` (``attr`` may be dotted), importing the
    module with the current directory on ``sys.path`` (as ``uvicorn`` does)."""
    entry = spec.strip()
    name, eq, target = entry.partition("=")
    module_name, colon, attr = target.strip().partition(":")
    name, module_name, attr = name.strip(), module_name.strip(), attr.strip()
    if not eq or not colon or not name or not module_name or not attr:
        raise AgentRegistrationError(f"agent entry {entry!r} is not NAME=module:attr; {_ENTRY_HELP}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise AgentRegistrationError(
            f"agent {entry!r}: module {exc.name or module_name!r} was not found; check the "
            "module path (it is imported from the current directory and sys.path)"
        ) from None
    except Exception as exc:
        raise AgentRegistrationError(f"agent {entry!r}: importing {module_name!r} raised {exc!r}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AgentRegistrationError(
                f"agent {entry!r}: module {module_name!r} has no attribute {attr!r}; name the "
                "compiled graph, crew, team, async function or factory defined there"
            )
        obj = getattr(obj, part)
    return name, obj


# -- running ----------------------------------------------------------------------------------


@dataclass
class AgentContext:
    """What an agent is told about its turn besides its input steps."""

    #: The registered name (the request's ``agent``).
    agent: str
    interaction_id: str
    #: The turn this one continues (``previous_interaction_id``), or None.
    previous_interaction_id: str | None
    #: The first turn of the chain: frameworks key their thread / team state by it.
    root_interaction_id: str
    tenant: str
    #: Every step of the chain before this turn, oldest first (read-only).
    history: list[dict[str, Any]]
    #: What this agent kept for the parent turn (``Finish.provider_state``), or None.
    parent_state: dict[str, Any] | None
    #: True when an earlier run of this turn was interrupted (a crash, a stopped server):
    #: an agent that checkpoints goes on from its last checkpoint instead of starting over.
    resumed: bool = False
    _clients: Callable[[str], "AsyncClient"] | None = field(default=None, repr=False)

    def client(self) -> "AsyncClient":
        """An interstate ``AsyncClient`` on this same server, acting as this turn's tenant, for
        framework state (e.g. ``AsyncInteractionsSaver``); close it (``async with``)."""
        if self._clients is None:
            raise RuntimeError("this agent context is not connected to a server")
        return self._clients(self.tenant)


class Agent(abc.ABC):
    """A registered agent: runs one turn into provider items."""

    kind: str = "agent"

    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.target = target

    def check_input(self, steps: list[dict[str, Any]], parent_state: dict[str, Any] | None) -> None:
        """Raise ``ValueError`` saying why this agent cannot take ``steps`` after a turn that
        kept ``parent_state`` (``AgentContext.parent_state``): the create is then refused with
        a 400 before anything is written. The default takes any input."""

    @abc.abstractmethod
    def run(self, steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[ProviderItem]:
        """Stream the turn's output items (whole steps via ``step_items``), optionally ending
        with a ``Finish`` whose ``provider_state`` the next turn gets as ``parent_state``."""


def wire_step(value: Any, agent: str) -> dict[str, Any]:
    """An output step from what an agent produced: a string (a ``model_output`` text), a wire
    step dict, or a ``Step`` model; ``TypeError`` otherwise."""
    if isinstance(value, str):
        return {"type": "model_output", "content": [{"type": "text", "text": value}]}
    if isinstance(value, dict):
        try:
            value = _step_adapter().validate_python(value)
        except ValidationError as exc:
            raise TypeError(f"agent {agent!r} produced an invalid step: {exc.errors()[0]['msg']}") from None
    if isinstance(value, UnknownStep) or not hasattr(value, "to_wire"):
        raise TypeError(f"agent {agent!r} produced {value!r}, which is not a step; produce text, "
                        "a step dict or an interstate.types step")  # fmt: skip
    return dict(value.to_wire())


def settled_status(steps: list[dict[str, Any]]) -> str:
    """An agent turn's status: ``requires_action`` when a ``function_call`` has no
    ``function_result`` after it (the caller must answer it), else ``completed`` — calls the
    agent answered itself are its own tools."""
    answered = {s.get("call_id") for s in steps if s.get("type") == "function_result"}
    pending = [s for s in steps if s.get("type") == "function_call" and s.get("id") not in answered]
    return "requires_action" if pending else "completed"


class FunctionAgent(Agent):
    """``async def fn(input_steps, context)`` returning text, a step or a list of them, or an
    async generator yielding them (streamed as they come)."""

    kind = "function"

    async def _values(self, steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[Any]:
        produced = self.target(steps, context)
        if inspect.isasyncgen(produced):
            async for value in produced:
                yield value
            return
        result = await produced
        for value in [] if result is None else result if isinstance(result, (list, tuple)) else [result]:
            yield value

    async def run(self, steps: list[dict[str, Any]], context: AgentContext) -> AsyncIterator[ProviderItem]:
        async for value in self._values(steps, context):
            for item in step_items(wire_step(value, self.name)):
                yield item


def _runner_for(name: str, kind: str, obj: Any) -> Agent:
    if kind == "function":
        return FunctionAgent(name, obj)
    if kind == "langgraph":
        from interstate.langgraph.agent import LangGraphAgent  # the framework, only when used

        return LangGraphAgent(name, obj)
    if kind == "autogen":  # crewai is refused before (resolve_agent)
        from interstate.autogen.agent import AutoGenAgent

        try:
            return AutoGenAgent(name, obj)
        except ValueError as exc:
            raise AgentRegistrationError(f"agent {name!r}: {exc}") from None
    raise AgentRegistrationError(f"agent {name!r}: {_NOT_YET.get(kind, 'unknown kind ' + kind)}")


class AgentRegistry:
    """The registered agents by name, and the service they run on (``attach``)."""

    def __init__(self, agents: Mapping[str, Agent] | None = None) -> None:
        self.agents: dict[str, Agent] = dict(agents or {})
        self._service: "InteractionService | None" = None
        self._app: Any = None

    def __bool__(self) -> bool:
        return bool(self.agents)

    def add(self, name: str, obj: Any, *, entry: str | None = None) -> Agent:
        entry = entry or f"agent {name!r}"
        if not name or any(c.isspace() or c in ",=" for c in name):
            raise AgentRegistrationError(f"{entry}: the agent name {name!r} must be non-empty, "
                                         "without spaces, commas or '='")  # fmt: skip
        if name in self.agents:
            raise AgentRegistrationError(f"{entry}: an agent named {name!r} is already registered")
        kind, target = resolve_agent(entry, obj)
        agent = _runner_for(name, kind, target)
        self.agents[name] = agent
        return agent

    def resolve(self, name: str) -> Agent:
        """The agent named ``name``; a 404 naming it (and those there are) otherwise."""
        agent = self.agents.get(name)
        if agent is None:
            known = ", ".join(sorted(self.agents)) or "none"
            shown = name if len(name) <= 100 else name[:100] + "..."
            raise not_found(
                f"Agent {shown!r} is not registered on this server (agents: {known}); register it "
                "with interstate serve --agent NAME=module:attr, or pass model=..."
            )
        return agent

    def listing(self) -> list[dict[str, str]]:
        return [{"name": name, "kind": agent.kind} for name, agent in sorted(self.agents.items())]

    def page(self, page_size: str | None, page_token: str | None) -> tuple[list[str], str | None]:
        """Names in order for one page of a listing, and the next page's token (the last name
        shown), for the SDK's ``agents.list`` paging; a 400 for a bad size. A token is a
        cursor: the names after it (so any string is one, and agents registered meanwhile are
        not skipped)."""
        from interstate.server.extensions import _page_size

        size = _page_size(page_size)
        names = sorted(self.agents)
        start = bisect.bisect_right(names, page_token) if page_token else 0
        shown = names[start:start + size]
        more = start + size < len(names)
        return shown, (shown[-1] if more and shown else None)

    def attach(self, service: "InteractionService") -> None:
        self._service = service

    def client(self, tenant: str) -> "AsyncClient":
        """An ``AsyncClient`` on the attached service's own app, in process, as ``tenant``."""
        import httpx

        from interstate.client import AsyncClient
        from interstate.server.auth import TENANT_HEADER, Auth

        if self._service is None:
            raise RuntimeError("the agent registry is not attached to a service")
        if self._app is None:
            from interstate.server.app import create_app

            self._app = create_app(self._service, auth=Auth.embedded())
        return AsyncClient(
            base_url="http://interstate.agents",
            headers={TENANT_HEADER: tenant},
            _transport=httpx.ASGITransport(app=self._app),
        )


def _split(specs: Iterable[str]) -> list[str]:
    return [item.strip() for spec in specs for item in spec.split(",") if item.strip()]


def build_agents(specs: AgentSpecs) -> AgentRegistry:
    """A registry from ``agents=`` / ``--agent`` values; ``AgentRegistrationError`` (one line
    naming the entry) for the first bad one."""
    if isinstance(specs, AgentRegistry):
        return specs
    registry = AgentRegistry()
    if specs is None:
        return registry
    if isinstance(specs, Mapping):
        for name, obj in specs.items():
            if isinstance(obj, str) and ":" in obj:
                name, obj = load_entry(f"{name}={obj}")
            registry.add(str(name), obj)
        return registry
    for entry in _split([specs] if isinstance(specs, str) else specs):
        name, obj = load_entry(entry)
        registry.add(name, obj, entry=f"agent {entry!r}")
    return registry


def check_agent_input(agent: Agent, steps: list[dict[str, Any]], parent_state: dict[str, Any] | None) -> None:
    """``agent.check_input``, its ``ValueError`` reported as a 400 naming the agent."""
    try:
        agent.check_input(steps, parent_state)
    except ValueError as exc:
        raise invalid_argument(f"Agent {agent.name!r} cannot take this input: {exc}") from None
