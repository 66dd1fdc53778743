"""What the inspection log proves was done: completion records for the inspection schedule,
and the automatic entries telemetry writes into the log (detector tests).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from ingest_server._model import StoredReading, StoredStatus
from ingest_server.inspection_log._log import InspectionLog, NewEntry, Query
from ingest_server.inspection_log._models import Category, Entry, TestModeAlarm
from protocol import SmokeReading, SmokeSensor, SmokeState
from rules import (
    AUTOMATIC_TEST_ALARM,
    CompletionRecord,
    RecordSource,
    ScheduleEntry,
    Site,
    inspection_schedule,
)

__all__ = ["COMPLETING_CATEGORIES", "InspectionSink", "completion_records", "site_schedule"]

log = logging.getLogger(__name__)

# Equipment-test checklist items and the pack's inspection item each one completes.
_TEST_ITEMS = {
    "smoke_functional": "smoke.functional",
    "smoke_sensitivity": "smoke.sensitivity",
    "smoke_visual": "smoke.visual",
    "fire_door_annual": "door.annual",
    "light_monthly": "light.monthly",
    "light_annual": "light.annual",
    "extinguisher_monthly": "extinguisher.monthly",
    "system_annual": "system.annual_test",
}

COMPLETING_CATEGORIES = frozenset(
    {
        Category.PATROL,
        Category.PERIODIC_CHECK,
        Category.EQUIPMENT_TEST,
        Category.DRILL,
        Category.DETECTOR_SELF_TEST,
        Category.TEST_MODE_ALARM,
    }
)


def _when(entry: Entry) -> datetime:
    return datetime.fromisoformat(entry.occurred_at.replace("Z", "+00:00"))


def completion_records(entries: Iterable[Entry]) -> list[CompletionRecord]:
    """Completion records of the schedule's items proved by log entries.

    A patrol completes the daily, open-hours and (when its checklist says so) night patrols;
    an equipment test completes the items whose checklist lines passed, for its subject (a
    device) or the site; a detector self-test that passed and a test-mode alarm count where
    the pack's ``counts_also`` says so.
    """
    records: list[CompletionRecord] = []
    for entry in entries:
        when = _when(entry)
        payload = entry.payload
        checklist = payload.get("checklist")
        passed = (
            {k for k, v in checklist.items() if v == "pass"}
            if isinstance(checklist, dict)
            else set()
        )
        subject = payload.get("subject")
        subject = subject if isinstance(subject, str) and subject else entry.site
        items: list[tuple[str, str, RecordSource]] = []
        match entry.category:
            case Category.PATROL:
                items += [("patrol.daily", entry.site, RecordSource.MANUAL)]
                items += [("patrol.open_hours", entry.site, RecordSource.MANUAL)]
                if "night_patrol" in passed:
                    items += [("patrol.night", entry.site, RecordSource.MANUAL)]
            case Category.PERIODIC_CHECK:
                items += [("check.periodic", entry.site, RecordSource.MANUAL)]
            case Category.EQUIPMENT_TEST:
                items += [
                    (item, subject, RecordSource.MANUAL)
                    for key, item in _TEST_ITEMS.items()
                    if key in passed
                ]
            case Category.DRILL:
                items += [("drill", entry.site, RecordSource.AUTOMATIC)]
            case Category.DETECTOR_SELF_TEST if payload.get("result") == "pass":
                items += [("detector.self_test", str(payload["device"]), RecordSource.AUTOMATIC)]
            case Category.TEST_MODE_ALARM:
                items += [(AUTOMATIC_TEST_ALARM, str(payload["device"]), RecordSource.AUTOMATIC)]
        records += [
            CompletionRecord(item=item, subject=subj, completed_at=when, source=source)
            for item, subj, source in items
        ]
    return records


# The longest interval of any item (sensitivity tests every 24 months) plus a year of slack: an
# older completion can no longer decide whether anything is due.
LOOKBACK = timedelta(days=3 * 366)


def site_schedule(log_: InspectionLog, site: Site, now: datetime) -> tuple[ScheduleEntry, ...]:
    """The site's inspection schedule at ``now``, from the completions its log proves."""
    entries = log_.entries(
        Query(site=site.id, start=now - LOOKBACK, categories=COMPLETING_CATEGORIES)
    )
    return inspection_schedule(site, completion_records(entries), now=now)


class InspectionSink:
    """Writes detector tests seen in telemetry into the inspection log, as they are stored."""

    def __init__(self, log_: InspectionLog) -> None:
        self._log = log_
        # A detector sounding its test reports TEST for as long as the button is held: one entry
        # per test, not per reading.
        self._testing: set[str] = set()

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        by_site: dict[str, list[NewEntry]] = {}
        for s in stored:
            reading = s.reading
            if not isinstance(reading, SmokeReading):
                continue
            if reading.state is not SmokeState.TEST:
                self._testing.discard(reading.device)
                continue
            if reading.device in self._testing or reading.sensor is SmokeSensor.HEAT:
                continue
            self._testing.add(reading.device)
            by_site.setdefault(s.site, []).append(
                NewEntry(
                    Category.TEST_MODE_ALARM,
                    TestModeAlarm(device=reading.device, room=s.room),
                    actor="system",
                    occurred_at=reading.ts,
                )
            )
        for site, entries in by_site.items():
            self._log.append_many(site, entries)

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None:
        return None
