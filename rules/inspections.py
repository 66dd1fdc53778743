"""Inspection and test schedules: each inspectable item of a site, its last completion and when
it is next due.

Items and intervals come from the site's pack (RULES.md C). Site items (patrols, checks,
drills, system and lighting tests, extinguishers) have the site as subject; device items (each
smoke detector's tests, each fire door's inspection) have one entry per device. A completion
record counts for an item when it names the item (or, where the pack lists it in
``counts_also``, an automatic record such as a detector self-test) and the subject. ``now`` is
always an argument.

Status of an entry:

- ``ok``: last done (or in service since) recently enough;
- ``due_soon``: within the item's ``warn_before`` of its due time;
- ``overdue``: past its due time;
- ``never_done``: no completion on record and nothing to count from (no in-service date, no
  opening): due at once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field

from protocol import Reading, SmokeReading, SmokeSensor, SmokeState
from rules._packs import InspectionItem, Interval, Pack, SiteFlag, SourceRef, load_pack
from rules.facility import Device, Site
from rules.utilization import open_periods

__all__ = [
    "AUTOMATIC_TEST_ALARM",
    "CompletionRecord",
    "DueStatus",
    "RecordSource",
    "ScheduleEntry",
    "automatic_records",
    "inspection_schedule",
    "needing_attention",
]

# The record kind of a detector sounding in test mode (test button, commanded self-test); the
# pack says which items it counts for (``counts_also``).
AUTOMATIC_TEST_ALARM = "detector.test_alarm"

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class RecordSource(enum.StrEnum):
    MANUAL = "manual"  # entered by a person (patrol app, paper log transcribed)
    AUTOMATIC = "automatic"  # from telemetry: a detector self-test, a test-mode alarm


class CompletionRecord(BaseModel):
    """One completed inspection or test, as the inspection log holds it."""

    model_config = _FROZEN

    item: str = Field(
        min_length=1,
        max_length=64,
        description="An item id of the pack, or an automatic record kind (detector.self_test)",
    )
    subject: str = Field(min_length=1, max_length=64, description="Site id or device id")
    completed_at: AwareDatetime
    source: RecordSource = RecordSource.MANUAL


class DueStatus(enum.StrEnum):
    OK = "ok"  # done recently enough
    DUE_SOON = "due_soon"  # within the warning window before the due time
    OVERDUE = "overdue"  # past the due time
    NEVER_DONE = "never_done"  # nothing on record and nothing to count from: due at once


_STATUS_TEXT: dict[DueStatus, tuple[str, str]] = {
    DueStatus.OK: ("正常", "ok"),
    DueStatus.DUE_SOON: ("即将到期", "due soon"),
    DueStatus.OVERDUE: ("已逾期", "overdue"),
    DueStatus.NEVER_DONE: ("从未进行", "never done"),
}


class ScheduleEntry(BaseModel):
    """One inspectable item for one subject: when it was last done and when it is due."""

    model_config = _FROZEN

    item: str
    subject: str
    subject_kind: str = Field(description="site, or the device kind")
    room: str | None = None
    title_zh: str
    title_en: str
    every: Interval
    last_done: datetime | None
    last_source: RecordSource | None
    due_at: datetime | None
    status: DueStatus
    source: SourceRef
    document_number: str
    due_local: str | None = Field(description="Due time in the site's time zone, for people")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_zh(self) -> str:
        return _STATUS_TEXT[self.status][0]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message_zh(self) -> str:
        who = "" if self.subject_kind == "site" else f"（{self.subject}）"
        when = f"，应于{self.due_local}前完成" if self.due_local else ""
        return f"{self.title_zh}{who}{_STATUS_TEXT[self.status][0]}{when}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message_en(self) -> str:
        who = "" if self.subject_kind == "site" else f" ({self.subject})"
        when = f", due by {self.due_local}" if self.due_local else ""
        return f"{self.title_en}{who}: {_STATUS_TEXT[self.status][1]}{when}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_en(self) -> str:
        return _STATUS_TEXT[self.status][1]


def _applies(item: InspectionItem, site: Site, flags: frozenset[SiteFlag]) -> bool:
    if item.when is not None and item.when not in flags:
        return False
    if item.site_functions:
        offered = {r.function for r in site.rooms}
        if not offered & item.site_functions:
            return False
    return True


def _subjects(item: InspectionItem, site: Site) -> list[tuple[str, str, str | None]]:
    """(subject id, subject kind, room) for each subject of ``item`` at ``site``."""
    if item.subject == "site":
        return [(site.id, "site", None)]
    found: list[Device] = [
        d
        for _, d in site.devices()
        if d.kind in item.device_kinds and (not item.door_roles or d.role in item.door_roles)
    ]
    return [(d.id, d.kind.value, d.room) for d in found]


def _window_end_after(item: InspectionItem, moment: datetime, zone: ZoneInfo) -> datetime:
    """The end of the first local window that ends after ``moment``."""
    assert item.window is not None
    local = moment.astimezone(zone)
    end = datetime.combine(local.date(), item.window.end, tzinfo=zone)
    if end <= local:
        end += timedelta(days=1)
    return end


def _status(now: datetime, due: datetime, warn: Interval) -> DueStatus:
    if now > due:
        return DueStatus.OVERDUE
    if now >= warn.before(due):
        return DueStatus.DUE_SOON
    return DueStatus.OK


def _while_open_due(
    site: Site, every: Interval, last: datetime | None, now: datetime
) -> tuple[datetime | None, bool]:
    """Due time of an item due every ``every`` while the site is open, and whether it is open.

    Outside opening hours the next due time counts from the next opening. A site without
    recorded opening hours counts as always open, so a patrol is never silently skipped; with
    no patrol on record either, there is nothing to count from (None).
    """
    if not site.opening_hours:
        return (every.after(last) if last else None), True
    current = open_periods(site, now - timedelta(days=8), now + timedelta(days=8))
    for start, end in current:
        if start <= now < end:
            anchor = last if last is not None and last >= start else start
            return every.after(anchor), True
    upcoming = [start for start, _ in current if start > now]
    return every.after(upcoming[0]) if upcoming else every.after(now), False


def inspection_schedule(
    site: Site,
    records: Iterable[CompletionRecord],
    *,
    now: datetime,
    pack: Pack | None = None,
    flags: Iterable[SiteFlag] = (),
    in_service_since: Mapping[str, datetime] | None = None,
) -> tuple[ScheduleEntry, ...]:
    """The schedule of every inspectable item of ``site`` at ``now``.

    ``records``: completion records of the site and its devices (others are ignored; records
    after ``now`` are ignored). ``flags``: the site's fire-safety classification (public
    gathering site, key fire-safety unit, public institution), which selects intervals and
    items. ``in_service_since``: by subject id (site or device), the time it came into
    service; the first due time of a never-tested subject counts from it.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    pack = pack if pack is not None else load_pack(site.jurisdiction)
    flag_set = frozenset(flags)
    since = in_service_since or {}
    zone = ZoneInfo(site.timezone)
    by_kind: dict[str, list[CompletionRecord]] = {}
    for record in records:
        if record.completed_at <= now:
            by_kind.setdefault(record.item, []).append(record)

    entries: list[ScheduleEntry] = []
    for item_id, item in pack.inspections.items():
        if not _applies(item, site, flag_set):
            continue
        every = item.interval_for(flag_set)
        kinds = {item_id, *item.counts_also}
        for subject, subject_kind, room in _subjects(item, site):
            candidates = [
                r
                for kind in kinds
                for r in by_kind.get(kind, ())
                if r.subject == subject
                and (
                    item.window is None
                    or item.window.contains(r.completed_at.astimezone(zone).time())
                )
            ]
            last = max(candidates, key=lambda r: r.completed_at, default=None)
            done = last.completed_at if last is not None else None

            due: datetime | None
            if item.while_open:
                due, is_open = _while_open_due(site, every, done, now)
                if due is None:
                    status = DueStatus.NEVER_DONE
                elif is_open:
                    status = _status(now, due, item.warn_before)
                else:
                    status = DueStatus.OK
            elif done is not None:
                # After the first test, ``every`` counts from the last one (sensitivity:
                # 12 months after installation, then every 24 months).
                # Calendar arithmetic in the site's time zone: a month after 1 Feb 01:00 local
                # is 1 Mar 01:00 local, whatever zone the record was written in.
                local = done.astimezone(zone)
                if item.window is not None:
                    anchor = _window_end_after(item, done, zone)
                elif item.deadline is not None:
                    anchor = item.deadline.on_or_after(local)
                else:
                    anchor = local
                due = every.after(anchor)
                status = _status(now, due, item.warn_before)
            elif subject in since:
                start = since[subject].astimezone(zone)
                if item.deadline is not None:
                    due = item.deadline.on_or_after(start)
                else:
                    due = (item.first_after_install or every).after(start)
                status = _status(now, due, item.warn_before)
            else:
                due, status = None, DueStatus.NEVER_DONE
            entries.append(
                ScheduleEntry(
                    item=item_id,
                    subject=subject,
                    subject_kind=subject_kind,
                    room=room,
                    title_zh=item.title_zh,
                    title_en=item.title_en,
                    every=every,
                    last_done=done,
                    last_source=last.source if last is not None else None,
                    due_at=due,
                    status=status,
                    source=item.source,
                    document_number=pack.document(item.source).number,
                    due_local=(
                        due.astimezone(zone).strftime("%Y-%m-%d %H:%M") if due is not None else None
                    ),
                )
            )
    return tuple(entries)


def needing_attention(entries: Iterable[ScheduleEntry]) -> tuple[ScheduleEntry, ...]:
    """The entries that are not ok, most urgent first: never done, then by due time."""
    pending = [e for e in entries if e.status is not DueStatus.OK]
    never = [e for e in pending if e.due_at is None]
    dated = sorted((e for e in pending if e.due_at is not None), key=lambda e: e.due_at or 0)
    return (*never, *dated)


def automatic_records(readings: Iterable[Reading]) -> list[CompletionRecord]:
    """Completion records that telemetry proves: a smoke detector reporting its test state.

    A heat-only detector's test is not a smoke detector test, so it gives none.
    """
    return [
        CompletionRecord(
            item=AUTOMATIC_TEST_ALARM,
            subject=r.device,
            completed_at=r.ts,
            source=RecordSource.AUTOMATIC,
        )
        for r in readings
        if isinstance(r, SmokeReading)
        and r.state is SmokeState.TEST
        and r.sensor is not SmokeSensor.HEAT
    ]
