"""interstate for AutoGen (autogen-agentchat 0.7): chat state on the Interactions API.

* ``InteractionsChatCompletionClient`` — a model client that chains calls by
  ``previous_interaction_id`` and sends only the messages a stored chain does not hold.
* ``InteractionsChatCompletionContext`` — a model context that keeps the interaction ids with
  the messages, so a restarted process chains at once, and drops a failed turn's input when the
  turn is retried.
* ``TeamStateStore`` — team state on the server: every message stored once, as interactions;
  checkpoints during ``run``; a team whose process died resumes with ``load`` + ``run()``.

Only this package imports AutoGen; ``interstate.client`` stays framework-free.
"""

from .client import (
    CallRecord,
    InteractionFailedError,
    InteractionsChatCompletionClient,
    InteractionsChatCompletionClientConfig,
)
from .context import (
    InteractionsChatCompletionContext,
    InteractionsChatCompletionContextConfig,
)
from .state import TeamStateStore

__all__ = [
    "CallRecord",
    "InteractionFailedError",
    "InteractionsChatCompletionClient",
    "InteractionsChatCompletionClientConfig",
    "InteractionsChatCompletionContext",
    "InteractionsChatCompletionContextConfig",
    "TeamStateStore",
]
