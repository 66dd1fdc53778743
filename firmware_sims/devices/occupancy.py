"""Occupancy: a people counter at a room's door, and a presence / people-count sensor.

A door counter counts entries and exits as people pass and reports the deltas since its last
report. It miscounts: it misses some passages (people walking side by side, a pushchair) and
counts some twice; because people leave in groups more than they arrive, exits are missed a
little more often, so entries − exits drifts upward over a day, as real counters do (RULES.md D:
the server resets at 03:00 and corrects the drift). A presence sensor reports how many people it
sees in the room, off by one now and then.

Both report soon after a change (at most every minute; every 10 s during an evacuation and until
people may go back in, which the evacuation rule needs) and every reporting interval regardless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware_sims._random import binomial
from firmware_sims._world import GatewaySim, RoomSim, SiteSim
from firmware_sims.devices._base import SimDevice
from protocol import OccupancyReading, OccupancySource, Reading
from rules import Device

__all__ = ["DoorCounter", "PresenceSensor"]

# Commercial overhead counters are 95–99 % accurate; these are the miss and double-count rates of
# a decent one. Exits are missed more (groups leaving together), which makes the count drift up.
ENTRY_MISS = 0.01
EXIT_MISS = 0.025
DOUBLE_COUNT = 0.004
# How soon a change is reported: a minute normally, 10 s while the site evacuates.
REPORT_GAP = timedelta(seconds=60)
ALARM_REPORT_GAP = timedelta(seconds=10)
# Chance per report that a presence sensor is off by one person.
_PRESENCE_NOISE = 0.05


def _report_gap(site: SiteSim, now: datetime) -> timedelta:
    """10 s while the site evacuates and until people may go back in, a minute otherwise: the
    evacuation ends in the step its last room empties (once the alarm has cleared), and that
    room's last exits must not wait a minute for the normal gap."""
    if site.evacuation is not None or (site.hold_until is not None and now < site.hold_until):
        return ALARM_REPORT_GAP
    return REPORT_GAP


class DoorCounter(SimDevice):
    """An entries/exits counter at a room's door (mains-powered)."""

    order = 6
    battery_powered = False

    def __init__(
        self, spec: Device, gateway: GatewaySim, room: RoomSim | None, seed: int, start: datetime
    ) -> None:
        super().__init__(spec, gateway, room, seed, start)
        self.entry_miss = ENTRY_MISS
        self.exit_miss = EXIT_MISS
        self.double_count = DOUBLE_COUNT
        self.slot = 0  # which of the room's counters this is, set by the fleet
        self.pending_entries = 0
        self.pending_exits = 0
        self._last_report: datetime | None = None

    def _share(self, n: int) -> int:
        """Passages through this counter's door when the room has several counted doors."""
        counters = self.room.counters if self.room is not None else 1
        return n if counters <= 1 else binomial(self.rng, n, 1 / counters)

    def _count(self, n: int, miss: float) -> int:
        return binomial(self.rng, n, 1 - miss) + binomial(self.rng, n, self.double_count)

    def observe(self, now: datetime, ts: datetime, dt_s: float) -> list[Reading]:
        if self.room is None:
            return []
        if self.room.entries:
            self.pending_entries += self._count(self._share(self.room.entries), self.entry_miss)
        if self.room.exits:
            self.pending_exits += self._count(self._share(self.room.exits), self.exit_miss)
        if not (self.pending_entries or self.pending_exits):
            return []
        gap = _report_gap(self.site, now)
        if self._last_report is not None and now - self._last_report < gap:
            return []
        return [self._report(now, ts)]

    def _report(self, now: datetime, ts: datetime) -> OccupancyReading:
        reading = OccupancyReading(
            id=self.ids.next(ts),
            device=self.id,
            ts=ts,
            source=OccupancySource.COUNTER,
            entries=min(self.pending_entries, 100_000),
            exits=min(self.pending_exits, 100_000),
        )
        self.pending_entries = self.pending_exits = 0
        self._last_report = now
        return reading

    def heartbeat(self, now: datetime, ts: datetime) -> list[Reading]:
        if self._last_report is not None and now - self._last_report < self.interval / 2:
            return []
        return [self._report(now, ts)]


class PresenceSensor(SimDevice):
    """A people-count sensor in a room (mains-powered), reporting an absolute count."""

    order = 6
    battery_powered = False

    def __init__(
        self, spec: Device, gateway: GatewaySim, room: RoomSim | None, seed: int, start: datetime
    ) -> None:
        super().__init__(spec, gateway, room, seed, start)
        self.reported: int | None = None
        self._last_report: datetime | None = None

    def _seen(self) -> int:
        people = self.room.people if self.room is not None else 0
        if people > 2 and self.rng.random() < _PRESENCE_NOISE:
            people += self.rng.choice((-1, 1))
        return people

    def observe(self, now: datetime, ts: datetime, dt_s: float) -> list[Reading]:
        if self.room is None or self.room.people == self.reported:
            return []
        gap = _report_gap(self.site, now)
        if self._last_report is not None and now - self._last_report < gap:
            return []
        return [self._report(now, ts, exact=self.room.people == 0)]

    def _report(self, now: datetime, ts: datetime, *, exact: bool = False) -> OccupancyReading:
        count = self.room.people if exact and self.room is not None else self._seen()
        self.reported = count
        self._last_report = now
        return OccupancyReading(
            id=self.ids.next(ts),
            device=self.id,
            ts=ts,
            source=OccupancySource.PRESENCE,
            count=count,
        )

    def heartbeat(self, now: datetime, ts: datetime) -> list[Reading]:
        if self._last_report is not None and now - self._last_report < self.interval / 2:
            return []
        return [self._report(now, ts)]
