"""Repairing a team state saved mid-turn (an error, or a crash between checkpoints).

AutoGen does not undo a failed turn (reference/autogen.md §4.1): the interrupted agent's context
keeps the input its container will hand it again, and the manager has moved past that agent.
``repair`` undoes both on the state dict before ``team.load_state``; ``clear_active_speakers``
unsticks a team object that a failed run leaves marked busy.
"""

from __future__ import annotations

from typing import Any, Mapping

from autogen_agentchat.base import Team
from autogen_agentchat.messages import BaseChatMessage, HandoffMessage, MessageFactory
from autogen_core.models import AssistantMessage, LLMMessage

from . import _convert as cv
from .context import STATE_KEY, TURN_KEY

__all__ = ["clear_active_speakers", "manager_of", "repair"]


def _replayed(dump: Mapping[str, Any], factory: MessageFactory) -> list[LLMMessage]:
    """The LLM messages an AssistantAgent adds to its context for one buffered chat message."""
    message = factory.create(dict(dump))
    if not isinstance(message, BaseChatMessage):
        return []
    added: list[LLMMessage] = list(message.context) if isinstance(message, HandoffMessage) else []
    return [*added, message.to_model_message()]


def manager_of(agent_states: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    for name, state in agent_states.items():
        if isinstance(state, Mapping) and "message_thread" in state:
            return name, state
    raise ValueError("The team state has no group chat manager (no message_thread)")


def repair(state: dict[str, Any], *, settled: bool, active: str | None, factory: MessageFactory) -> None:
    """Undo what an interrupted turn left behind (see the module docstring)."""
    agent_states = state["agent_states"]
    manager_name, manager = manager_of(agent_states)
    participants = [n for n in agent_states if n != manager_name]
    for name in participants:
        if _drop_replayed_input(agent_states[name], factory):
            active = active or name
    if settled or active is None or active not in participants:
        return
    kind = manager.get("type")
    if kind == "RoundRobinManagerState":
        manager["next_speaker_index"] = participants.index(active)
    elif kind == "SelectorManagerState":
        before = [m.get("source") for m in manager["message_thread"]
                  if m.get("source") in participants and "content" in m]  # fmt: skip
        manager["previous_speaker"] = before[-1] if before else None
    elif kind == "SwarmManagerState":
        manager["current_speaker"] = active


def _drop_replayed_input(container: Any, factory: MessageFactory) -> bool:
    """Cut an agent's context before the input its container will replay; True if cut."""
    if not isinstance(container, dict) or not container.get("message_buffer"):
        return False
    agent_state = container.get("agent_state")
    context = agent_state.get("llm_context") if isinstance(agent_state, dict) else None
    if not isinstance(context, dict) or not isinstance(context.get("messages"), list):
        return False
    replay = [m for dump in container["message_buffer"] for m in _replayed(dump, factory)]
    messages = cv.parse_llm_messages(context["messages"])
    width = len(replay)
    for start in range(len(messages) - width, -1, -1):
        if messages[start : start + width] != replay:
            continue
        after = messages[start + width :]
        if any(isinstance(m, AssistantMessage) and isinstance(m.content, str) for m in after):
            return False  # that turn finished; the buffer is newer input
        context["messages"] = cv.dump_llm_messages(messages[:start])
        context.pop(TURN_KEY, None)
        ours = context.get(STATE_KEY)
        lead = len(messages) - len(cv.split_system(messages)[1])
        if isinstance(ours, dict) and int(ours.get("n", 0)) > start - lead:
            context.pop(STATE_KEY, None)
        return True
    return False


async def clear_active_speakers(team: Team) -> None:
    """Forget the speaker a failed run left marked active in this team object's manager
    (AutoGen does not reset it, so the same team object would stall after a retry)."""
    try:
        from autogen_agentchat.teams._group_chat._base_group_chat_manager import (
            BaseGroupChatManager,
        )
        from autogen_core import AgentId

        agent_id = AgentId(team._group_chat_manager_topic_type, team._team_id)  # type: ignore[attr-defined]
        manager = await team._runtime.try_get_underlying_agent_instance(  # type: ignore[attr-defined]
            agent_id, type=BaseGroupChatManager
        )
        manager._active_speakers.clear()
    except Exception:  # pragma: no cover - other team types, or a remote runtime
        pass
