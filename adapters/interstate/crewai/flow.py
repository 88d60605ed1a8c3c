"""``InteractionsFlowPersistence``: CrewAI Flow state (``@persist``) on an interstate server.

Every ``save_state`` records one turn (no model call) in a chain per flow id: labels
``interstate-kind: crewai-flow``, metadata ``{"flow_uuid", "method", "state"}``, parent = the
flow's previous snapshot — so the server holds the flow's whole history, and
``load_state(flow_id)`` (what ``flow.kickoff(inputs={"id": ...})`` calls) reads the newest one,
from any process that reaches the same server. Pending human feedback is a snapshot with a
``pending_feedback`` entry; clearing it records a snapshot without one.
"""

from __future__ import annotations

import threading
from typing import Any

from crewai.flow.persistence.base import FlowPersistence
from pydantic import BaseModel, PrivateAttr

from interstate.client import Client

__all__ = ["InteractionsFlowPersistence"]

LABELS = {"interstate-kind": "crewai-flow"}


def _state_dict(state: dict[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(state, BaseModel):
        return state.model_dump(mode="json")
    return dict(state)


class InteractionsFlowPersistence(FlowPersistence):
    """``@persist(InteractionsFlowPersistence(url=...))``, or installed for every flow by
    ``interstate.crewai.enable()``."""

    persistence_type: str = "interstate"
    url: str | None = None
    _client: Client = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _owns_client: bool = PrivateAttr(default=False)

    def __init__(self, client: Client | None = None, **data: Any) -> None:
        super().__init__(**data)
        self._owns_client = client is None
        self._client = client if client is not None else Client.from_url(self.url)
        try:
            self._client._require_extensions("CrewAI flow persistence (record and list)")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the client this persistence opened from ``url`` (not one passed in)."""
        if self._owns_client:
            self._owns_client = False
            self._client.close()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> "InteractionsFlowPersistence":
        return self  # stateless besides the shared client; every copy is the same store

    def init_db(self) -> None:
        """Nothing to create: the server's schema is its own."""

    def _latest(self, flow_uuid: str) -> Any | None:
        page = self._client.interstate.list(
            labels=LABELS, metadata={"flow_uuid": flow_uuid}, order="desc", page_size=1
        )
        return page.interactions[0] if page.interactions else None

    def _record(self, flow_uuid: str, method_name: str, state: dict[str, Any],
                pending: dict[str, Any] | None) -> None:  # fmt: skip
        with self._lock:  # one chain per flow: parent = the newest snapshot
            latest = self._latest(flow_uuid)
            metadata: dict[str, Any] = {"flow_uuid": flow_uuid, "method": method_name,
                                        "state": state}  # fmt: skip
            if pending is not None:
                metadata["pending_feedback"] = pending
            self._client.interstate.record(
                model="crewai-flow",
                input=f"{method_name} completed",
                previous_interaction_id=latest.id if latest is not None else None,
                labels=LABELS,
                metadata=metadata,
            )

    def save_state(
        self, flow_uuid: str, method_name: str, state_data: dict[str, Any] | BaseModel
    ) -> None:
        self._record(flow_uuid, method_name, _state_dict(state_data), None)

    def load_state(self, flow_uuid: str) -> dict[str, Any] | None:
        latest = self._latest(flow_uuid)
        if latest is None or latest.interstate is None:
            return None
        state = latest.interstate.metadata.get("state")
        return dict(state) if isinstance(state, dict) else None

    def history(self, flow_uuid: str) -> list[dict[str, Any]]:
        """Every snapshot of the flow, oldest first: ``{"method", "state"}``."""
        latest = self._latest(flow_uuid)
        if latest is None:
            return []
        chain = self._client.interstate.chain(latest.id)
        return [
            {"method": i.interstate.metadata.get("method"), "state": i.interstate.metadata.get("state")}
            for i in chain if i.interstate is not None
        ]  # fmt: skip

    # -- async human feedback -------------------------------------------------------------
    def save_pending_feedback(
        self, flow_uuid: str, context: Any, state_data: dict[str, Any] | BaseModel
    ) -> None:
        pending = context.to_dict() if hasattr(context, "to_dict") else _state_dict(context)
        self._record(flow_uuid, context.method_name, _state_dict(state_data), pending)

    def load_pending_feedback(self, flow_uuid: str) -> tuple[dict[str, Any], Any] | None:
        latest = self._latest(flow_uuid)
        if latest is None or latest.interstate is None:
            return None
        pending = latest.interstate.metadata.get("pending_feedback")
        if not pending:
            return None
        from crewai.flow.async_feedback.types import PendingFeedbackContext

        context = (PendingFeedbackContext.from_dict(pending)
                   if hasattr(PendingFeedbackContext, "from_dict")
                   else PendingFeedbackContext(**pending))  # fmt: skip
        return dict(latest.interstate.metadata.get("state") or {}), context

    def clear_pending_feedback(self, flow_uuid: str) -> None:
        latest = self._latest(flow_uuid)
        if latest is None or latest.interstate is None:
            return
        if latest.interstate.metadata.get("pending_feedback"):
            meta = latest.interstate.metadata
            self._record(flow_uuid, str(meta.get("method") or "feedback"),
                         dict(meta.get("state") or {}), None)  # fmt: skip
