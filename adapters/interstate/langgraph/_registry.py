"""Which interaction holds which conversation, as this process knows it.

The checkpointer registers, for each checkpoint whose ``messages`` end in a user or tool
message, the chain hash of those messages and the checkpoint's interaction — before the write
is sent, so that ``ChatInteractions`` (called by the next node while LangGraph stores the
checkpoint in the background) waits for it instead of missing it. Across processes the same
answer comes from the namespace's head ref (``h``), and from the labels of model turns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class PrefixRegistry:
    def __init__(self, size: int = 4096) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._done: OrderedDict[bytes, tuple[str, str, str]] = OrderedDict()
        self._pending: dict[bytes, threading.Event] = {}
        self._used = False

    def begin(self, digest: bytes) -> None:
        with self._lock:
            self._used = True
            self._pending.setdefault(digest, threading.Event())

    def activate(self) -> None:
        """A checkpointer in this process registers the conversations it stores."""
        self._used = True

    def active(self) -> bool:
        """Whether a checkpointer in this process registers conversations at all."""
        return self._used

    def stored(self, digest: bytes, thread_id: str, checkpoint_ns: str, interaction_id: str) -> None:
        with self._lock:
            self._done[digest] = (thread_id, checkpoint_ns, interaction_id)
            self._done.move_to_end(digest)
            while len(self._done) > self._size:
                self._done.popitem(last=False)
            event = self._pending.pop(digest, None)
        if event is not None:
            event.set()

    def failed(self, digest: bytes) -> None:
        with self._lock:
            event = self._pending.pop(digest, None)
        if event is not None:
            event.set()

    def find(self, digest: bytes, wait: float = 0.0) -> tuple[str, str, str] | None:
        """``(thread, ns, interaction id)`` holding the conversation with this chain hash,
        waiting up to ``wait`` seconds for a checkpoint being stored right now."""
        with self._lock:
            found = self._done.get(digest)
            event = self._pending.get(digest) if found is None else None
        if event is not None and wait > 0:
            event.wait(wait)
            with self._lock:
                found = self._done.get(digest)
        return found

    def pending(self, digest: bytes) -> threading.Event | None:
        with self._lock:
            return self._pending.get(digest)


REGISTRY = PrefixRegistry()
