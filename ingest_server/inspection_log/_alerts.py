"""Alert lifecycle events written into the inspection log: alarms raised, acknowledged (with the
response time) and resolved, with the evacuation time of the alarm's room; devices and gateways
going silent and coming back; inspection items falling overdue."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from ingest_server.alerts import AlertEvent, EventKind
from ingest_server.inspection_log._errors import InspectionLogError
from ingest_server.inspection_log._log import InspectionLog, NewEntry
from ingest_server.inspection_log._models import (
    AlarmAcknowledged,
    AlarmRaised,
    AlarmResolved,
    Category,
    DeviceBack,
    DeviceSilent,
    Drill,
    GatewayBack,
    GatewaySilent,
    InspectionOverdue,
)

__all__ = ["AlertLogWriter"]

log = logging.getLogger(__name__)


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


class AlertLogWriter:
    """Call with each committed :class:`AlertEvent`; appends what an inspector must see."""

    def __init__(self, log_: InspectionLog) -> None:
        self._log = log_
        self.failures = 0

    def __call__(self, event: AlertEvent) -> None:
        entries = [e for e in (self._entry(event), self._evacuation(event)) if e is not None]
        if not entries:
            return
        try:
            self._log.append_many(
                event.alert.site,
                [NewEntry(c, payload, event.actor, event.at) for c, payload in entries],
            )
        except (InspectionLogError, SQLAlchemyError):
            # The alert itself is committed and notified; the log entry is what failed.
            self.failures += 1
            log.exception(
                "inspection log: cannot record %s of alert %s", event.kind, event.alert.id
            )

    @staticmethod
    def _evacuation(event: AlertEvent) -> tuple[Category, BaseModel] | None:
        """A fire alarm that ended with its room emptied: alarm → room empty → evacuation time."""
        alert = event.alert
        if alert.rule != "smoke.alarm" or event.kind is not EventKind.RESOLVED:
            return None
        seconds = alert.details.get("evacuation_s")
        since = alert.fired_at or alert.since
        if not isinstance(seconds, int | float) or since is None:
            return None
        return Category.DRILL, Drill(
            alarm_at=since,
            room_empty_at=since + timedelta(seconds=float(seconds)),
            evacuation_seconds=float(seconds),
            rooms=(alert.room,) if alert.room else (),
            remarks="由火警记录自动生成 / recorded from the fire alarm",
        )

    @staticmethod
    def _entry(event: AlertEvent) -> tuple[Category, BaseModel] | None:
        alert = event.alert
        rule = alert.rule
        since = alert.fired_at or alert.since
        if rule == "inspection.overdue":
            # The completion that ends it is an entry of its own (a patrol, a test…).
            if event.kind is not EventKind.FIRED:
                return None
            details = alert.details
            return Category.INSPECTION_OVERDUE, InspectionOverdue(
                item=str(details["item"]),
                subject=str(details["subject"]),
                due_at=datetime.fromisoformat(str(details["due_at"])),
                last_done=(
                    datetime.fromisoformat(str(details["last_done"]))
                    if details.get("last_done")
                    else None
                ),
            )
        if rule == "device.silent" and alert.device is not None:
            if event.kind is EventKind.FIRED:
                return Category.DEVICE_SILENT, DeviceSilent(
                    device=alert.device, gateway=alert.gateway, last_seen=alert.since
                )
            if event.kind is EventKind.RESOLVED:
                return Category.DEVICE_BACK, DeviceBack(
                    device=alert.device,
                    gateway=alert.gateway,
                    silent_seconds=_seconds(since, event.at),
                )
            return None
        if rule == "gateway.offline" and alert.gateway is not None:
            if event.kind is EventKind.FIRED:
                return Category.GATEWAY_SILENT, GatewaySilent(
                    gateway=alert.gateway, last_seen=alert.since
                )
            if event.kind is EventKind.RESOLVED:
                return Category.GATEWAY_BACK, GatewayBack(
                    gateway=alert.gateway, silent_seconds=_seconds(since, event.at)
                )
            return None
        match event.kind:
            case EventKind.FIRED:
                return Category.ALARM_RAISED, AlarmRaised(
                    alert_id=str(alert.id),
                    rule=rule,
                    severity=alert.severity.value,
                    room=alert.room,
                    device=alert.device,
                    message=alert.message.zh,
                )
            case EventKind.ACKNOWLEDGED:
                return Category.ALARM_ACKNOWLEDGED, AlarmAcknowledged(
                    alert_id=str(alert.id),
                    by=event.actor,
                    raised_at=since,
                    response_seconds=_seconds(since, event.at),
                )
            case EventKind.RESOLVED:
                return Category.ALARM_RESOLVED, AlarmResolved(
                    alert_id=str(alert.id),
                    by=event.actor,
                    raised_at=since,
                    duration_seconds=_seconds(since, event.at),
                    resolution=event.note or "",
                )
        return None
