"""``AsyncInteractionsSaver``: the async twin of ``InteractionsSaver`` (same plans, awaited I/O).

    async with AsyncInteractionsSaver.from_url("sqlite:///app.db") as saver:
        graph = builder.compile(checkpointer=saver)
        await graph.ainvoke(inputs, {"configurable": {"thread_id": "t1"}})

The sync methods work too, from a thread other than the event loop the saver was first used
on (as ``AsyncPostgresSaver``'s do), so ``graph.get_state`` works on an async saver.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Iterator, Sequence

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    SerializerProtocol,
)

from interstate.client import AsyncClient
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
from .saver import FEATURE, next_version

__all__ = ["AsyncInteractionsSaver"]


class AsyncInteractionsSaver(BaseCheckpointSaver[int]):
    """An asyncio LangGraph checkpointer on an interstate server (embedded or HTTP).

    Takes an ``AsyncClient``; see ``InteractionsSaver`` for the design and the stored format.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        serde: SerializerProtocol | None = None,
        cache_size: int = 1024,
    ) -> None:
        super().__init__(serde=serde)
        client._require_extensions(FEATURE)
        REGISTRY.activate()
        self.client = client
        self._core = SaverCore(self.serde, cache_size)
        self.loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def from_url(
        cls, url: str | None = None, **kwargs: Any
    ) -> AsyncIterator["AsyncInteractionsSaver"]:
        """A saver on a new ``AsyncClient.from_url(url)``, closed on exit (see
        ``InteractionsSaver.from_url``)."""
        options = {k: kwargs.pop(k) for k in ("serde", "cache_size") if k in kwargs}
        client = AsyncClient.from_url(url, **kwargs)
        try:
            yield cls(client, **options)
        finally:
            await client.aclose()

    def with_allowlist(self, extra_allowlist: Any) -> "AsyncInteractionsSaver":
        clone = super().with_allowlist(extra_allowlist)
        if clone is not self:
            clone._core = self._core.with_serde(clone.serde)
        return clone  # type: ignore[return-value]

    def get_next_version(self, current: Any, channel: None) -> Any:  # type: ignore[override]
        return next_version(current)

    # -- running plans ------------------------------------------------------------------
    async def _execute(self, op: Any) -> Any:
        send = self.client.interstate._send  # raw JSON (see ``_state.page_call``)
        if isinstance(op, (List, Refs)):
            items, token = [], None
            while True:
                page, token = parse_page(op, await send(*page_call(op, token)))
                items += page
                if not token:
                    return items
        if not isinstance(op, (Get, Chain, Batch)):
            raise TypeError(f"unknown operation {op!r}")
        try:
            return parse_single(op, await send(*single_call(op)))
        except NotFoundError:
            if isinstance(op, Batch):
                raise
            return missing(op)

    async def _iterate(self, plan: Plan, result: list[Any]) -> AsyncIterator[Any]:
        """Run ``plan``, yielding what it emits; its return value goes into ``result``."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = plan.throw(error) if error is not None else plan.send(value)
            except StopIteration as stop:
                result.append(stop.value)
                return
            if isinstance(op, Emit):
                value, error = None, None
                yield op.value
                continue
            try:
                value, error = await self._execute(op), None
            except Exception as exc:  # handed to the plan, which may recover
                value, error = None, exc

    async def _run(self, plan: Plan) -> Any:
        result: list[Any] = []
        async for _ in self._iterate(plan, result):
            raise RuntimeError("this plan emits values; iterate it")
        return result[0]

    # -- the async contract --------------------------------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(self._core.get_tuple(config))  # type: ignore[arg-type]

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        plan = self._core.list(config, filter=filter, before=before, limit=limit)  # type: ignore[arg-type]
        async for item in self._iterate(plan, []):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._run(self._core.put(config, checkpoint, metadata, new_versions))  # type: ignore[arg-type]

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Writes for any checkpoint id, stored or not yet (see ``WritePlans.put_writes``)."""
        await self._run(self._core.put_writes(config, writes, task_id, task_path))  # type: ignore[arg-type]

    async def adelete_thread(self, thread_id: str) -> None:
        await self._run(self._core.delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._run(self._core.delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._run(self._core.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._run(self._core.prune(thread_ids, strategy))

    # -- sync methods, run on the saver's event loop from another thread --------------------
    def _sync(self, coro: Any) -> Any:
        if self.loop is None:
            coro.close()
            raise RuntimeError(
                "AsyncInteractionsSaver's sync methods run on the event loop it was first used "
                "on; use it from async code first (or use InteractionsSaver)"
            )
        try:
            if asyncio.get_running_loop() is self.loop:
                coro.close()
                raise asyncio.InvalidStateError(
                    "Synchronous calls to AsyncInteractionsSaver are only allowed from a different "
                    "thread than its event loop's; from async code, use the async methods "
                    "(graph.aget_state, ...)"
                )
        except RuntimeError:
            pass
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._sync(self.aget_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        async def collect() -> list[CheckpointTuple]:
            return [t async for t in self.alist(config, filter=filter, before=before, limit=limit)]

        yield from self._sync(collect())

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:  # fmt: skip
        return self._sync(self.aput(config, checkpoint, metadata, new_versions))

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:  # fmt: skip
        return self._sync(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        return self._sync(self.adelete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        return self._sync(self.adelete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        return self._sync(self.acopy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        return self._sync(self.aprune(thread_ids, strategy=strategy))
