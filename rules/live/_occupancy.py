"""Occupancy rules: room.over_capacity and after_hours.entry (RULES.md B)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from protocol import DoorRole, DoorState
from rules.facility import Site
from rules.live._base import Condition, Input, RuleBase, Status, rule_type
from rules.live._facts import SiteView
from rules.live._model import Duration, Severity, Text

__all__ = ["AfterHoursEntry", "RoomOverCapacity", "is_open"]


@rule_type("room_over_capacity")
class RoomOverCapacity(RuleBase):
    """Occupancy above the room's capacity for longer than ``for``.

    Minor up to ``margin_pct`` above capacity, the rule's severity beyond. Clears only when the
    count falls to ``clear_at_pct`` of capacity (hysteresis), so a count dancing around the limit
    does not raise and clear an alert at every step.
    """

    inputs = frozenset({Input.OCCUPANCY, Input.CLOCK})

    type: Literal["room_over_capacity"] = "room_over_capacity"
    severity: Severity = Severity.MAJOR
    # 120 s: RULES.md B default; a group passing through a room is not a crowd.
    for_s: Duration = Field(default=120, alias="for")
    # 10 %: a few extra people in a day-care room is a nuisance, a fifth more is a hazard.
    margin_pct: float = Field(default=10, ge=0, le=1000)
    minor_severity: Severity = Severity.MINOR
    # 95 %: one or two people below a 20-40 person limit, enough to stop flapping at the limit.
    clear_at_pct: float = Field(default=95, gt=0, le=100)

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        site = view.site_name()
        for room_id, capacity in view.capacities.items():
            fact = view.facts.rooms.get(room_id)
            if fact is None or capacity <= 0:
                continue
            count = fact.count
            if count > capacity:
                status = Status.SET
            elif count > capacity * self.clear_at_pct / 100:
                status = Status.HOLD
            else:
                status = Status.CLEAR
            severity = (
                self.minor_severity
                if count <= capacity * (1 + self.margin_pct / 100)
                else self.severity
            )
            name = view.room_name(room_id)
            pct = 100 * count / capacity
            yield Condition(
                subject=view.subject(room=room_id),
                status=status,
                severity=severity,
                room=room_id,
                details={"count": count, "capacity": capacity},
                message=Text(
                    zh=f"{site.zh} {name.zh} 超员：{count} 人，核定 {capacity} 人（{pct:.0f}%）",
                    en=f"{name.en} at {site.en} over capacity: {count} people, capacity "
                    f"{capacity} ({pct:.0f} %)",
                ),
            )


def is_open(site: Site, now: datetime, grace: timedelta = timedelta(0)) -> bool:
    """Whether ``now`` falls in the site's opening hours widened by ``grace`` on both sides."""
    local = now.astimezone(ZoneInfo(site.timezone))
    for hours in site.opening_hours:
        for offset in (-1, 0, 1):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in hours.days:
                continue
            start = datetime.combine(day, hours.open, local.tzinfo) - grace
            end = datetime.combine(day, hours.close, local.tzinfo) + grace
            if start <= local < end:
                return True
    return False


@rule_type("after_hours_entry")
class AfterHoursEntry(RuleBase):
    """A door opens, or people are in a room, outside the site's opening hours."""

    inputs = frozenset({Input.DOOR, Input.OCCUPANCY, Input.CLOCK})

    type: Literal["after_hours_entry"] = "after_hours_entry"
    severity: Severity = Severity.WARNING
    # 15 min: staff arrive before opening and leave after closing.
    grace_s: Duration = Field(default=900, alias="grace")
    # 5 min: a door opened and closed at night stays one alert, not one per opening.
    keep_firing_for_s: Duration = Field(default=300, alias="keep_firing_for")
    door_roles: tuple[DoorRole, ...] = tuple(DoorRole)

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        if not view.site.opening_hours or is_open(view.site, now, timedelta(seconds=self.grace_s)):
            return
        found: dict[str, tuple[str | None, int, list[str]]] = {}
        for room_id, fact in view.facts.rooms.items():
            if fact.count > 0:
                found[view.subject(room=room_id)] = (room_id, fact.count, [])
        for dev, door in view.facts.doors.items():
            if door.state is not DoorState.OPEN or door.role not in self.door_roles:
                continue
            device = view.device(dev)
            room = device.room if device else None
            subject = view.subject(room=room) if room else view.subject(device=dev)
            _, count, doors = found.get(subject, (room, 0, []))
            found[subject] = (room, count, [*doors, dev])
        site = view.site_name()
        for subject, (room, count, doors) in found.items():
            name = view.room_name(room) if room else Text(zh=doors[0], en=doors[0])
            yield Condition(
                subject=subject,
                status=Status.SET,
                room=room,
                details={"count": count, "doors": sorted(doors)},
                message=Text(
                    zh=f"非开放时间 {site.zh} {name.zh} 有人进入（{count} 人，"
                    f"开启的门 {len(doors)} 扇）",
                    en=f"After-hours entry at {site.en}, {name.en}: {count} people, "
                    f"{len(doors)} doors open",
                ),
            )
