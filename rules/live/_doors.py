"""Fire door rules: door.held_open and door.not_released (RULES.md B)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Literal

from pydantic import Field

from protocol import DoorRole, DoorState
from rules.live._base import Condition, Input, RuleBase, Status, rule_type
from rules.live._facts import SiteView
from rules.live._model import Duration, Severity, Text

__all__ = ["DoorHeldOpen", "DoorNotReleased"]


def _door_name(view: SiteView, device: str) -> tuple[Text, str | None]:
    dev = view.device(device)
    room = dev.room if dev else None
    where = view.room_name(room) if room else Text(zh="", en="")
    return Text(zh=f"{where.zh} 防火门 {device}", en=f"fire door {device} of {where.en}"), room


@rule_type("door_held_open")
class DoorHeldOpen(RuleBase):
    """A normally-closed fire door (常闭式防火门) stays open longer than ``for``."""

    inputs = frozenset({Input.DOOR, Input.CLOCK})

    type: Literal["door_held_open"] = "door_held_open"
    severity: Severity = Severity.MAJOR
    # 60 s: RULES.md B default; long enough to push a wheelchair or a trolley through.
    for_s: Duration = Field(default=60, alias="for")
    roles: tuple[DoorRole, ...] = (DoorRole.FIRE_DOOR,)

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        site = view.site_name()
        for dev, fact in view.facts.doors.items():
            if fact.role not in self.roles:
                continue
            name, room = _door_name(view, dev)
            is_open = fact.state is DoorState.OPEN
            yield Condition(
                subject=view.subject(device=dev),
                status=Status.SET if is_open else Status.CLEAR,
                since=fact.since,
                room=room,
                device=dev,
                details={"open_since": fact.since.isoformat()} if is_open else {},
                message=Text(
                    zh=f"{site.zh} {name.zh} 被长时间开启" if is_open else f"{name.zh} 已关闭",
                    en=f"{name.en} at {site.en} held open" if is_open else f"{name.en} closed",
                ),
            )


@rule_type("door_not_released")
class DoorNotReleased(RuleBase):
    """During an active fire alarm, a fire door is still open after ``for`` seconds."""

    inputs = frozenset({Input.SMOKE, Input.DOOR, Input.CLOCK})

    type: Literal["door_not_released"] = "door_not_released"
    severity: Severity = Severity.CRITICAL
    # 10 s: RULES.md B default; magnetic hold-opens release at once, closers take a few seconds.
    for_s: Duration = Field(default=10, alias="for")
    roles: tuple[DoorRole, ...] = (DoorRole.FIRE_DOOR, DoorRole.FIRE_DOOR_HOLD_OPEN)

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        alarm = view.site_alarm()
        if alarm is None:
            return
        site = view.site_name()
        for dev, fact in view.facts.doors.items():
            if fact.role not in self.roles or fact.state is not DoorState.OPEN:
                continue
            name, room = _door_name(view, dev)
            yield Condition(
                subject=view.subject(device=dev),
                status=Status.SET,
                since=max(alarm, fact.since),
                room=room,
                device=dev,
                details={"alarm_at": alarm.isoformat(), "open_since": fact.since.isoformat()},
                message=Text(
                    zh=f"火警期间 {site.zh} {name.zh} 未关闭",
                    en=f"{name.en} at {site.en} still open during the fire alarm",
                ),
            )
