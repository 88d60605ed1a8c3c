"""LangGraph on Interaction objects: a checkpointer and a chat model.

* ``InteractionsSaver`` / ``AsyncInteractionsSaver`` — ``graph.compile(checkpointer=...)`` stores
  each checkpoint as an Interaction on an interstate server (embedded or HTTP); messages are
  stored once, as typed steps.
* ``ChatInteractions`` — a LangChain chat model on the Interactions API (Google's, or an
  interstate server) that chains by ``previous_interaction_id`` and sends only new messages.
"""

from .aio import AsyncInteractionsSaver
from .saver import InteractionsSaver

__all__ = ["InteractionsSaver", "AsyncInteractionsSaver", "ChatInteractions"]


def __getattr__(name: str):  # ChatInteractions loads lazily (it pulls in the chat model stack)
    if name == "ChatInteractions":
        from .chat import ChatInteractions

        return ChatInteractions
    raise AttributeError(name)
