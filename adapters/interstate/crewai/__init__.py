"""CrewAI on interstate: memory, agent conversations and Flow state on an Interactions server.

* ``enable(url)`` — CrewAI's memory (``Crew(memory=True)``, ``Memory()``, flows' memory) stored on
  the server through CrewAI's storage factory, with an offline embedder; Flow ``@persist`` state
  on the server too.
* ``InteractionsStorage`` — the ``StorageBackend`` behind it (records as interactions, vector
  search on the server).
* ``InteractionsLLM`` — a ``BaseLLM`` that chains by ``previous_interaction_id`` and sends only
  new messages; on an interstate server, the agent's system prompt and tools once, and earlier
  outputs pasted into new prompts as references.
* ``InteractionsFlowPersistence`` — ``FlowPersistence`` on the server.
* ``HashingEmbedder`` — the deterministic offline embedder.

Names are imported lazily: ``import interstate.crewai`` does not import CrewAI (≈2.5 s) until one
of them is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._enable import Interstate, disable, enable
    from .embedder import HashingEmbedder
    from .flow import InteractionsFlowPersistence
    from .llm import InteractionsLLM
    from .storage import InteractionsStorage

__all__ = [
    "enable",
    "disable",
    "Interstate",
    "InteractionsStorage",
    "InteractionsLLM",
    "InteractionsFlowPersistence",
    "HashingEmbedder",
]

_WHERE = {
    "enable": "._enable",
    "disable": "._enable",
    "Interstate": "._enable",
    "InteractionsStorage": ".storage",
    "InteractionsLLM": ".llm",
    "InteractionsFlowPersistence": ".flow",
    "HashingEmbedder": ".embedder",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
