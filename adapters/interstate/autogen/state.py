"""Team state on the interstate server: each message stored once, checkpoints, crash-resume.

Stock ``team.save_state()`` holds every message N+1 times: in the manager's thread and in every
participant's model context (reference/autogen.md §3). ``TeamStateStore`` stores a team as:

* **the transcript** — the manager's thread as a chain of recorded interactions (one per
  checkpoint, holding only the messages added since the previous one, as steps; the rest of
  each message — id, source, type, timestamps — as the interaction's ``autogen_thread``
  metadata). A message whose text is the whole output of a model call the server holds (every
  agent reply made through ``InteractionsChatCompletionClient``) is stored as that
  interaction's id instead of a second copy of the text (``"_q"`` in its metadata entry); ``load``
  reads the text back from the model-call chains, which it fetches for the agent contexts
  anyway. So those interactions must be kept as long as the state is;
* **agent contexts as references** — each model context is the chain of a stored interaction
  (normally the agent's last model call, made by ``InteractionsChatCompletionClient``) plus a
  short tail; a context no stored chain covers is recorded once (``record``) and referenced;
* **container buffers as references** into the transcript (message ids);
* a small document (``autogen_state`` metadata on the newest checkpoint; removed from older ones)
  with the rest: manager scalars, references, whether the run had settled, the active speaker.

``load`` rebuilds the stock state dict from those and calls ``team.load_state``.

**Checkpoints and resume.** ``run`` / ``run_stream`` wrap the team's own: before every agent
model call the state is checkpointed (at that moment only that agent is working, so the
snapshot is consistent), at the end it is saved as settled, and after an error as unsettled. A
process that dies mid-run leaves its last checkpoint; another process builds the team as
written, ``load``\\ s, and ``run()`` continues. Loading an unsettled state first repairs what
AutoGen gets wrong after a failure (§4.1): the interrupted agent's context loses the input its
container will replay (no duplicates), and the manager is turned back to that agent
(RoundRobin ``next_speaker_index``, Selector ``previous_speaker``, Swarm ``current_speaker``),
so its turn is not lost. The interrupted turn runs again: tools it called may run twice.

Not saved (as in AutoGen): termination-condition counters and model-client usage totals.
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, AsyncIterator, Mapping

from autogen_agentchat.base import TaskResult, Team
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, MessageFactory
from autogen_core.models import AssistantMessage, LLMMessage
from interstate.client import AsyncClient
from interstate.errors import NotFoundError
from interstate.types.extensions import ExtendedInteraction

from . import _convert as cv
from ._calls import RUN_OBSERVER
from ._chains import CHAIN_KEY, SHAPE_KEY, ChainIndex
from ._repair import clear_active_speakers, manager_of, repair
from .client import InteractionsChatCompletionClient
from .context import STATE_KEY

__all__ = ["TeamStateStore"]

#: Metadata of the newest checkpoint only (older ones lose it): the state's key, to find it.
TEAM_KEY = "autogen_team"
THREAD_KEY = "autogen_thread"
DOC_KEY = "autogen_state"
RECORD_MODEL = "autogen-state"
#: Context messages after the referenced chain kept inline; longer tails are recorded.
TAIL_INLINE_MAX = 2
#: Metadata entry of a transcript message whose text is a stored interaction's output.
QUOTE_BOOK = "_q"


def _pack(rest: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """A thread message's bookkeeping, compacted (``_unpack`` inverts it)."""
    book = dict(rest)
    if steps != 1 and QUOTE_BOOK not in book:
        book["_n"] = steps
    usage = book.get("models_usage")
    if isinstance(usage, Mapping) and set(usage) == {"prompt_tokens", "completion_tokens"}:
        book["models_usage"] = [usage["prompt_tokens"], usage["completion_tokens"]]
    return book


def _steps_of(book: Mapping[str, Any]) -> int:
    """How many of the record's input steps a thread message's metadata entry stands for."""
    return 0 if QUOTE_BOOK in book else int(book.get("_n", 1))


def _unpack(book: Mapping[str, Any]) -> dict[str, Any]:
    rest = {k: v for k, v in book.items() if k not in ("_n", QUOTE_BOOK)}
    usage = rest.get("models_usage")
    if isinstance(usage, list):
        rest["models_usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return rest


class TeamStateStore:
    """Save and load a team's state on an interstate server (see the module docstring).

    ``key`` names the team's state (one line of checkpoints per key). The server is ``url``
    (like ``InteractionsChatCompletionClient``), an ``AsyncClient`` (``client=``), or the same
    server as an ``InteractionsChatCompletionClient`` (``model_client=``).
    """

    def __init__(
        self,
        key: str,
        *,
        url: str | None = None,
        api_key: str | None = None,
        client: AsyncClient | None = None,
        model_client: InteractionsChatCompletionClient | None = None,
    ) -> None:
        if not key:
            raise ValueError("TeamStateStore needs a non-empty key")
        self.key = key
        self._url, self._api_key = url, api_key
        self._injected = client
        self._model_client = model_client
        #: One AsyncClient (and chain index) per event loop: httpx clients are loop-bound.
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncClient, ChainIndex]
        ] = weakref.WeakKeyDictionary()
        self._head: str | None = None
        self._thread_ids: list[str] = []
        self._synced = False
        self._last_checkpoint: tuple[int, str | None] | None = None
        #: A checkpoint another key's state ends on, which ``fork_to`` keeps as it is.
        self._kept: str | None = None
        #: Chains read during the current load: turn id -> (chain, position in it).
        self._fetched: dict[str, tuple[list[ExtendedInteraction], int]] | None = None

    # -- plumbing -----------------------------------------------------------------------
    def _current(self) -> tuple[AsyncClient, ChainIndex]:
        if self._model_client is not None:
            return self._model_client.interstate_client(), self._model_client.chain_index()
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = self._injected or AsyncClient.from_url(self._url, api_key=self._api_key)
            entry = self._clients[loop] = (client, ChainIndex(client))
        return entry

    def _client(self) -> AsyncClient:
        return self._current()[0]

    def _index(self) -> ChainIndex:
        return self._current()[1]

    async def close(self) -> None:
        """Close the clients this store opened (not an injected one)."""
        for client, _ in list(self._clients.values()):
            if client is not self._injected:
                await client.aclose()
        self._clients.clear()

    async def _latest(self) -> ExtendedInteraction | None:
        client = self._client()
        client._require_extensions("team state")
        page = await client.interstate.list(metadata={TEAM_KEY: self.key}, page_size=5)
        for interaction in page.interactions:  # newest first
            if interaction.interstate and DOC_KEY in interaction.interstate.metadata:
                return interaction
        return None

    async def records(self) -> list[ExtendedInteraction]:
        """The stored checkpoints of the current transcript, oldest first (with inputs)."""
        latest = await self._latest()
        return [] if latest is None else await self._client().interstate.chain(latest.id)

    async def _books(self, head: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """The transcript as stored: per thread message, its metadata entry and its steps."""
        entries: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for turn in await self._client().interstate.chain(head):
            books = (turn.interstate.metadata if turn.interstate else {}).get(THREAD_KEY) or []
            steps = [s.to_wire() for s in (turn.input or [])]  # type: ignore[union-attr]
            position = 0
            for book in books:
                count = _steps_of(book)
                entries.append((book, steps[position : position + count]))
                position += count
        return entries

    async def _transcript(self, head: str) -> list[dict[str, Any]]:
        entries = await self._books(head)
        texts = await self._quoted_texts([b[QUOTE_BOOK] for b, _ in entries if QUOTE_BOOK in b])
        thread: list[dict[str, Any]] = []
        for book, steps in entries:
            if QUOTE_BOOK in book:
                text = texts[book[QUOTE_BOOK]]
                steps = [{"type": "model_output", "content": [{"type": "text", "text": text}]}]
            thread.append(cv.chat_from_steps(steps, _unpack(book)))
        return thread

    async def _quoted_texts(self, ids: list[str]) -> dict[str, str]:
        """The output texts of the model calls the transcript refers to."""
        texts: dict[str, str] = {}
        for interaction_id in reversed(ids):  # newest first: its chain holds earlier replies
            if interaction_id in texts:
                continue
            try:
                chain = await self._chain(interaction_id)
            except NotFoundError as exc:
                raise LookupError(
                    f"The team state {self.key!r} takes a message's text from interaction "
                    f"{interaction_id}, which is gone (deleted, or another server or API key)"
                ) from exc
            texts.update({turn.id: turn.output_text for turn in chain if turn.id})
        return texts

    async def _chain(self, interaction_id: str) -> list[ExtendedInteraction]:
        """The chain up to ``interaction_id``. During a load, chains already read are reused
        (the transcript's replies and the agent contexts are mostly the same chains). Completed
        turns' outputs become quotable for the model client (and for later saves)."""
        memo = self._fetched
        if memo is not None and interaction_id in memo:
            chain, position = memo[interaction_id]
            return chain[: position + 1]
        chain = await self._client().interstate.chain(interaction_id)
        outputs = self._index().outputs
        for position, turn in enumerate(chain):
            if turn.id and memo is not None:
                memo[turn.id] = (chain, position)
            if turn.id and turn.status == "completed" and turn.steps:
                outputs.remember(turn.id, turn.output_text)
        return chain

    async def _sync(self) -> None:
        """Learn the newest checkpoint (another process may have written it)."""
        if self._synced:
            return
        latest = await self._latest()
        if latest is not None:
            self._head = latest.id
            self._thread_ids = [book.get("id") for book, _ in await self._books(latest.id)]
        self._synced = True

    def fork_to(self, key: str) -> None:
        """Save from now on under ``key``, continuing the transcript of the state just
        ``load``-ed (its messages are not stored again), whose checkpoint keeps its document:
        loading the old key again gives that state again, so each key is a branch."""
        if not key:
            raise ValueError("fork_to needs a non-empty key")
        self.key, self._kept, self._last_checkpoint = key, self._head, None

    # -- save ---------------------------------------------------------------------------
    async def save(self, team: Team, *, settled: bool = True, active: str | None = None) -> str:
        """Store the team's current state; returns the checkpoint's interaction id.

        ``settled=False`` marks a state taken mid-turn or after an error (repaired on load);
        ``active`` names the agent whose turn was running.
        """
        state = dict(await team.save_state())
        return await self._save_state(state, settled=settled, active=active)

    async def _save_state(self, state: Mapping[str, Any], *, settled: bool, active: str | None) -> str:
        await self._sync()
        agent_states: Mapping[str, Any] = state.get("agent_states") or {}
        manager_name, manager = manager_of(agent_states)
        thread = list(manager.get("message_thread") or [])
        ids = [m.get("id") for m in thread]
        parent = self._head
        if ids[: len(self._thread_ids)] != self._thread_ids:
            parent = None  # the thread was reset: start a new transcript chain
            known = 0
        else:
            known = len(self._thread_ids)
        steps: list[dict[str, Any]] = []
        books: list[dict[str, Any]] = []
        outputs = self._index().outputs
        for dump in thread[known:]:
            message_steps, rest = cv.chat_to_steps(dump)
            content = dump.get("content")
            quoted = outputs.whole(content) if isinstance(content, str) else None
            if quoted is not None:  # the text is that model call's output: store the id only
                message_steps, rest = [], {**rest, QUOTE_BOOK: quoted}
            steps += message_steps
            books.append(_pack(rest, len(message_steps)))
        by_id = {m.get("id"): m for m in thread}
        doc: dict[str, Any] = {
            "version": 1,
            "settled": settled,
            "active": active,
            "thread": len(thread),
            "state": {k: v for k, v in state.items() if k != "agent_states"},
            "manager": [manager_name, {k: v for k, v in manager.items() if k != "message_thread"}],
            "agents": {},
        }
        for name, agent_state in agent_states.items():
            if name != manager_name:
                doc["agents"][name] = await self._agent_doc(name, agent_state, by_id)
        client = self._client()
        metadata = {TEAM_KEY: self.key, THREAD_KEY: books, DOC_KEY: doc}
        record = await client.interstate.record(
            previous_interaction_id=parent, input=steps or None, model=RECORD_MODEL,
            metadata=metadata,
        )  # fmt: skip
        if self._head is not None and self._head != self._kept:
            try:  # older checkpoints keep their messages only: no document, no key
                await client.interstate.update_metadata(self._head, {DOC_KEY: None, TEAM_KEY: None})
            except Exception:  # pragma: no cover - harmless: load reads the newest only
                pass
        self._head, self._thread_ids = record.id, ids
        return record.id

    async def _agent_doc(self, name: str, container: Any, by_id: Mapping[str, Any]) -> Any:
        if not isinstance(container, Mapping) or "message_buffer" not in container:
            return {"inline": container}
        buffer = [
            m.get("id") if by_id.get(m.get("id")) == m else {"inline": m}
            for m in container["message_buffer"]
        ]
        agent_state = container.get("agent_state")
        context = agent_state.get("llm_context") if isinstance(agent_state, Mapping) else None
        if isinstance(context, Mapping) and isinstance(context.get("messages"), list):
            ref = await self._context_ref(cv.parse_llm_messages(context["messages"]), context)
            agent_state = {**agent_state, "llm_context": {**context, "messages": ref}}
        rest = {k: v for k, v in container.items() if k not in ("message_buffer", "agent_state")}
        return {"container": rest, "buffer": buffer, "agent_state": agent_state}

    async def _context_ref(self, messages: list[LLMMessage], context: Mapping[str, Any]) -> Any:
        """A context's messages as ``{"chain", "n", "lead", "tail"}``; records what no chain holds."""
        _, body = cv.split_system(messages)
        lead = messages[: len(messages) - len(body)]
        hashes = cv.prefix_hashes(body)
        index = self._index()
        n, chain_id = 0, None
        ours = context.get(STATE_KEY)  # kept by InteractionsChatCompletionContext
        if (isinstance(ours, Mapping) and ours.get("scope") == index.scope
                and 0 < int(ours.get("n", 0)) <= len(hashes)):  # fmt: skip
            n, chain_id = int(ours["n"]), str(ours["id"])
            index.remember(hashes[n - 1], chain_id)
        if body:
            found_n, found_id = await index.longest(body, hashes)
            if found_n > n:
                n, chain_id = found_n, found_id
        if len(body) - n > TAIL_INLINE_MAX:
            tail = body[n:]
            record = await self._client().interstate.record(
                previous_interaction_id=chain_id, input=cv.messages_to_steps(tail),
                model=RECORD_MODEL, metadata={CHAIN_KEY: hashes[-1], SHAPE_KEY: cv.shape(tail)},
            )  # fmt: skip
            index.remember(hashes[-1], record.id)
            n, chain_id = len(body), record.id
        return {
            "chain": chain_id, "n": n, "lead": cv.dump_llm_messages(lead),
            "tail": cv.dump_llm_messages(body[n:]),
        }  # fmt: skip

    # -- load ---------------------------------------------------------------------------
    async def load(self, team: Team) -> bool:
        """Load the newest saved state into ``team``; False if nothing was saved under the key.

        An unsettled state (a crash or an error mid-run) is repaired first (module docstring).
        """
        state = await self.load_state(team)
        if state is None:
            return False
        await team.load_state(state)
        await clear_active_speakers(team)
        return True

    async def load_state(self, team: Team | None = None) -> dict[str, Any] | None:
        """The newest saved state as the stock ``TeamState`` dict (repaired), or None."""
        self._fetched = {}
        try:
            return await self._load_state(team)
        finally:
            self._fetched = None

    async def _load_state(self, team: Team | None) -> dict[str, Any] | None:
        latest = await self._latest()
        self._synced = True
        if latest is None:
            self._head, self._thread_ids = None, []
            return None
        doc = latest.interstate.metadata[DOC_KEY]  # type: ignore[union-attr]
        thread = (await self._transcript(latest.id))[: doc["thread"]]
        by_id = {m.get("id"): m for m in thread}
        manager_name, manager_rest = doc["manager"]
        agent_states: dict[str, Any] = {}
        for name, entry in doc["agents"].items():
            agent_states[name] = await self._agent_state(name, entry, by_id)
        agent_states[manager_name] = {**manager_rest, "message_thread": thread}
        state = {**doc["state"], "agent_states": agent_states}
        factory = getattr(team, "_message_factory", None) or MessageFactory()
        repair(state, settled=bool(doc.get("settled")), active=doc.get("active"), factory=factory)
        self._head, self._thread_ids = latest.id, [m.get("id") for m in thread]
        return state

    async def _agent_state(self, name: str, entry: Mapping[str, Any], by_id: Mapping[str, Any]) -> Any:
        if "inline" in entry:
            return entry["inline"]
        buffer = [by_id[item] if isinstance(item, str) else item["inline"] for item in entry["buffer"]]
        agent_state = entry.get("agent_state")
        context = agent_state.get("llm_context") if isinstance(agent_state, Mapping) else None
        if isinstance(context, Mapping) and isinstance(context.get("messages"), Mapping):
            messages = await self._context_messages(context["messages"], name)
            agent_state = {**agent_state, "llm_context": {**context, "messages": messages}}
        return {**entry["container"], "message_buffer": buffer, "agent_state": agent_state}

    async def _context_messages(self, ref: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
        lead = cv.parse_llm_messages(ref.get("lead") or [])
        body: list[LLMMessage] = []
        if ref.get("chain"):
            body = await self._chain_messages(str(ref["chain"]), source)
            body = body[: int(ref["n"])]
            hashes = cv.prefix_hashes(body)
            if hashes:
                self._index().remember(hashes[-1], str(ref["chain"]))
        body += cv.parse_llm_messages(ref.get("tail") or [])
        return cv.dump_llm_messages([*lead, *body])

    async def _chain_messages(self, interaction_id: str, source: str) -> list[LLMMessage]:
        """The messages a stored chain holds (the inverse of what the model client sends)."""
        messages: list[LLMMessage] = []
        chain = await self._chain(interaction_id)
        for turn in chain:
            metadata = turn.interstate.metadata if turn.interstate else {}
            steps = [s.to_wire() for s in (turn.input or [])]  # type: ignore[union-attr]
            messages += cv.steps_to_messages(steps, metadata.get(SHAPE_KEY),
                                             assistant_source=source)  # fmt: skip
            output = [s.to_wire() for s in turn.steps or []]
            if output:
                content, thought = cv.assistant_parts(output)
                messages.append(AssistantMessage(content=content, thought=thought, source=source))
        expected = (chain[-1].interstate.metadata if chain[-1].interstate else {}).get(CHAIN_KEY)
        if expected and cv.prefix_hashes(messages)[-1:] != [expected]:
            warnings.warn(
                f"Interaction {interaction_id} does not rebuild exactly the messages it was "
                "stored from; the agent's context may differ slightly.",
                stacklevel=2,
            )
        return messages

    # -- run with checkpoints -----------------------------------------------------------
    async def run(self, team: Team, task: Any = None, **kwargs: Any) -> TaskResult:
        """``team.run(...)`` with checkpoints (see the module docstring)."""
        result: TaskResult | None = None
        async for item in self.run_stream(team, task, **kwargs):
            if isinstance(item, TaskResult):
                result = item
        assert result is not None
        return result

    async def run_stream(
        self, team: Team, task: Any = None, **kwargs: Any
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | TaskResult, None]:
        """``team.run_stream(...)`` with checkpoints before each agent model call."""
        checkpoints = _Checkpoints(self, team)
        async with _observing(checkpoints):
            try:
                async for item in team.run_stream(task=task, **kwargs):
                    if isinstance(item, TaskResult):
                        await self.save(team, settled=True)
                    yield item
            except Exception:
                await self.save(team, settled=False, active=checkpoints.failed or checkpoints.active)
                raise


class _Checkpoints:
    """The run observer: a checkpoint before each agent model call."""

    def __init__(self, store: TeamStateStore, team: Team) -> None:
        self.store, self.team = store, team
        self.active: str | None = None
        self.failed: str | None = None

    async def before_call(self, agent: str | None) -> None:
        if agent is None:
            return
        state = dict(await self.team.save_state())
        _, manager = manager_of(state.get("agent_states") or {})
        mark = (len(manager.get("message_thread") or []), agent)
        self.active = agent
        if mark == self.store._last_checkpoint:
            return  # same turn (a tool round): the last checkpoint already resumes it
        self.store._last_checkpoint = mark
        await self.store._save_state(state, settled=False, active=agent)

    def after_call(self, agent: str | None, ok: bool) -> None:
        if not ok and agent is not None:
            self.failed = agent


@asynccontextmanager
async def _observing(observer: _Checkpoints) -> AsyncIterator[None]:
    token = RUN_OBSERVER.set(observer)
    try:
        yield
    finally:
        try:
            RUN_OBSERVER.reset(token)
        except ValueError:  # reset from another context (generator closed elsewhere)
            RUN_OBSERVER.set(None)
