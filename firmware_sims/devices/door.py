"""Door contacts: normally-closed fire doors, fire doors on a magnetic hold-open, entrances and
emergency exits.

- A normally-closed fire door (常闭式防火门) is shut; people passing open it for a few seconds and
  its closer shuts it. Propped open (a wedge), it stays open.
- A fire door on a magnetic hold-open stands open while the site is open and is released by the
  fire alarm: it reports closed within seconds of the alarm. A hold-open that fails to release
  keeps the door open and reports a fault (an alarm-class reading).
- An entrance opens as people come and go, shut while the site is closed.
- An emergency exit stays shut except during an evacuation, when people leave through it.

A contact reports each change and its state every reporting interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware_sims._world import GatewaySim, RoomSim
from firmware_sims.devices._base import SimDevice
from protocol import DoorReading, DoorRole, DoorState, Reading
from rules import Device

__all__ = ["PASS_OPEN_TIME", "DoorContact"]

# A door closer shuts a door in 3–7 s after someone walks through; a passage is reported as an
# open a few seconds before the close.
PASS_OPEN_TIME = timedelta(seconds=5)
# Chance that one person going in or out of a room uses a given fire door on the way (most use the
# main door; fire doors are on corridors and stairs).
_FIRE_DOOR_USE = 0.05


class DoorContact(SimDevice):
    """A door contact of one of the four roles."""

    order = 5

    def __init__(
        self, spec: Device, gateway: GatewaySim, room: RoomSim | None, seed: int, start: datetime
    ) -> None:
        super().__init__(spec, gateway, room, seed, start)
        assert self.spec.role is not None
        self.role: DoorRole = self.spec.role
        self.state = DoorState.CLOSED
        self.propped_until: datetime | None = None
        self.fails_to_release = False
        self._fault_reported = False

    def _reading(self, ts: datetime, state: DoorState, fault: bool | None = None) -> DoorReading:
        return DoorReading(
            id=self.ids.next(ts), device=self.id, ts=ts, state=state, role=self.role, fault=fault
        )

    def _propped(self, now: datetime) -> bool:
        return self.propped_until is not None and now < self.propped_until

    def _wanted(self, now: datetime) -> DoorState:
        if self._propped(now):
            return DoorState.OPEN
        match self.role:
            case DoorRole.FIRE_DOOR_HOLD_OPEN:
                if self.site.alarm_active and not self.fails_to_release:
                    return DoorState.CLOSED
                if self.site.alarm_active:
                    return self.state
                return DoorState.OPEN if self.site.is_open(now) else DoorState.CLOSED
            case DoorRole.EMERGENCY_EXIT:
                evacuating = self.site.evacuation is not None
                people = self.room.people + self.room.exits if self.room is not None else 0
                return DoorState.OPEN if evacuating and people > 0 else DoorState.CLOSED
        return DoorState.CLOSED

    def _passages(self) -> int:
        return 0 if self.room is None else self.room.entries + self.room.exits

    def observe(self, now: datetime, ts: datetime, dt_s: float) -> list[Reading]:
        out: list[Reading] = []
        wanted = self._wanted(now)
        if wanted is not self.state:
            self.state = wanted
            out.append(self._reading(ts, wanted))
        if (
            self.role is DoorRole.FIRE_DOOR_HOLD_OPEN
            and self.fails_to_release
            and self.site.alarm_active
            and self.state is DoorState.OPEN
            and not self._fault_reported
        ):
            self._fault_reported = True
            out.append(self._reading(ts, DoorState.OPEN, fault=True))
        if self.state is DoorState.CLOSED and self._passage(now):
            # Someone walked through within this step: open, then shut by the closer.
            out.append(self._reading(ts - PASS_OPEN_TIME, DoorState.OPEN))
            out.append(self._reading(ts, DoorState.CLOSED))
        return out

    def _passage(self, now: datetime) -> bool:
        passages = self._passages()
        if passages == 0:
            return False
        match self.role:
            case DoorRole.ENTRANCE:
                return True
            case DoorRole.FIRE_DOOR:
                return self.rng.random() < 1 - (1 - _FIRE_DOOR_USE) ** passages
        return False

    def heartbeat(self, now: datetime, ts: datetime) -> list[Reading]:
        return [self._reading(ts, self.state)]

    def prop(self, until: datetime) -> None:
        """Wedge the door open until ``until``."""
        self.propped_until = until
