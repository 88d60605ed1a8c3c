"""Store once: checkpoints that continue ``ChatInteractions`` turns instead of repeating them.

``ChatInteractions`` stamps each AI message it returns with the interaction it came from, that
interaction's ``previous_interaction_id``, how many messages it sent as input, and the chain
hash of the whole conversation up to and including the reply. When a checkpoint's new messages
are exactly such turns — the first continuing the parent checkpoint's own interaction, each next
one continuing the one before, the hashes proving the contents equal — the checkpoint records
itself after the last turn (``previous_interaction_id``) and refers to the turns' steps for those
messages instead of storing them again. Anything that does not check out is stored as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from langchain_core.messages import AIMessage, BaseMessage

from ._messages import chain_hash, message_to_steps

#: Key of the stamp in ``AIMessage.response_metadata``.
STAMP = "interstate"


@dataclass
class Segment:
    #: Model interactions, oldest first; the checkpoint continues the last one.
    turns: list[str]
    #: ``id(message) -> side-record source``: ``[turn]`` (its output) or ``[turn, start, count]``.
    sources: dict[int, list[Any]]


def stamp_of(message: BaseMessage) -> dict[str, Any] | None:
    if not isinstance(message, AIMessage):
        return None
    stamp = (message.response_metadata or {}).get(STAMP)
    return stamp if isinstance(stamp, dict) and stamp.get("interaction_id") else None


def find_segment(
    new: Sequence[BaseMessage], parent_interaction: str | None, parent_hash: bytes | None, serde: Any
) -> Segment | None:
    """The model turns that hold a leading run of ``new`` (the messages a checkpoint adds to its
    parent's list, whose chain hash is ``parent_hash``)."""
    if parent_interaction is None or parent_hash is None:
        return None
    expected, start, running = parent_interaction, 0, parent_hash
    turns: list[str] = []
    sources: dict[int, list[Any]] = {}
    for position, message in enumerate(new):
        stamp = stamp_of(message)
        if stamp is None:
            continue
        inputs = list(new[start:position])
        if stamp.get("previous_interaction_id") != expected or stamp.get("inputs") != len(inputs):
            break
        running_next = chain_hash([*inputs, message], running)
        if stamp.get("hash") != running_next.hex():
            break
        _, side = message_to_steps(message, serde)
        if "x" in side or "raw" in side:
            break
        turn = stamp["interaction_id"]
        offset = 0
        for item in inputs:
            steps, _ = message_to_steps(item, serde)
            sources[id(item)] = [turn, offset, len(steps)]
            offset += len(steps)
        sources[id(message)] = [turn]
        turns.append(turn)
        expected, start, running = turn, position + 1, running_next
    return Segment(turns, sources) if turns else None
