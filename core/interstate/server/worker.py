"""Background turns: claims queued or abandoned turns, runs them, keeps their leases alive.

A turn is abandoned when its lease expired, or when its owner ran on this host and that process
no longer exists (so a restarted server resumes a killed one's work at once instead of waiting
for leases to run out). A turn interrupted ``max_attempts`` times is failed with a clear error
instead of being retried for ever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time

from interstate.server.runner import UNFINISHED, TurnRunner, closing_after_stored
from interstate.server.store.base import InteractionRecord

log = logging.getLogger("interstate.server")


def new_owner_id() -> str:
    # secrets, not uuid.uuid4: the caller's uuid stream is theirs (tests patch it to hand out
    # deterministic ids, and a server starting mid-run must not take one).
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` was a process on this host that has exited."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class BackgroundWorker:
    def __init__(
        self,
        runner: TurnRunner,
        *,
        owner: str,
        lease_seconds: float = 15.0,
        poll_interval: float = 0.5,
        max_concurrency: int = 16,
        max_attempts: int = 3,
    ) -> None:
        self.runner = runner
        self.store = runner.store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.max_concurrency = max_concurrency
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, hand running turns back (they resume elsewhere or on restart)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        tasks = list(self.runner.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        last_renewal = 0.0
        while True:
            try:
                now = time.time()
                if now - last_renewal >= self.lease_seconds / 3:
                    await self._renew_and_reconcile(now)
                    last_renewal = now
                await self.claim_once(now)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep serving; the next round retries
                log.exception("background worker round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def claim_once(self, now: float | None = None) -> int:
        """Claim and start what capacity allows; returns how many turns were started."""
        capacity = self.max_concurrency - len(self.runner.tasks)
        if capacity <= 0:
            return 0
        dead = {o for o in await self.store.unfinished_owners() if owner_is_dead(o)}
        records = await self.store.claim_jobs(
            self.owner,
            now=now or time.time(),
            lease_seconds=self.lease_seconds,
            limit=capacity,
            dead_owners=dead,
        )
        for record in records:
            if record.attempts > self.max_attempts:
                await self._give_up(record)
            else:
                self.runner.start(record)
        return len(records)

    async def _give_up(self, record: InteractionRecord) -> None:
        record.status = "failed"
        record.errors = [
            {
                "code": "ABORTED",
                "message": f"The server stopped {record.attempts - 1} times while running this "
                "interaction; it was not retried again. Create it again to retry.",
            }
        ]
        await self.store.update_status(
            record.id, "failed", only_if=UNFINISHED, errors=record.errors, release_lease=True,
            events=await closing_after_stored(self.store, record),
        )  # fmt: skip
        self.runner.hub.publish(record.id)

    async def _renew_and_reconcile(self, now: float) -> None:
        ids = list(self.runner.tasks)
        await self.store.renew_leases(self.owner, ids, now + self.lease_seconds)
        # A turn cancelled or deleted through another process stops here too.
        statuses = await self.store.statuses(ids)
        for interaction_id in ids:
            if statuses.get(interaction_id) not in UNFINISHED:
                await self.runner.cancel(interaction_id)
