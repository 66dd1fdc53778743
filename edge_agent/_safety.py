"""Local safety: what the gateway does on its own, whether or not the uplink works.

- A smoke or heat detector in ``alarm`` (never ``test``) drives every output whose ``on`` lists
  ``smoke``. Outputs latch, as a fire panel's do: they stay on until silenced by a command.
- A fire door (``fire_door`` or ``fire_door_hold_open``) still open ``door_close_grace_s`` into
  an alarm is a fault: its reading is marked ``fault=true`` (alarm-class, so it takes the priority
  lane) and drives the outputs whose ``on`` lists ``fire_door``.
- ``silence_sounder`` turns off silenceable outputs until a new detector goes into alarm. It
  never touches the alarm records.

The monitor is plain state plus decisions; the agent performs the returned actions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from edge_agent._config import DeviceConfig, Trigger
from edge_agent._outputs import DisplayMessage, Output, alarm_text
from protocol import DoorReading, DoorRole, DoorState, Reading, SmokeReading, SmokeState

__all__ = ["SafetyMonitor"]

log = logging.getLogger(__name__)

_FIRE_ROLES = frozenset({DoorRole.FIRE_DOOR, DoorRole.FIRE_DOOR_HOLD_OPEN})


class SafetyMonitor:
    """Tracks alarms and fire doors; decides and performs local actions."""

    def __init__(
        self,
        gateway: str,
        outputs: Sequence[Output],
        devices: Sequence[DeviceConfig],
        grace: timedelta,
    ) -> None:
        self._gateway = gateway
        self._outputs = list(outputs)
        self._devices: dict[str, DeviceConfig] = {d.id: d for d in devices}
        self._grace = grace
        self._alarms: set[str] = set()
        self._alarm_since: datetime | None = None
        self._open_fire_doors: dict[str, DoorRole] = {}
        self._silenced = False
        self.activations = 0

    def update_devices(self, devices: Sequence[DeviceConfig]) -> None:
        self._devices = {d.id: d for d in devices}

    @property
    def alarm_active(self) -> bool:
        return bool(self._alarms)

    def _room(self, device: str) -> str | None:
        config = self._devices.get(device)
        return config.room if config else None

    def enrich(self, device: str, fields: Mapping[str, Any], now: datetime) -> Mapping[str, Any]:
        """Mark a fire door reported open past the grace period of an alarm as a fault."""
        if (
            fields.get("kind") == "door"
            and fields.get("state") == DoorState.OPEN
            and fields.get("role") in _FIRE_ROLES
            and fields.get("fault") is None
            and self._alarm_since is not None
            and now - self._alarm_since >= self._grace
        ):
            return {**fields, "fault": True}
        return fields

    def assess(self, reading: Reading) -> tuple[Trigger | None, tuple[str, ...], bool]:
        """Update the state with ``reading``; return the trigger, the outputs to drive and
        whether a new alarm episode started (then the caller schedules :meth:`overdue_doors`)."""
        started = False
        trigger: Trigger | None = None
        match reading:
            case SmokeReading(state=SmokeState.ALARM):
                if reading.device not in self._alarms:
                    if not self._alarms:
                        self._alarm_since = reading.ts
                        started = True
                    self._alarms.add(reading.device)
                    self._silenced = False
                trigger = Trigger.SMOKE
            case SmokeReading():
                self._alarms.discard(reading.device)
                if not self._alarms:
                    self._alarm_since = None
            case DoorReading(role=role) if role in _FIRE_ROLES:
                if reading.state is DoorState.OPEN:
                    self._open_fire_doors[reading.device] = role
                else:
                    self._open_fire_doors.pop(reading.device, None)
                if reading.fault and reading.state is DoorState.OPEN and self._alarms:
                    trigger = Trigger.FIRE_DOOR
        if trigger is None:
            return None, (), started
        names = tuple(
            o.config.name
            for o in self._outputs
            if trigger in o.config.on and not (self._silenced and o.config.silenceable)
        )
        return trigger, names, started

    def overdue_doors(self, now: datetime) -> dict[str, DoorRole]:
        """Fire doors last reported open, if an alarm has lasted the grace period."""
        if self._alarm_since is None or now - self._alarm_since < self._grace:
            return {}
        return dict(self._open_fire_doors)

    def act(self, trigger: Trigger, names: Sequence[str], device: str, now: datetime) -> None:
        """Drive the named outputs; a failing output is logged and the others still act."""
        zh, en = alarm_text(trigger, self._room(device))
        message = DisplayMessage(
            gateway=self._gateway,
            state="alarm",
            trigger=trigger,
            device=device,
            room=self._room(device),
            text_zh=zh,
            text_en=en,
            ts=now,
        )
        for output in self._outputs:
            if output.config.name not in names:
                continue
            try:
                output.activate(message)
                self.activations += 1
            except (OSError, RuntimeError, ValueError) as exc:
                log.error("output %s failed to activate: %s", output.config.name, exc)

    def silence(self, now: datetime, by: str | None) -> list[str]:
        """Turn off silenceable outputs; the alarm state and its records stay."""
        self._silenced = True
        message = DisplayMessage(
            gateway=self._gateway,
            state="silenced",
            text_zh="报警声已消音，报警仍在处理中",
            text_en="Sounder silenced; the alarm is still being handled",
            ts=now,
        )
        done: list[str] = []
        for output in self._outputs:
            if not output.config.silenceable:
                continue
            try:
                output.deactivate(message)
                done.append(output.config.name)
            except (OSError, RuntimeError, ValueError) as exc:
                log.error("output %s failed to deactivate: %s", output.config.name, exc)
        log.info("sounder silenced by %s: %s", by or "command", ", ".join(done) or "no outputs")
        return done
