"""Smoke and heat detectors.

A detector samples its room's smoke (or temperature), reports a heartbeat every reporting
interval with its obscuration, temperature and battery, and reports at once when its state
changes: ALARM when the smoke crosses its threshold, back to NORMAL once the smoke has stayed below
half the threshold for 30 s; TEST for its weekly self-test (never an alarm); FAULT when its
chamber is too dirty for drift compensation or a fault is injected. Its battery drains, and below
15 % it chirps and says so in its health report.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware_sims._world import GatewaySim, RoomSim
from firmware_sims.devices._base import SimDevice
from protocol import Reading, SmokeReading, SmokeSensor, SmokeState
from rules import Device, DeviceKind

__all__ = [
    "ALARM_THRESHOLD",
    "CLEAR_HOLD",
    "DIRTY_LIMIT",
    "HEAT_ALARM_C",
    "SELF_TEST_INTERVAL",
    "SmokeDetector",
]

# Photoelectric detectors alarm at roughly 1.5–12 %/m (UL 268's 0.5–4 %/ft); 8 %/m is a typical
# factory setting. Each unit deviates by up to ±10 %.
ALARM_THRESHOLD = 8.0
# Clear below half the threshold, held for 30 s: the hysteresis real detectors use so a smoky
# room does not flap between alarm and normal.
CLEAR_FRACTION = 0.5
CLEAR_HOLD = timedelta(seconds=30)
# Dust raises the clean-air reading; beyond about 3 %/m drift compensation runs out and the
# detector reports trouble ("dirty chamber"), as NFPA 72 sensitivity testing would find.
DIRTY_LIMIT = 3.0
# A fixed-temperature heat detector of class A1 (EN 54-5) alarms between 54 and 65 °C.
HEAT_ALARM_C = 57.0
# Many wireless detectors run an automatic self-test weekly.
SELF_TEST_INTERVAL = timedelta(days=7)
# A self-test sounds for a few seconds.
SELF_TEST_LENGTH = timedelta(seconds=10)
# Below this battery a self-test fails: the sounder cannot be driven.
_SELF_TEST_MIN_BATTERY = 5.0


class SmokeDetector(SimDevice):
    """A smoke (or, for DeviceKind.HEAT, heat) detector in a room."""

    order = 0

    def __init__(
        self, spec: Device, gateway: GatewaySim, room: RoomSim | None, seed: int, start: datetime
    ) -> None:
        super().__init__(spec, gateway, room, seed, start)
        self.sensor = SmokeSensor.HEAT if spec.kind is DeviceKind.HEAT else SmokeSensor.SMOKE
        self.threshold = ALARM_THRESHOLD * self.rng.uniform(0.9, 1.1)
        self.dirt = self.rng.uniform(0.1, 0.6)
        # Dust settles at a few thousandths of a %/m per day: years until trouble.
        self.dust_per_day = self.rng.uniform(0.001, 0.005)
        self.state = SmokeState.NORMAL
        self.self_test_due = start + SELF_TEST_INTERVAL * self.rng.random()
        self.testing_until: datetime | None = None
        self.forced_fault: str | None = None
        self._below_since: datetime | None = None

    @property
    def chirping(self) -> bool:
        """The low-battery chirp."""
        return self.battery_low

    @property
    def fault(self) -> str | None:
        if self.forced_fault is not None:
            return self.forced_fault
        return "dirty_chamber" if self.dirt >= DIRTY_LIMIT else None

    def _smoke(self) -> float:
        return self.room.smoke if self.room is not None else 0.0

    def _temperature(self) -> float | None:
        return self.room.temperature_c if self.room is not None else None

    def _triggered(self) -> bool:
        if self.sensor is SmokeSensor.HEAT:
            temp = self._temperature()
            return temp is not None and temp >= HEAT_ALARM_C
        return self._smoke() >= self.threshold

    def _cleared(self) -> bool:
        if self.sensor is SmokeSensor.HEAT:
            temp = self._temperature()
            return temp is None or temp < HEAT_ALARM_C - 10
        return self._smoke() < self.threshold * CLEAR_FRACTION

    def _reading(self, ts: datetime, state: SmokeState) -> SmokeReading:
        temp = self._temperature()
        return SmokeReading(
            id=self.ids.next(ts),
            device=self.id,
            ts=ts,
            sensor=self.sensor,
            state=state,
            obscuration=(
                None if self.sensor is SmokeSensor.HEAT else round(self._smoke() + self.dirt, 2)
            ),
            temperature_c=None if temp is None else round(temp, 1),
            battery_pct=self.battery_pct,
        )

    def _set(self, now: datetime, state: SmokeState) -> None:
        self.state = state
        if state is SmokeState.ALARM:
            self.site.detectors_in_alarm.add(self.id)
        else:
            self.site.detectors_in_alarm.discard(self.id)

    def observe(self, now: datetime, ts: datetime, dt_s: float) -> list[Reading]:
        if self.silent:
            # A dead detector detects nothing: it neither reports nor raises the site's alarm.
            self._set(now, SmokeState.NORMAL)
            return []
        self.dirt += self.dust_per_day * dt_s / 86_400
        if (
            self.state is SmokeState.NORMAL
            and now < self.self_test_due
            and self.forced_fault is None
            and self.dirt < DIRTY_LIMIT
            and (self.room is None or (self.room.smoke == 0.0 and self.room.heat == 0.0))
        ):
            return []  # the common case: clean air, nothing due
        fault = self.fault
        out: list[Reading] = []
        if self.state is SmokeState.ALARM:
            if not self._cleared():
                self._below_since = None
            elif self._below_since is None:
                self._below_since = now
            elif now - self._below_since >= CLEAR_HOLD:
                self._below_since = None
                self._set(now, SmokeState.FAULT if fault else SmokeState.NORMAL)
                out.append(self._reading(ts, self.state))
        elif self._triggered():
            self._set(now, SmokeState.ALARM)
            out.append(self._reading(ts, SmokeState.ALARM))
        elif self.state is SmokeState.TEST:
            if self.testing_until is None or now >= self.testing_until:
                failed = fault is not None or (self.battery or 0.0) < _SELF_TEST_MIN_BATTERY
                self._set(now, SmokeState.FAULT if fault else SmokeState.NORMAL)
                out.append(self._reading(ts, self.state))
                if failed:
                    out.append(self.health(ts, fault="self_test_failed"))
        elif now >= self.self_test_due and self.state in (SmokeState.NORMAL, SmokeState.FAULT):
            self.self_test_due += SELF_TEST_INTERVAL * (
                (now - self.self_test_due) // SELF_TEST_INTERVAL + 1
            )
            self.testing_until = now + SELF_TEST_LENGTH
            self._set(now, SmokeState.TEST)
            out.append(self._reading(ts, SmokeState.TEST))
        elif fault is not None and self.state is SmokeState.NORMAL:
            self._set(now, SmokeState.FAULT)
            out.append(self._reading(ts, SmokeState.FAULT))
            out.append(self.health(ts, fault=fault))
        elif fault is None and self.state is SmokeState.FAULT:
            self._set(now, SmokeState.NORMAL)
            out.append(self._reading(ts, SmokeState.NORMAL))
        return out

    def heartbeat(self, now: datetime, ts: datetime) -> list[Reading]:
        return [self._reading(ts, self.state)]

    def self_test(self, now: datetime) -> None:
        """Run a self-test at the next step (the down/cmd self_test command)."""
        self.self_test_due = now
