"""``InteractionsChatCompletionContext``: a model context that keeps interaction ids.

It holds the messages like ``UnboundedChatCompletionContext`` (the agent still reads them) and,
next to them, the id of the stored interaction whose chain holds the longest prefix of them.
``save_state`` adds ``{"interaction": {"id", "n", "scope"}}`` to the usual ``messages``;
``load_state`` hands the id back to the chain index, so the first call after a restart chains at
once instead of resending everything (or asking the server).

**Failed turns are dropped on retry.** AgentChat adds a turn's input to the context before the
model call and never takes it back; a retried run adds it again (reference/autogen.md §4.1).
This context notices the pattern — input, ``get_messages`` (the model was asked), no assistant
reply, then new input — and drops the failed turn's messages (input, and any partial tool
round) before the new input goes in. The same holds after ``save_state`` / ``load_state``.
"""

from __future__ import annotations

from typing import Any, Mapping

from autogen_core import Component
from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResultMessage,
    LLMMessage,
)
from pydantic import BaseModel
from typing_extensions import Self

from . import _convert as cv
from ._chains import recall_any, remember

__all__ = ["InteractionsChatCompletionContext", "InteractionsChatCompletionContextConfig"]

#: Key of the adapter's bookkeeping in the saved state (next to ``messages``).
STATE_KEY = "interaction"
TURN_KEY = "turn"


class InteractionsChatCompletionContextConfig(BaseModel):
    initial_messages: list[LLMMessage] | None = None


class InteractionsChatCompletionContext(
    ChatCompletionContext, Component[InteractionsChatCompletionContextConfig]
):
    """All messages, plus the interaction id of their longest stored prefix."""

    component_config_schema = InteractionsChatCompletionContextConfig
    component_provider_override = "interstate.autogen.InteractionsChatCompletionContext"

    def __init__(self, initial_messages: list[LLMMessage] | None = None) -> None:
        super().__init__(initial_messages)
        self._hashes: list[str] = cv.prefix_hashes(cv.split_system(self._messages)[1])
        self._lead = len(self._messages) - len(self._hashes)
        #: (n, scope, id): the chain ``id`` on ``scope`` holds the first n chained messages.
        self._chain: tuple[int, str, str] | None = None
        #: Index where the current turn's input starts; whether the model was asked since;
        #: whether it has not answered yet.
        self._turn_start: int | None = None
        self._presented = False
        self._pending = False

    # -- reading ------------------------------------------------------------------------
    async def get_messages(self) -> list[LLMMessage]:
        if self._turn_start is not None:
            self._presented = True
            self._pending = True
        # Copies: the chain is found by the content hashes of these messages, so an edit to
        # what a caller got must not change what this context holds.
        return [message.model_copy(deep=True) for message in self._messages]

    @property
    def interaction_id(self) -> str | None:
        """The stored interaction whose chain holds the longest prefix of the messages."""
        return self._chain[2] if self._chain else None

    # -- writing ------------------------------------------------------------------------
    async def add_message(self, message: LLMMessage) -> None:
        is_input = not isinstance(message, (AssistantMessage, FunctionExecutionResultMessage))
        if is_input:
            if self._turn_start is None or self._presented:
                if self._pending and self._turn_start is not None:
                    self._truncate(self._turn_start)  # the last turn failed: drop it
                self._turn_start, self._presented = len(self._messages), False
            self._pending = False
        elif isinstance(message, AssistantMessage):
            self._pending = False
        self._append(message)

    def _append(self, message: LLMMessage) -> None:
        self._messages.append(message)
        if not self._hashes and isinstance(message, cv.SystemMessage):
            # Leading system messages join the system instruction; chains start after them.
            self._lead += 1
            return
        previous = self._hashes[-1] if self._hashes else ""
        self._hashes.append(cv.extend_hash(previous, message))
        if isinstance(message, AssistantMessage):
            found = recall_any(self._hashes[-1])
            if found is not None:
                self._chain = (len(self._hashes), found[0], found[1])

    def _truncate(self, size: int) -> None:
        del self._messages[size:]
        self._lead = min(self._lead, size)
        del self._hashes[size - self._lead :]
        if self._chain and self._chain[0] > len(self._hashes):
            self._chain = None

    async def clear(self) -> None:
        self._messages = []
        self._hashes = []
        self._lead = 0
        self._chain = None
        self._turn_start, self._presented, self._pending = None, False, False

    # -- state --------------------------------------------------------------------------
    async def save_state(self) -> Mapping[str, Any]:
        state: dict[str, Any] = {"messages": cv.dump_llm_messages(self._messages)}
        if self._chain is not None:
            n, scope, interaction_id = self._chain
            state[STATE_KEY] = {"id": interaction_id, "n": n, "scope": scope}
        if self._turn_start is not None:
            state[TURN_KEY] = {"start": self._turn_start, "presented": self._presented,
                               "pending": self._pending}  # fmt: skip
        return state

    async def load_state(self, state: Mapping[str, Any]) -> None:
        await self.clear()
        for message in cv.parse_llm_messages(state.get("messages") or []):
            self._append(message)
        chain = state.get(STATE_KEY)
        if chain and 0 < int(chain["n"]) <= len(self._hashes):
            n = int(chain["n"])
            self._chain = (n, str(chain.get("scope") or ""), str(chain["id"]))
            remember(self._chain[1], self._hashes[n - 1], self._chain[2])
        turn = state.get(TURN_KEY)
        if turn:
            self._turn_start = int(turn["start"])
            self._presented, self._pending = bool(turn["presented"]), bool(turn["pending"])

    # -- component ----------------------------------------------------------------------
    def _to_config(self) -> InteractionsChatCompletionContextConfig:
        return InteractionsChatCompletionContextConfig(initial_messages=self._initial_messages)

    @classmethod
    def _from_config(cls, config: InteractionsChatCompletionContextConfig) -> Self:
        return cls(initial_messages=config.initial_messages)
