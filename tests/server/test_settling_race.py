"""The rare 500 ``CancelledError`` at ``asyncio.shield(task)`` in ``service._respond`` (issue 13).

Cause: a foreground create waits for its turn's task. The turn commits its final status, and
while its task still awaits the database's answer, the worker's lease round (``_renew_and_
reconcile``) reads that status, finds the turn no longer unfinished, and cancels the task as if
it had been cancelled elsewhere; the task then ends cancelled and the waiting create raised
``CancelledError``. Here the round is run exactly in that window: the store's final
``update_status`` has committed and waits until the round's ``statuses`` read has happened.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from interstate.server.service import InteractionService

from .conftest import registry


async def test_a_lease_round_between_commit_and_return_does_not_cancel_the_turn(
    db_url: str,
) -> None:
    service = await InteractionService.open(db_url, registry(), lease_seconds=600)
    store = service.store
    committed, read = asyncio.Event(), asyncio.Event()
    real_update, real_statuses = store.update_status, store.statuses

    async def update_status(interaction_id: str, status: str, **kwargs: Any) -> bool:
        changed = await real_update(interaction_id, status, **kwargs)
        if status == "completed":
            committed.set()
            await read.wait()  # the database has answered; the task has not resumed yet
        return changed

    async def statuses(ids: list[str]) -> dict[str, str]:
        found = await real_statuses(ids)
        if committed.is_set():
            read.set()
        return found

    store.update_status = update_status  # type: ignore[method-assign]
    store.statuses = statuses  # type: ignore[method-assign]
    try:
        create = asyncio.create_task(service.create("t", {"model": "scripted", "input": "hi"}))
        await committed.wait()
        (running,) = service.runner.tasks.values()
        await service.worker._renew_and_reconcile(time.time())
        assert read.is_set()
        body = await create
        assert isinstance(body, dict) and body["status"] == "completed", body
        assert not running.cancelled()
        assert (await service.get("t", body["id"]))["status"] == "completed"
    finally:
        store.update_status, store.statuses = real_update, real_statuses  # type: ignore[method-assign]
        await service.close()


async def test_a_turn_handed_back_on_shutdown_answers_its_stored_state(db_url: str) -> None:
    """The other way the awaited task ends cancelled: the server stops mid-turn (the turn is
    handed back to resume elsewhere). The create answers the stored, in-progress interaction."""
    service = await InteractionService.open(db_url, registry(), lease_seconds=600)
    try:
        create = asyncio.create_task(service.create("t", {"model": "scripted", "input": "slow"}))
        while not service.runner.live or not next(iter(service.runner.live.values())):
            await asyncio.sleep(0.01)  # until the turn has started streaming
        (running,) = service.runner.tasks.values()
        running.cancel()  # what worker.stop() does to every running turn
        body = await create
        assert isinstance(body, dict) and body["status"] == "in_progress", body
        stored = await service.store.get("t", body["id"])
        assert stored is not None and stored.status == "in_progress" and stored.lease_owner is None
    finally:
        await service.close()
