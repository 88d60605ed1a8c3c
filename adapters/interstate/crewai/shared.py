"""What every ``InteractionsLLM`` of a process that talks to the same server shares.

A crew's agents usually each get their own LLM object, often each with its own client
(``InteractionsLLM(model=..., url=...)``), yet the outputs one agent produced are quoted in the
next agent's prompt. So the quotable outputs (``quotes.OutputIndex``) and the configuration
roots (below) are kept per server — per ``url`` when the LLM opened its own client, else per
client object — and live as long as an LLM uses them.

A *configuration root* is an empty recorded turn (no input, no output) that carries a system
prompt, tools and generation config. CrewAI starts a new conversation for every task, with the
same agent's system prompt and tools each time; chained under the root with
``x-interstate-inherit-config: true``, the first call of each task sends none of them, the model
still sees them (the server fills them in from the parent) and sees no other history (the root
holds none). It is recorded once per distinct configuration and server, in this process; a new
process records its own.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from interstate.client import Client

from .quotes import OutputIndex

__all__ = ["ConfigRoots", "Shared", "shared_for"]


class ConfigRoots:
    """Digest of (model, labels, configuration) → the id of the recorded turn that carries it."""

    def __init__(self, limit: int = 1024) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._ids: OrderedDict[str, str] = OrderedDict()

    def get_or_record(self, digest: str, record: Callable[[], str]) -> str:
        """The root for ``digest``, recorded with ``record()`` the first time. Two threads
        may both record one: both roots work, the later one is kept."""
        with self._lock:
            if digest in self._ids:
                self._ids.move_to_end(digest)
                return self._ids[digest]
        interaction_id = record()
        with self._lock:
            self._ids[digest] = interaction_id
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)
        return interaction_id

    def forget(self, interaction_id: str) -> None:
        """Drop a root the server no longer has (it was deleted)."""
        with self._lock:
            for digest in [d for d, i in self._ids.items() if i == interaction_id]:
                del self._ids[digest]


class Shared:
    """The quotable outputs and the configuration roots of one server."""

    def __init__(self) -> None:
        self.outputs = OutputIndex()
        self.roots = ConfigRoots()


_lock = threading.Lock()
_by_url: weakref.WeakValueDictionary[str, Shared] = weakref.WeakValueDictionary()
_by_client: weakref.WeakKeyDictionary[Client, Shared] = weakref.WeakKeyDictionary()


def shared_for(client: Client, url: str | None) -> Shared:
    """The state of the server ``client`` reaches: by ``url`` if the LLM opened the client from
    it (so LLMs built from the same URL share), else by the client object."""
    with _lock:
        table: Any = _by_url if url is not None else _by_client
        key: Any = url.strip() if url is not None else client
        shared = table.get(key)
        if shared is None:
            shared = table[key] = Shared()
        return shared
