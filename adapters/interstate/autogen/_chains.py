"""Which stored interaction ends with which message prefix: the chain index.

Every interaction this adapter stores (a model call, or a turn recorded by the team state
store) gets metadata ``{"autogen_chain": <prefix hash>, "autogen_shape": [...]}``: the hash of
the whole message list its chain holds (``_convert.prefix_hashes``) and the shape of its input
messages. ``ChainIndex.longest`` finds the longest prefix of a message list that a stored chain
holds:

1. an in-process memory (per server: ``scope``), filled by every call, load and save;
2. on a miss, the server: ``client.interstate.list(metadata={"autogen_chain": h})``, asked for
   the longest few candidate prefixes that end with an assistant message (where model calls
   end), so a new process finds the chains an earlier one left. Misses are remembered per
   index, so a conversation costs at most a few lookups per process.

A remembered id can be stale (deleted, or another database): using it answers 404, and the
caller forgets it and asks again (``forget``).

Each index also carries the server's ``OutputIndex`` (``outputs``, ``_quotes``): the output texts
other calls may quote.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Sequence

from autogen_core.models import AssistantMessage, LLMMessage
from interstate.client import AsyncClient

from ._quotes import OUTPUT_KEY, OutputIndex

CHAIN_KEY = "autogen_chain"
SHAPE_KEY = "autogen_shape"
#: Server lookups per call on a miss (the longest candidate prefixes first).
MAX_SERVER_LOOKUPS = 4
_MEMORY_SIZE = 200_000

__all__ = ["CHAIN_KEY", "SHAPE_KEY", "ChainIndex", "recall", "recall_any", "remember", "scope_of"]

_lock = threading.Lock()
_memory: OrderedDict[tuple[str, str], str] = OrderedDict()
#: prefix hash -> (scope, id) of the latest chain remembered for it, whatever the server.
_latest: dict[str, tuple[str, str]] = {}
#: (scope, id) -> fingerprint of the per-turn configuration that interaction was created with.
_configs: "OrderedDict[tuple[str, str], str]" = OrderedDict()


def scope_of(client: AsyncClient) -> str:
    """A name for what ``client`` sees: the server (the database, for embedded clients) and,
    for a server with API keys, which key (each key may be its own tenant, whose ids another
    tenant cannot use)."""
    if client.target == "embedded":
        transport = getattr(client._http, "_transport", None)
        server = getattr(transport, "server", None)
        url = getattr(server, "url", None)
        if url:
            return f"embedded:{url}"
    key = client._headers.get("x-goog-api-key")
    tenant = f"#{hashlib.sha256(key.encode()).hexdigest()[:12]}" if key else ""
    return f"{client.target}:{client.base_url}{tenant}"


def remember(scope: str, prefix_hash: str, interaction_id: str) -> None:
    """Note that ``interaction_id``'s chain holds the prefix ``prefix_hash`` (on ``scope``)."""
    with _lock:
        _memory[(scope, prefix_hash)] = interaction_id
        _memory.move_to_end((scope, prefix_hash))
        _latest[prefix_hash] = (scope, interaction_id)
        while len(_memory) > _MEMORY_SIZE:
            (_, old_hash), _ = _memory.popitem(last=False)
            _latest.pop(old_hash, None)


def recall(scope: str, prefix_hash: str) -> str | None:
    with _lock:
        return _memory.get((scope, prefix_hash))


def recall_any(prefix_hash: str) -> tuple[str, str] | None:
    """``(scope, id)`` of the chain last remembered for ``prefix_hash`` on any server."""
    with _lock:
        return _latest.get(prefix_hash)


def _forget(scope: str, prefix_hash: str) -> None:
    with _lock:
        _memory.pop((scope, prefix_hash), None)
        if _latest.get(prefix_hash, ("", ""))[0] == scope:
            del _latest[prefix_hash]


def note_config(scope: str, interaction_id: str, fingerprint: str) -> None:
    with _lock:
        _configs[(scope, interaction_id)] = fingerprint
        while len(_configs) > _MEMORY_SIZE:
            _configs.popitem(last=False)


def config_of(scope: str, interaction_id: str) -> str | None:
    with _lock:
        return _configs.get((scope, interaction_id))


class ChainIndex:
    """Finds stored chains by content for one server (see the module docstring)."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.scope = scope_of(client)
        self.outputs = OutputIndex(client, self.scope)
        self._misses: set[str] = set()
        #: Server lookups made (for tests and benchmarks).
        self.server_lookups = 0

    @property
    def shared(self) -> bool:
        """Whether the server keeps metadata (an interstate server, not Google's)."""
        return self.client.supports_extensions

    def remember(self, prefix_hash: str, interaction_id: str) -> None:
        self._misses.discard(prefix_hash)
        remember(self.scope, prefix_hash, interaction_id)

    def forget(self, prefix_hash: str) -> None:
        _forget(self.scope, prefix_hash)
        self._misses.add(prefix_hash)

    async def longest(
        self, messages: Sequence[LLMMessage], hashes: Sequence[str], *, limit: int | None = None
    ) -> tuple[int, str | None]:
        """``(n, id)``: the stored chain ``id`` holds ``messages[:n]``; ``(0, None)`` if none.

        Only prefixes of at most ``limit`` messages are considered (default: all).
        """
        top = len(hashes) if limit is None else min(limit, len(hashes))
        best = 0, None
        for n in range(top, 0, -1):
            found = recall(self.scope, hashes[n - 1])
            if found is not None:
                best = n, found
                break
        if not self.shared:
            return best
        asked = 0
        for n in range(top, best[0], -1):
            if asked >= MAX_SERVER_LOOKUPS:
                break
            if not isinstance(messages[n - 1], AssistantMessage):
                continue
            prefix_hash = hashes[n - 1]
            if prefix_hash in self._misses:
                continue
            asked += 1
            found = await self._lookup(prefix_hash)
            if found is not None:
                self.remember(prefix_hash, found)
                return n, found
            self._misses.add(prefix_hash)
        return best

    async def _lookup(self, prefix_hash: str) -> str | None:
        self.server_lookups += 1
        page = await self.client.interstate.list(metadata={CHAIN_KEY: prefix_hash}, page_size=5)
        for interaction in page.interactions:
            if interaction.status in ("completed", "requires_action"):
                return interaction.id
        return None

    async def tag(
        self, interaction_id: str, prefix_hash: str, shapes: list[Any], output: str | None = None
    ) -> None:
        """Store the chain hash, the input shape and the digest of the output text (``output``,
        if quotable) on the interaction (interstate servers)."""
        if self.shared:
            patch: dict[str, Any] = {CHAIN_KEY: prefix_hash, SHAPE_KEY: shapes}
            if output is not None:
                patch[OUTPUT_KEY] = output
            await self.client.interstate.update_metadata(interaction_id, patch)
        self.remember(prefix_hash, interaction_id)
