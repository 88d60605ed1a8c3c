"""``InteractionsSaver``: a LangGraph checkpointer whose checkpoints are Interaction objects.

    from interstate.client import Client
    from interstate.langgraph import InteractionsSaver

    graph = builder.compile(checkpointer=InteractionsSaver(Client.from_url("sqlite:///app.db")))
    # or: with InteractionsSaver.from_url("http://127.0.0.1:8080") as saver: ...

Design (the rationale; the stored format is in ``_codec``, ``_skeleton``, ``_state``, ``_put``)
---------------------------------------------------------------------------------------------

**One checkpoint, one interaction; the parent is ``previous_interaction_id``.** A thread's
checkpoints form the interaction tree, so forks, ``update_state`` and time travel are children of
older interactions. Interaction ids are derived from the checkpoint id (LangGraph's uuid6 ids are
kept exactly; ``_codec``): reading a checkpoint by id is one GET, and ids are 22 characters —
short matters, ids are stored in four indexes. ``copy_thread`` gives the copied namespace an id
suffix recorded on its head ref (a checkpoint id then exists in two threads).

**Messages are typed steps, stored once.** A message is stored as steps (``user_input``,
``model_output`` + ``function_call``, ``function_result``; ``_messages``) by the first checkpoint
whose state holds it — the input checkpoint for a human message (it enters through ``__start__``),
the checkpoint after a node for what the node returned — with a small side record for what steps
cannot hold (ids, names, kwargs, response metadata, usage), so lists rebuild exactly. Everything
else refers to it: a message channel is "the parent's list (or a prefix of it) + references",
channel values and pending writes that contain messages (``{"messages": [msg]}``, ``Send`` packets
carrying the whole state) hold references or ranges of a channel. So the official SDK's
``interactions.get(id)`` shows each message once (its steps: the turn's input, then its output),
at the checkpoint that introduced it, and walking ``previous_interaction_id`` replays the thread. When an AI message came
from a ``ChatInteractions`` turn that continued the parent checkpoint, the checkpoint continues
that turn instead (its ``previous_interaction_id`` is the model turn; ``_segments``): the reply is
stored once, by the model's own interaction.

**Everything else in a checkpoint's metadata, written once.** LangGraph's metadata (top-level
keys, queryable on the server), and under ``__lg`` the skeleton as a delta to the parent's
(timestamp, changed versions, versions seen; versions are small integers, ``get_next_version``),
non-message channels it changed (JSON when they are JSON, else ``JsonPlusSerializer``), and the
pending writes of its parent that it applied. A recorded row never grows afterwards, so SQLite
pages stay full.

**The head ref (O(1) latest, pending writes).** Each thread namespace has a ref
(``langgraph/<thread>/<ns>``, an interstate extension: a named pointer with an order key that only
moves forward, see docs/server.md). The batch that records a checkpoint moves it, so
``get_tuple`` without an id is one call that returns the head interaction itself. Its metadata
also holds the roots of the namespace's trees (listing a namespace is an index lookup per root,
no scan), the chain hash of the head's messages (for ``ChatInteractions`` in other processes), and
the pending writes of checkpoints without a child yet: ``put_writes`` is one merge-patch of the
ref — insert-if-absent per ``(task_id, idx)``, special channels replace — and the next ``put``
moves its parent's writes into its own record, in the same atomic batch. ``put`` never waits for
``put_writes`` (LangGraph runs them side by side): writes still on their way are taken over too,
writes sent once the child is being stored go to the parent's own record, and what lands on the
ref after the child is cleared by the next ``put`` (``_put``).

**Caching.** A recorded checkpoint never changes, so rebuilt states are cached by interaction id
(LRU) and a new checkpoint's state is computed from its parent's: a running thread never re-reads
its history. A cold read (a new process) fetches the chain in one call and rebuilds it root to
head once — linear in the thread's depth, the cost of storing each message once.

**Costs.** ``put``, ``put_writes`` and ``get_tuple`` (latest) are one request each; ``get_tuple``
of an older checkpoint adds the lookup of its children (whose records hold its applied writes).
Deletions keep survivors readable (``_maintenance``).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Sequence

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    SerializerProtocol,
)

from interstate.client import Client
from interstate.errors import NotFoundError

from ._plans import SaverCore
from ._registry import REGISTRY
from ._state import (
    Batch,
    Chain,
    Emit,
    Get,
    List,
    Plan,
    Refs,
    missing,
    page_call,
    parse_page,
    parse_single,
    single_call,
)

__all__ = ["InteractionsSaver"]

FEATURE = "LangGraph checkpoints (InteractionsSaver)"


def next_version(current: Any) -> Any:
    """Small increasing integers (strings of the stock savers' format keep their type)."""
    if current is None:
        return 1
    if isinstance(current, str):
        return f"{int(current.split('.')[0]) + 1:032}.{0:016}"
    return int(current) + 1


class InteractionsSaver(BaseCheckpointSaver[int]):
    """A synchronous LangGraph checkpointer on an interstate server (embedded or HTTP).

    ``client`` must reach an interstate server: Google's endpoint has no way to store a
    checkpoint without calling a model, so it is refused here with an error saying how to run
    one. ``cache_size`` bounds the rebuilt checkpoint states kept in memory.
    """

    def __init__(
        self, client: Client, *, serde: SerializerProtocol | None = None, cache_size: int = 1024
    ) -> None:
        super().__init__(serde=serde)
        client._require_extensions(FEATURE)
        REGISTRY.activate()
        self.client = client
        self._core = SaverCore(self.serde, cache_size)
        self._last = threading.local()

    @classmethod
    @contextlib.contextmanager
    def from_url(cls, url: str | None = None, **kwargs: Any) -> Iterator["InteractionsSaver"]:
        """A saver on a new ``Client.from_url(url)`` (``sqlite:///file.db``, ``memory://``,
        ``http://host:port``; default ``$INTERSTATE_URL`` or ``~/.interstate``), closed on exit.
        ``serde`` and ``cache_size`` go to the saver, other keywords to the client."""
        options = {k: kwargs.pop(k) for k in ("serde", "cache_size") if k in kwargs}
        client = Client.from_url(url, **kwargs)
        try:
            yield cls(client, **options)
        finally:
            client.close()

    def with_allowlist(self, extra_allowlist: Any) -> "InteractionsSaver":
        clone = super().with_allowlist(extra_allowlist)
        if clone is not self:
            clone._core = self._core.with_serde(clone.serde)
        return clone  # type: ignore[return-value]

    def get_next_version(self, current: Any, channel: None) -> Any:  # type: ignore[override]
        return next_version(current)

    # -- running plans ------------------------------------------------------------------
    def _execute(self, op: Any) -> Any:
        send = self.client.interstate._send  # raw JSON (see ``_state.page_call``)
        if isinstance(op, (List, Refs)):
            items, token = [], None
            while True:
                page, token = parse_page(op, send(*page_call(op, token)))
                items += page
                if not token:
                    return items
        if not isinstance(op, (Get, Chain, Batch)):
            raise TypeError(f"unknown operation {op!r}")
        try:
            return parse_single(op, send(*single_call(op)))
        except NotFoundError:
            if isinstance(op, Batch):
                raise
            return missing(op)

    def _run(self, plan: Plan) -> Any:
        """Run ``plan`` to its return value."""
        for _ in self._iterate(plan, emits=False):
            pass
        return self._last.value

    def _iterate(self, plan: Plan, *, emits: bool = True) -> Iterator[Any]:
        """Run ``plan``, yielding what it emits (``list``)."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = plan.throw(error) if error is not None else plan.send(value)
            except StopIteration as stop:
                self._last.value = stop.value
                return
            if isinstance(op, Emit):
                if not emits:
                    raise RuntimeError("this plan emits values; iterate it")
                value, error = None, None
                yield op.value
                continue
            try:
                value, error = self._execute(op), None
            except Exception as exc:  # handed to the plan, which may recover
                value, error = None, exc

    # -- the contract -------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._core.get_tuple(config))  # type: ignore[arg-type]

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        plan = self._core.list(config, filter=filter, before=before, limit=limit)  # type: ignore[arg-type]
        yield from self._iterate(plan)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._run(self._core.put(config, checkpoint, metadata, new_versions))  # type: ignore[arg-type]

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Writes for any checkpoint id, stored or not yet (see ``WritePlans.put_writes``)."""
        self._run(self._core.put_writes(config, writes, task_id, task_path))  # type: ignore[arg-type]

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._core.delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._core.delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._core.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._core.prune(thread_ids, strategy))
