"""The simulated world the devices observe: sites, rooms with people and smoke, and gateways.

Rooms move their people toward the day profile's expectation; a fire alarm anywhere in a site
evacuates every room of the site; fires and test aerosol put smoke into one room. Devices
(``firmware_sims.devices``) only observe this state and report it, with their own faults.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from firmware_sims._random import poisson, seeded
from firmware_sims.profiles import capacity_of, expected_occupancy, is_open
from protocol import Reading
from rules import Function, Gateway, Room, Site

__all__ = [
    "EvacuationRecord",
    "FireKind",
    "FireState",
    "GatewaySim",
    "RoomSim",
    "SiteSim",
]

# People arrive and leave over about five minutes when the profile changes: a timetable, not a
# stampede.
_ARRIVAL_TAU_S = 300.0
# Average stay of one visitor before someone else takes the place; gives entries and exits even
# while the count is flat, as real counters see.
_DWELL_S = 2 * 3600.0
# After an alarm clears, people wait this long outside before going back in (roll call, all clear).
_REENTRY_S = 10 * 60.0
# People per minute leaving through a room's exit during an evacuation. Elders and infants are
# helped out by staff, so they are slower than adults; 60 people/min/metre is the free flow of
# adults through a door (SFPE), reduced to what one door and a mixed crowd achieve.
_EVAC_RATE_PPM: dict[Function | None, float] = {
    Function.ELDERLY_CARE: 20.0,
    Function.INFANT_CARE: 15.0,
    Function.AFTER_SCHOOL: 30.0,
}
_EVAC_RATE_DEFAULT_PPM = 40.0
# Pre-movement time before the first person leaves (hearing the alarm, staff directing).
_PREMOVE_S = (15.0, 40.0)
# Indoor temperature range of heated and air-conditioned rooms, °C.
_AMBIENT_C = (19.0, 24.0)
# Profiles move over minutes; a room re-reads its expected occupancy once a simulated minute.
_TARGET_REFRESH = timedelta(minutes=1)


class FireKind(enum.StrEnum):
    FLAMING = "flaming"  # a growing fire: t-squared smoke and heat
    SMOULDERING = "smouldering"  # slow smoke, little heat
    AEROSOL = "aerosol"  # test smoke sprayed at a detector for a drill: a puff that clears


@dataclass
class FireState:
    kind: FireKind
    started: datetime
    until: datetime  # when the fire is out (or the aerosol puff stops)

    def obscuration(self, now: datetime) -> float:
        """Smoke obscuration in %/m the fire causes at ``now``."""
        t = (now - self.started).total_seconds()
        if t < 0:
            return 0.0
        end = (self.until - self.started).total_seconds()
        burning = min(t, end)
        match self.kind:
            case FireKind.FLAMING:
                # A "medium" t-squared fire: the 8 %/m alarm threshold is reached in about 70 s.
                level = min(60.0, 6.0 * (burning / 60.0) ** 2)
            case FireKind.SMOULDERING:
                level = min(25.0, 2.0 * burning / 60.0)
            case FireKind.AEROSOL:
                level = 20.0
        if t > end:
            # Smoke clears with ventilation over a couple of minutes (aerosol faster).
            tau = 40.0 if self.kind is FireKind.AEROSOL else 120.0
            level *= math.exp(-(t - end) / tau)
        return level

    def heat_c(self, now: datetime) -> float:
        """Temperature rise over ambient, °C."""
        if self.kind is not FireKind.FLAMING:
            return 0.0
        t = (now - self.started).total_seconds()
        if t < 0:
            return 0.0
        end = (self.until - self.started).total_seconds()
        rise = min(220.0, 8.0 * (min(t, end) / 60.0) ** 2)
        if t > end:
            rise *= math.exp(-(t - end) / 300.0)
        return rise

    def over(self, now: datetime) -> bool:
        return now > self.until and self.obscuration(now) < 0.05


@dataclass(frozen=True, slots=True)
class EvacuationRecord:
    """Ground truth of one evacuation: alarm to last person out, per site and per room."""

    site: str
    started: datetime
    completed: datetime | None
    rooms: dict[str, float]  # room id -> seconds from the alarm until it was empty

    @property
    def duration_s(self) -> float | None:
        return None if self.completed is None else (self.completed - self.started).total_seconds()


class RoomSim:
    """One room: people, smoke and temperature."""

    def __init__(self, site: SiteSim, room: Room, seed: int) -> None:
        self.site = site
        self.room = room
        self.id = room.id
        self.capacity = capacity_of(room)
        self.rng = seeded(seed, "room", site.id, room.id)
        self.people = 0
        self.entries = 0  # this step's true entries
        self.exits = 0  # this step's true exits
        self.ambient_c = self.rng.uniform(*_AMBIENT_C)
        self.fire: FireState | None = None
        self.smoke = 0.0  # %/m from fires
        self.heat = 0.0  # °C over ambient
        self.crowd_target: float | None = None  # people a scenario packs in, whatever the hour
        self.crowd_until: datetime | None = None
        self.evac_rate_ppm = _EVAC_RATE_PPM.get(room.function, _EVAC_RATE_DEFAULT_PPM)
        self.premove_s = self.rng.uniform(*_PREMOVE_S)
        self.holdouts = 0  # people who do not leave during an evacuation (slow-room scenario)
        self.holdout_until: datetime | None = None
        self.counters = 0  # door counters observing this room, set by the fleet
        self._unseen = 0  # people put in the room who have not passed its counters yet
        self._target = 0.0
        self._target_at = datetime.min.replace(tzinfo=site.tz)
        self._target_until: datetime | None = None
        self._day: date | None = None
        self._day_factor = 1.0

    @property
    def temperature_c(self) -> float:
        return self.ambient_c + self.heat

    def expected(self, now: datetime) -> float:
        if self.crowd_target is not None and self.crowd_until is not None:
            if now < self.crowd_until:
                return self.crowd_target
            self.crowd_target = self.crowd_until = None
        if not self.site.is_open(now):
            return 0.0
        if self._target_until is None or now >= self._target_until or now < self._target_at:
            self._target = expected_occupancy(self.site.site, self.room, now, check_hours=False)
            self._target_at = now
            self._target_until = now + _TARGET_REFRESH
        target = self._target
        if target <= 0:
            return 0.0
        local_day = now.astimezone(self.site.tz).date()
        if local_day != self._day:
            # Some days are busier than others; seeded per room and day, so reproducible.
            self._day = local_day
            day_rng = seeded(self.site.seed, "day", self.site.id, self.id, local_day)
            self._day_factor = day_rng.uniform(0.8, 1.1)
        return target * self._day_factor

    def arrive(self, people: int) -> None:
        """Put ``people`` into the room; its counters count them as entries at the next step.
        (A fleet starting at 10:00 finds its rooms occupied, and counters must agree.)"""
        if people > 0:
            self.people += people
            self._unseen += people

    def advance(self, now: datetime, dt_s: float) -> None:
        self._advance(now, dt_s)
        if self._unseen:
            self.entries += self._unseen
            self._unseen = 0

    def _advance(self, now: datetime, dt_s: float) -> None:
        if self.fire is not None:
            self.smoke = self.fire.obscuration(now)
            self.heat = self.fire.heat_c(now)
            if self.fire.over(now):
                self.fire, self.smoke, self.heat = None, 0.0, 0.0
        if self.site.evacuation is not None:
            self._evacuate(now, dt_s)
            return
        if self.site.hold_until is not None and now < self.site.hold_until:
            target = 0.0
        else:
            target = self.expected(now)
        move = (target - self.people) * (1 - math.exp(-dt_s / _ARRIVAL_TAU_S))
        churn = self.people * dt_s / _DWELL_S
        entries = poisson(self.rng, max(move, 0.0) + churn)
        exits = min(self.people + entries, poisson(self.rng, max(-move, 0.0) + churn))
        self.entries, self.exits = entries, exits
        self.people += entries - exits

    def _evacuate(self, now: datetime, dt_s: float) -> None:
        evac = self.site.evacuation
        assert evac is not None
        self.entries = 0
        elapsed = (now - evac).total_seconds()
        stay = self.holdouts if self.holdout_until is None or now < self.holdout_until else 0
        movable = max(0, self.people - stay)
        if elapsed < self.premove_s or movable == 0:
            self.exits = 0
            return
        moving_s = min(dt_s, elapsed - self.premove_s)
        self.exits = min(movable, max(1, poisson(self.rng, self.evac_rate_ppm * moving_s / 60)))
        self.people -= self.exits


class SiteSim:
    """A site: its rooms, its fire-alarm state and the evacuations it went through."""

    def __init__(self, site: Site, seed: int) -> None:
        self.site = site
        self.id = site.id
        self.seed = seed
        self.tz = ZoneInfo(site.timezone)
        self.rooms: dict[str, RoomSim] = {r.id: RoomSim(self, r, seed) for r in site.rooms}
        self.detectors_in_alarm: set[str] = set()
        self.evacuation: datetime | None = None  # when the current evacuation started
        self.hold_until: datetime | None = None  # nobody re-enters before this
        self.evacuations: list[EvacuationRecord] = []
        self._room_done: dict[str, float] = {}
        self._recorded = False
        self._open_at: datetime | None = None
        self._open = False

    @property
    def alarm_active(self) -> bool:
        return bool(self.detectors_in_alarm)

    def is_open(self, now: datetime) -> bool:
        if now != self._open_at:
            self._open_at, self._open = now, is_open(self.site, now)
        return self._open

    def local(self, now: datetime) -> datetime:
        return now.astimezone(self.tz)

    def update_alarm(self, now: datetime) -> None:
        """Start an evacuation when an alarm appears; record it when every room is empty, and end
        it once the alarm has cleared too."""
        if self.alarm_active:
            if self.evacuation is None:
                self.evacuation = now
                self._room_done = {}
                self._recorded = False
            self.hold_until = now + timedelta(seconds=_REENTRY_S)
        if self.evacuation is None:
            return
        elapsed = (now - self.evacuation).total_seconds()
        for room in self.rooms.values():
            if room.people == 0 and room.id not in self._room_done:
                self._room_done[room.id] = elapsed
        empty = all(r.people == 0 for r in self.rooms.values())
        if empty and not self._recorded:
            self.evacuations.append(
                EvacuationRecord(self.id, self.evacuation, now, dict(self._room_done))
            )
            self._recorded = True
        if empty and not self.alarm_active:
            self.evacuation = None

    def last_evacuation(self) -> EvacuationRecord | None:
        """The latest evacuation, or the one in progress (``completed`` None)."""
        if self.evacuation is not None and not self._recorded:
            return EvacuationRecord(self.id, self.evacuation, None, dict(self._room_done))
        return self.evacuations[-1] if self.evacuations else None


@dataclass(eq=False)
class GatewaySim:
    """A gateway: its clock offset, its uplink, and what it holds while the uplink is down."""

    site: SiteSim
    gateway: Gateway
    skew: timedelta = timedelta(0)
    uplink_down_until: datetime | None = None
    held: list[Reading] = field(default_factory=list)
    next_heartbeat: datetime | None = None

    @property
    def id(self) -> str:
        return self.gateway.id

    def time(self, now: datetime) -> datetime:
        """The gateway's own clock, which may be skewed."""
        return now + self.skew
