"""Fire rules: smoke.alarm and evacuation.incomplete (RULES.md B)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from protocol import SmokeState
from rules.live._base import Condition, Input, RuleBase, Status, rule_type
from rules.live._facts import EVACUATION_WINDOW, SiteView
from rules.live._model import Duration, Severity, Text

__all__ = ["EvacuationIncomplete", "SmokeAlarm"]


@rule_type("smoke_alarm")
class SmokeAlarm(RuleBase):
    """A smoke or heat detector reports alarm; one alert per room. A test is never an alarm."""

    inputs = frozenset({Input.SMOKE, Input.OCCUPANCY})

    type: Literal["smoke_alarm"] = "smoke_alarm"
    severity: Severity = Severity.CRITICAL

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        groups: dict[str, tuple[str | None, list[str], datetime]] = {}
        for dev, fact in view.facts.smoke.items():
            if fact.state is not SmokeState.ALARM:
                continue
            device = view.device(dev)
            room = device.room if device else None
            subject = view.subject(room=room) if room else view.subject(device=dev)
            _, devices, since = groups.get(subject, (room, [], fact.since))
            groups[subject] = (room, [*devices, dev], min(since, fact.since))
        for subject, (room, devices, since) in groups.items():
            name = view.room_name(room) if room else Text(zh=devices[0], en=devices[0])
            room_fact = view.facts.rooms.get(room) if room else None
            details: dict[str, object] = {"devices": sorted(devices)}
            if room_fact is not None:
                details["count"] = room_fact.count
                details["evacuation_s"] = room_fact.evacuation_s()
                details["zone_evacuation_s"] = view.zone_evacuation_s(room)
            site = view.site_name()
            yield Condition(
                subject=subject,
                status=Status.SET,
                since=since,
                room=room,
                device=devices[0] if len(devices) == 1 else None,
                details=details,
                message=Text(
                    zh=f"火警：{site.zh} {name.zh} 烟感/温感报警",
                    en=f"Fire alarm: {name.en} at {site.en}, smoke/heat detector in alarm",
                ),
            )
        yield from self._evacuating(view, now, set(groups))

    @staticmethod
    def _evacuating(view: SiteView, now: datetime, alarming: set[str]) -> Iterator[Condition]:
        """Rooms whose detectors went back to normal: the alert keeps firing (HOLD) while the
        zone is still being evacuated, up to EVACUATION_WINDOW after the alarm, so that it ends
        carrying the evacuation time (a drill's aerosol clears before the last room is empty)."""
        for room_id, fact in view.facts.rooms.items():
            subject = view.subject(room=room_id)
            if fact.alarm_at is None or subject in alarming:
                continue
            zone = view.zone_evacuation_s(room_id)
            waiting = zone is None and now < fact.alarm_at + EVACUATION_WINDOW
            yield Condition(
                subject=subject,
                status=Status.HOLD if waiting else Status.CLEAR,
                room=room_id,
                details={
                    "count": fact.count,
                    "evacuation_s": fact.evacuation_s(),
                    "zone_evacuation_s": zone,
                },
                message=Text(
                    zh=f"{view.site_name().zh} {view.room_name(room_id).zh} 报警已复位",
                    en=f"Alarm reset in {view.room_name(room_id).en} at {view.site_name().en}",
                ),
            )


@rule_type("evacuation_incomplete")
class EvacuationIncomplete(RuleBase):
    """People are still in a room ``within`` seconds after a smoke alarm in its zone (the whole
    site: the registry defines no zones), whichever room's detector went off."""

    inputs = frozenset({Input.SMOKE, Input.OCCUPANCY, Input.CLOCK})

    type: Literal["evacuation_incomplete"] = "evacuation_incomplete"
    severity: Severity = Severity.CRITICAL
    # 180 s: RULES.md B default for a day-care room to be empty after its alarm.
    within_s: Duration = Field(default=180, alias="within")

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        site = view.site_name()
        for room_id, fact in view.facts.rooms.items():
            if fact.alarm_at is None:
                continue
            name = view.room_name(room_id)
            alarm = view.zone_alarm(room_id)
            deadline = (alarm or fact.alarm_at) + timedelta(seconds=self.within_s)
            details: dict[str, object] = {
                "count": fact.count,
                "count_at_alarm": fact.count_at_alarm,
                "alarm_at": fact.alarm_at.isoformat(),
                "evacuation_s": fact.evacuation_s(),
            }
            status = (
                Status.SET
                if alarm is not None and fact.count > 0 and now >= deadline
                else Status.CLEAR
            )
            if status is Status.SET:
                message = Text(
                    zh=f"疏散未完成：{site.zh} {name.zh} 报警 {self.within_s:.0f} 秒后仍有 "
                    f"{fact.count} 人",
                    en=f"Evacuation incomplete: {fact.count} people still in {name.en} at "
                    f"{site.en} {self.within_s:.0f} s after the alarm",
                )
            else:
                evac = fact.evacuation_s()
                message = Text(
                    zh=f"{site.zh} {name.zh} 已疏散"
                    + (f"，用时 {evac:.0f} 秒" if evac is not None else ""),
                    en=f"{name.en} at {site.en} evacuated"
                    + (f" in {evac:.0f} s" if evac is not None else ""),
                )
            yield Condition(
                subject=view.subject(room=room_id),
                status=status,
                since=deadline,
                room=room_id,
                details=details,
                message=message,
            )
