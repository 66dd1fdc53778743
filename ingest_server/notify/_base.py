"""The one protocol every channel implements, the notification it sends, and its errors."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from ingest_server.alerts import AlertPublic
from rules.live import Severity

__all__ = [
    "ChannelStats",
    "DeliveryFailed",
    "Notification",
    "NotificationKind",
    "Notifier",
    "NotifyError",
    "render",
]


class NotifyError(Exception):
    """Base of the notification errors."""


class DeliveryFailed(NotifyError):
    """A channel could not deliver one notification. ``retryable`` says whether to try again
    (a 5xx, a timeout, a broken connection) or not (a 4xx, a refused signature)."""

    def __init__(self, channel: str, reason: str, *, retryable: bool = True) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason
        self.retryable = retryable


class NotificationKind(enum.StrEnum):
    FIRED = "fired"  # a new occurrence
    ESCALATED = "escalated"  # severity went up
    REMINDER = "reminder"  # still firing, nobody acknowledged
    ESCALATION = "escalation"  # handed to the second route after M minutes unacknowledged
    RESOLVED = "resolved"
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    SILENCED = "silenced"
    NOTE = "note"


class Notification(BaseModel):
    """One message for one route, already rendered in the route's language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NotificationKind
    route: str
    language: str
    title: str
    text: str
    at: datetime
    alert: AlertPublic

    def payload(self) -> dict[str, Any]:
        """The JSON body of the generic webhook, MQTT and SSE channels."""
        return self.model_dump(mode="json")


@runtime_checkable
class Notifier(Protocol):
    """A notification channel. ``send`` raises :class:`DeliveryFailed` (or an I/O error) when
    the message did not get through; the dispatcher's worker retries it."""

    name: str

    async def start(self) -> None: ...

    async def send(self, notification: Notification) -> None: ...

    async def aclose(self) -> None: ...


class ChannelStats(BaseModel):
    """Delivery counters of one channel, for the API and /metrics."""

    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    dropped: int = 0  # the queue was full: the oldest waiting notification was dropped
    queued: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None


_SEVERITY = {
    Severity.INFO: ("提示", "INFO"),
    Severity.WARNING: ("警告", "WARNING"),
    Severity.MINOR: ("次要", "MINOR"),
    Severity.MAJOR: ("重要", "MAJOR"),
    Severity.CRITICAL: ("紧急", "CRITICAL"),
}
_KIND = {
    NotificationKind.FIRED: ("告警", "Alert"),
    NotificationKind.ESCALATED: ("级别提升", "Severity raised"),
    NotificationKind.REMINDER: ("提醒：尚未确认", "Reminder, not acknowledged"),
    NotificationKind.ESCALATION: ("升级通知：长时间未确认", "Escalated, not acknowledged"),
    NotificationKind.RESOLVED: ("已恢复", "Resolved"),
    NotificationKind.UPDATED: ("更新", "Update"),
    NotificationKind.ACKNOWLEDGED: ("已确认", "Acknowledged"),
    NotificationKind.ASSIGNED: ("已指派", "Assigned"),
    NotificationKind.SILENCED: ("已静默", "Silenced"),
    NotificationKind.NOTE: ("备注", "Note"),
}


def render(
    kind: NotificationKind, alert: AlertPublic, language: str, timezone: str = "Asia/Shanghai"
) -> tuple[str, str]:
    """Title and body of a notification in ``language`` ("zh-CN" or "en")."""
    en = language.lower().startswith("en")
    tz = ZoneInfo(timezone)
    sev = _SEVERITY[alert.severity][1 if en else 0]
    what = _KIND[kind][1 if en else 0]
    message = alert.message.lang(language)
    title = f"[{sev}] {what}: {message}" if en else f"【{sev}】{what}：{message}"

    def when(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else "-"

    labels = (
        ("Site", "Subject", "Since", "Occurrences", "Alert")
        if en
        else ("站点", "对象", "开始时间", "发生次数", "告警编号")
    )
    lines = [
        title,
        f"{labels[0]}: {alert.site}" if en else f"{labels[0]}：{alert.site}",
        f"{labels[1]}: {alert.subject}" if en else f"{labels[1]}：{alert.subject}",
        f"{labels[2]}: {when(alert.since)} ({timezone})"
        if en
        else f"{labels[2]}：{when(alert.since)}（{timezone}）",
        f"{labels[3]}: {alert.occurrences}" if en else f"{labels[3]}：{alert.occurrences}",
    ]
    count = alert.details.get("count")
    if count is not None:
        lines.append(f"People in the room: {count}" if en else f"室内人数：{count}")
    evacuation = alert.details.get("evacuation_s")
    if evacuation is not None:
        lines.append(
            f"Evacuation time: {evacuation:.0f} s" if en else f"疏散用时：{evacuation:.0f} 秒"
        )
    if alert.assignee:
        lines.append(f"Assigned to: {alert.assignee}" if en else f"负责人：{alert.assignee}")
    if alert.acknowledged_by:
        lines.append(
            f"Acknowledged by: {alert.acknowledged_by}"
            if en
            else f"确认人：{alert.acknowledged_by}"
        )
    lines.append(f"{labels[4]}: {alert.id}" if en else f"{labels[4]}：{alert.id}")
    return title, "\n".join(lines)
