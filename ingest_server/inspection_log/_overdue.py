"""Overdue inspection items become alerts (rule ``inspection.overdue``), and their resolution
when the item is done; the alert events write ``inspection_overdue`` entries into the log.

The check is a scheduler job: it recomputes each site's schedule from the inspection log and
compares it with the open ``inspection.overdue`` alerts, so it keeps no state of its own and a
restart changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest_server.alerts import ACTIVE_STATES, AlertEvent, AlertService
from ingest_server.inspection_log._completion import site_schedule
from ingest_server.inspection_log._log import InspectionLog
from protocol import Clock
from rules import DueStatus, Registry, ScheduleEntry
from rules.live import Change, Decision, DecisionState, Severity, Text

__all__ = ["CHECK_EVERY_S", "OVERDUE_RULE", "OverdueWatcher"]

OVERDUE_RULE = "inspection.overdue"
# Hourly: the shortest interval that can fall overdue is the 2-hourly open-hours patrol.
CHECK_EVERY_S = 3600.0


def _subject(site: str, entry: ScheduleEntry) -> str:
    return f"{site}/{entry.item}/{entry.subject}"


class OverdueWatcher:
    """Raises and resolves ``inspection.overdue`` alerts from the sites' schedules."""

    def __init__(
        self,
        registry: Callable[[], Registry],
        log: InspectionLog,
        alerts: AlertService,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._log = log
        self._alerts = alerts
        self._clock = clock

    def check(self) -> list[AlertEvent]:
        """Compare every site's schedule with the open alerts; apply the differences."""
        now = self._clock.now()
        decisions: list[Decision] = []
        for site in self._registry().sites:
            schedule = site_schedule(self._log, site, now)
            overdue = {
                _subject(site.id, e): e
                for e in schedule
                if e.status is DueStatus.OVERDUE and e.due_at is not None
            }
            open_ = {
                a.subject: a
                for a in self._alerts.list_alerts(
                    rule=OVERDUE_RULE, site=site.id, state=list(ACTIVE_STATES), limit=1000
                )
            }
            for subject, entry in overdue.items():
                if subject not in open_:
                    decisions.append(self._decision(site.id, subject, entry, now, Change.FIRED))
            for subject, alert in open_.items():
                if subject not in overdue:
                    decisions.append(
                        Decision(
                            rule=OVERDUE_RULE,
                            subject=subject,
                            site=site.id,
                            state=DecisionState.RESOLVED,
                            change=Change.RESOLVED,
                            severity=alert.severity,
                            at=now,
                            since=alert.since or now,
                            message=alert.message,
                            details=alert.details,
                        )
                    )
        return self._alerts.apply(decisions)

    @staticmethod
    def _decision(
        site: str, subject: str, entry: ScheduleEntry, now: datetime, change: Change
    ) -> Decision:
        assert entry.due_at is not None
        details: dict[str, Any] = {
            "item": entry.item,
            "subject": entry.subject,
            "due_at": entry.due_at.isoformat(),
            "last_done": entry.last_done.isoformat() if entry.last_done else None,
            "source_article": entry.source.article_zh,
        }
        return Decision(
            rule=OVERDUE_RULE,
            subject=subject,
            site=site,
            state=DecisionState.FIRING,
            change=change,
            severity=Severity.MINOR,
            at=now,
            since=entry.due_at,
            message=Text(zh=entry.message_zh, en=entry.message_en),
            details=details,
            room=entry.room,
            device=entry.subject if entry.subject_kind != "site" else None,
        )
