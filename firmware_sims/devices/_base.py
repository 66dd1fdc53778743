"""What every simulated device shares: seeding, ids, heartbeat schedule, battery and health."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from firmware_sims._ids import ReadingIds
from firmware_sims._random import seeded
from firmware_sims._world import GatewaySim, RoomSim
from protocol import HealthReading, Reading
from rules import Device

__all__ = ["HEALTH_INTERVAL", "LOW_BATTERY_PCT", "SimDevice"]

# Battery devices send a health report (battery, radio link) once a day, as Zigbee sensors do.
HEALTH_INTERVAL = timedelta(hours=24)
# Below this the device chirps and reports battery_low; detectors typically warn at 10–20 %
# so there are weeks left to replace the battery.
LOW_BATTERY_PCT = 15.0


class SimDevice:
    """A device attached to a gateway and, usually, a room. Subclasses add behaviour."""

    # Devices of a lower order step first in a fleet step: detectors before doors, so a door
    # released by an alarm reacts in the step the alarm happened.
    order: ClassVar[int] = 10
    battery_powered: ClassVar[bool] = True

    def __init__(
        self, spec: Device, gateway: GatewaySim, room: RoomSim | None, seed: int, start: datetime
    ) -> None:
        self.spec = spec
        self.id = spec.id
        self.gateway = gateway
        self.site = gateway.site
        self.room = room
        self.rng = seeded(seed, "device", spec.id)
        self.ids = ReadingIds(spec.id)
        self.interval = timedelta(seconds=spec.reporting_interval_s)
        # Spread first reports over one interval so a fleet does not report in lockstep.
        self.due = start + self.interval * self.rng.random()
        self.health_due = start + HEALTH_INTERVAL * self.rng.random()
        self.silent = False
        self.battery: float | None = self.rng.uniform(55.0, 100.0) if self.battery_powered else None
        # A sealed 10-year lithium cell loses about 0.03 %/day; spread so devices differ.
        self.drain_pct_per_day = self.rng.uniform(0.02, 0.045)
        self.lqi = self.rng.randint(90, 230)
        self.rssi = self.rng.randint(-85, -45)
        self._last: datetime = start
        self._low_reported = False
        self.tampered = False  # cover opened or device pulled off its base
        self._tamper_reported = False

    @property
    def battery_low(self) -> bool:
        return self.battery is not None and self.battery < LOW_BATTERY_PCT

    @property
    def battery_pct(self) -> int | None:
        return None if self.battery is None else max(0, min(100, round(self.battery)))

    def step(self, now: datetime, ts: datetime) -> list[Reading]:
        """Advance to ``now`` (true time); readings carry ``ts`` (the gateway's clock)."""
        dt_s = (now - self._last).total_seconds()
        self._last = now
        if self.battery is not None and dt_s > 0:
            self.battery = max(0.0, self.battery - self.drain_pct_per_day * dt_s / 86_400)
        out = self.observe(now, ts, dt_s)
        if now >= self.due:
            out.extend(self.heartbeat(now, ts))
            missed = (now - self.due) // self.interval
            self.due += self.interval * (missed + 1)
        if self.tampered != self._tamper_reported:
            # Tamper is reported at once, both ways (an alarm-class reading when set).
            self._tamper_reported = self.tampered
            out.append(self.health(ts))
        elif now >= self.health_due or (self.battery_low and not self._low_reported):
            out.append(self.health(ts))
            self._low_reported = self.battery_low
            if now >= self.health_due:
                missed = (now - self.health_due) // HEALTH_INTERVAL
                self.health_due += HEALTH_INTERVAL * (missed + 1)
        return [] if self.silent else out

    def observe(self, now: datetime, ts: datetime, dt_s: float) -> list[Reading]:
        """Readings caused by what happened in the room since the last step."""
        return []

    def heartbeat(self, now: datetime, ts: datetime) -> list[Reading]:
        """The periodic report."""
        return []

    def health(self, ts: datetime, fault: str | None = None) -> HealthReading:
        # Radio links wander a little from day to day.
        self.lqi = max(0, min(255, self.lqi + self.rng.randint(-8, 8)))
        self.rssi = max(-110, min(-30, self.rssi + self.rng.randint(-3, 3)))
        return HealthReading(
            id=self.ids.next(ts),
            device=self.id,
            ts=ts,
            battery_pct=self.battery_pct,
            battery_low=self.battery_low if self.battery is not None else None,
            signal_lqi=self.lqi,
            rssi_dbm=self.rssi,
            tamper=self.tampered,
            fault=fault,
        )
