"""Public values of the alert lifecycle: states, alerts, history entries, events."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rules.live import Severity, Text

__all__ = [
    "ACTIVE_STATES",
    "AlertDetail",
    "AlertEvent",
    "AlertPublic",
    "AlertState",
    "EventKind",
    "TransitionPublic",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class AlertState(enum.StrEnum):
    PENDING = "pending"  # the rule's condition holds but its duration has not elapsed
    FIRING = "firing"  # people are being told, and reminded until someone acknowledges
    ACKNOWLEDGED = "acknowledged"  # someone took it on; reminders stop, the condition may hold
    RESOLVED = "resolved"  # the condition cleared, or an operator resolved it with a note


ACTIVE_STATES: tuple[AlertState, ...] = (
    AlertState.PENDING,
    AlertState.FIRING,
    AlertState.ACKNOWLEDGED,
)


class EventKind(enum.StrEnum):
    """What happened to an alert; the dispatcher decides who hears about it."""

    FIRED = "fired"  # a new occurrence
    ESCALATED = "escalated"  # severity went up
    UPDATED = "updated"  # details changed (a count, the evacuation time)
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    SILENCED = "silenced"
    NOTE = "note"


class AlertPublic(BaseModel):
    """An alert as the API and the notifiers see it."""

    model_config = _FROZEN

    id: int
    rule: str
    subject: str
    site: str
    room: str | None
    device: str | None
    gateway: str | None
    state: AlertState
    severity: Severity
    message: Text
    details: dict[str, Any]
    assignee: str | None
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    since: datetime | None
    fired_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    silenced_until: datetime | None = None
    remind_every_s: float | None = None


class TransitionPublic(BaseModel):
    model_config = _FROZEN

    at: datetime
    actor: str
    action: str
    from_state: AlertState | None
    to_state: AlertState | None
    severity: Severity | None
    note: str | None


class AlertDetail(AlertPublic):
    history: list[TransitionPublic] = Field(default_factory=list)


class AlertEvent(BaseModel):
    """Something happened to an alert; handed to the notification dispatcher after commit."""

    model_config = _FROZEN

    kind: EventKind
    alert: AlertPublic
    at: datetime
    actor: str
    note: str | None = None

    @property
    def silenced(self) -> bool:
        until = self.alert.silenced_until
        return until is not None and until > self.at
