"""Live streams across PostgreSQL replicas: ``LISTEN``/``NOTIFY`` on one channel.

Every transaction of ``PostgresStore`` that stores events or changes a status also runs
``pg_notify(CHANNEL, interaction_id)``, delivered when it commits. Each server listens on one
dedicated connection (``Listener``) and wakes its stream followers of that interaction (the
``EventHub``), so a reader on one replica gets an event another replica just stored at once,
instead of at its next poll. Notifications are only a wake-up: followers read the store, and a
lost one (the listening connection dropped and is being re-opened) costs a poll interval.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import psycopg

log = logging.getLogger("interstate.server")

CHANNEL = "interstate_events"
#: ``SELECT`` this with the interaction id as parameter inside a writing transaction.
NOTIFY_SQL = f"SELECT pg_notify('{CHANNEL}', %s)"
#: Seconds between attempts to re-open a listening connection that failed.
RECONNECT_SECONDS = 1.0


class Listener:
    """Calls ``wake(interaction_id)`` for every notification on ``CHANNEL``, in the loop that
    ``start``ed it, until ``close``."""

    def __init__(self, conninfo: str, wake: Callable[[str], None]) -> None:
        self.conninfo = conninfo
        self.wake = wake
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        """Start listening; returns once the first connection listens (or failed to open)."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        waiting = asyncio.ensure_future(self._listening.wait())
        await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    async for notify in conn.notifies():
                        self.wake(notify.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("PostgreSQL notifications stopped (%s); streams poll until they "
                            "are back", type(exc).__name__)  # fmt: skip
            self._listening.set()  # started, even if not listening: followers poll meanwhile
            await asyncio.sleep(RECONNECT_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
