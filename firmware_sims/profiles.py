"""Day profiles: how full a room of each function is expected to be at a local time of day.

A profile is a pair of piecewise-linear curves (weekdays and weekends) of the fraction of the
room's capacity present, by local hour. The curves describe typical community centres in Chinese
cities: elderly day care fills between 8 and 9 and empties between 16 and 17 with a dip while the
elders eat in the canteen; canteens peak at 11:00–13:00 and 17:00–18:30; after-school rooms are
used 15:30–18:30 on school days; fitness rooms peak in the evening. Outside the site's opening
hours the expected occupancy is zero. Public holidays and school holidays are not modelled: every
Monday to Friday is a school day.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rules import Function, Room, Site

__all__ = [
    "DEFAULT_CAPACITY",
    "LOAD_FACTORS_M2",
    "PROFILES",
    "DayProfile",
    "capacity_of",
    "expected_fraction",
    "expected_occupancy",
    "is_open",
]

Curve = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class DayProfile:
    """Expected fraction of capacity present, by local hour, on weekdays and on weekends."""

    weekday: Curve
    weekend: Curve
    name_en: str
    name_zh: str

    def fraction(self, local: datetime) -> float:
        """The expected fraction (0–1) at local wall-clock time ``local``."""
        curve = self.weekday if local.weekday() < 5 else self.weekend
        return _interpolate(curve, local.hour + local.minute / 60 + local.second / 3600)


def _interpolate(curve: Curve, hour: float) -> float:
    if not curve:
        return 0.0
    hours = [h for h, _ in curve]
    i = bisect.bisect_right(hours, hour)
    if i == 0:
        return curve[0][1]
    if i == len(curve):
        return curve[-1][1]
    (h0, f0), (h1, f1) = curve[i - 1], curve[i]
    return f0 + (f1 - f0) * (hour - h0) / (h1 - h0)


_CLOSED: Curve = ((0.0, 0.0), (24.0, 0.0))

PROFILES: dict[Function, DayProfile] = {
    Function.ELDERLY_CARE: DayProfile(
        # Arrivals 8–9 (family drop-off or the centre's minibus), most elders eat in the canteen
        # 11:30–12:30, nap and activities in the afternoon, departures 16–17.
        weekday=(
            (7.5, 0.0),
            (8.0, 0.25),
            (9.0, 0.85),
            (11.4, 0.9),
            (11.7, 0.45),
            (12.5, 0.45),
            (13.0, 0.85),
            (16.0, 0.8),
            (17.0, 0.05),
            (17.5, 0.0),
        ),
        # Many day-care centres open at weekends with fewer elders.
        weekend=(
            (8.0, 0.0),
            (9.0, 0.3),
            (11.5, 0.3),
            (12.0, 0.15),
            (13.0, 0.3),
            (16.0, 0.25),
            (17.0, 0.0),
        ),
        name_en="elderly day care",
        name_zh="老年日间照料",
    ),
    Function.DINING: DayProfile(
        # A small breakfast, the lunch peak 11:00–13:00, the dinner peak 17:00–18:30.
        weekday=(
            (6.5, 0.0),
            (7.0, 0.12),
            (8.5, 0.1),
            (9.0, 0.0),
            (10.75, 0.0),
            (11.0, 0.35),
            (11.75, 0.9),
            (12.25, 0.85),
            (13.0, 0.15),
            (13.5, 0.0),
            (16.75, 0.0),
            (17.0, 0.3),
            (17.75, 0.65),
            (18.5, 0.15),
            (19.0, 0.0),
        ),
        weekend=(
            (10.75, 0.0),
            (11.0, 0.25),
            (12.0, 0.6),
            (13.0, 0.1),
            (13.5, 0.0),
            (16.75, 0.0),
            (17.5, 0.45),
            (18.5, 0.1),
            (19.0, 0.0),
        ),
        name_en="community dining",
        name_zh="社区助餐",
    ),
    Function.AFTER_SCHOOL: DayProfile(
        # Primary schools let out around 15:30; parents collect children by 18:30.
        weekday=(
            (15.4, 0.0),
            (15.75, 0.5),
            (16.25, 0.9),
            (17.5, 0.85),
            (18.0, 0.5),
            (18.5, 0.0),
        ),
        weekend=_CLOSED,
        name_en="after-school care",
        name_zh="儿童托管",
    ),
    Function.INFANT_CARE: DayProfile(
        # Drop-off 7:30–8:30 before work, nap after lunch (still present), pick-up 16:30–17:30.
        weekday=((7.25, 0.0), (7.75, 0.3), (8.5, 0.9), (16.25, 0.9), (17.25, 0.15), (17.75, 0.0)),
        weekend=_CLOSED,
        name_en="infant care",
        name_zh="婴幼儿托育",
    ),
    Function.FITNESS: DayProfile(
        # Early risers, retirees mid-morning, and the evening peak after work.
        weekday=(
            (6.0, 0.0),
            (6.75, 0.3),
            (8.0, 0.1),
            (9.5, 0.3),
            (11.0, 0.1),
            (17.5, 0.2),
            (18.75, 0.9),
            (20.5, 0.8),
            (21.5, 0.0),
        ),
        weekend=(
            (7.0, 0.0),
            (9.0, 0.5),
            (11.5, 0.4),
            (14.0, 0.3),
            (16.0, 0.6),
            (19.5, 0.7),
            (21.0, 0.0),
        ),
        name_en="fitness",
        name_zh="体育健身",
    ),
    Function.CULTURE: DayProfile(
        # Calligraphy, singing and reading groups of retirees in the morning and afternoon.
        weekday=(
            (8.5, 0.0),
            (9.0, 0.5),
            (11.25, 0.5),
            (11.75, 0.0),
            (13.75, 0.0),
            (14.25, 0.6),
            (16.5, 0.5),
            (17.0, 0.0),
            (18.75, 0.0),
            (19.25, 0.4),
            (20.5, 0.0),
        ),
        weekend=((8.5, 0.0), (9.5, 0.6), (12.0, 0.3), (14.0, 0.6), (17.0, 0.0)),
        name_en="culture and leisure",
        name_zh="文化休闲",
    ),
    Function.HEALTH: DayProfile(
        weekday=(
            (8.0, 0.0),
            (8.5, 0.6),
            (11.5, 0.5),
            (12.0, 0.05),
            (14.0, 0.4),
            (16.5, 0.3),
            (17.0, 0.0),
        ),
        weekend=((8.5, 0.0), (9.0, 0.2), (11.5, 0.2), (12.0, 0.0)),
        name_en="health services",
        name_zh="健康服务",
    ),
    Function.HOUSEKEEPING: DayProfile(
        weekday=((8.5, 0.0), (9.0, 0.3), (17.0, 0.3), (17.5, 0.0)),
        weekend=((8.5, 0.0), (9.0, 0.4), (17.0, 0.4), (17.5, 0.0)),
        name_en="housekeeping services",
        name_zh="家政便民",
    ),
    Function.CHILDREN_PLAY: DayProfile(
        weekday=((15.75, 0.0), (16.5, 0.6), (18.5, 0.5), (19.0, 0.0)),
        weekend=((9.0, 0.0), (10.0, 0.7), (11.5, 0.6), (12.0, 0.1), (15.0, 0.8), (18.0, 0.0)),
        name_en="children's play",
        name_zh="儿童游憩",
    ),
}

# Occupant load factors, m² per person (IBC Table 1004.5, as RULES.md lists them), used only when
# a room states neither a licensed capacity nor beds/places.
LOAD_FACTORS_M2: dict[str, float] = {
    "day_care": 3.25,
    "classroom": 1.86,
    "fitness": 4.65,
    "dining": 1.39,
    "assembly_chairs": 0.65,
    "kitchen": 18.6,
    "office": 13.9,
}

_USE_OF_FUNCTION: dict[Function, str] = {
    Function.ELDERLY_CARE: "day_care",
    Function.INFANT_CARE: "day_care",
    Function.AFTER_SCHOOL: "classroom",
    Function.DINING: "dining",
    Function.HOUSEKEEPING: "office",
    Function.HEALTH: "office",
    Function.FITNESS: "fitness",
    Function.CULTURE: "classroom",
    Function.CHILDREN_PLAY: "day_care",
}

# A room the registry says nothing about still holds people; 20 is a small activity room.
DEFAULT_CAPACITY = 20


def capacity_of(room: Room) -> int:
    """Licensed capacity, else beds/places, else floor area ÷ occupant load factor, else 20."""
    if room.licensed_capacity:
        return room.licensed_capacity
    if room.beds or room.places:
        return (room.beds or 0) + (room.places or 0)
    use = room.occupant_use or (_USE_OF_FUNCTION.get(room.function) if room.function else None)
    if room.area_m2 and use in LOAD_FACTORS_M2:
        return max(1, math.floor(room.area_m2 / LOAD_FACTORS_M2[use]))
    return DEFAULT_CAPACITY


def is_open(site: Site, when: datetime) -> bool:
    """Whether the site is open at ``when`` (any timezone); a site without hours is always open."""
    if not site.opening_hours:
        return True
    local = when.astimezone(ZoneInfo(site.timezone))
    now_t = local.time().replace(tzinfo=None)
    return any(local.weekday() in h.days and h.open <= now_t < h.close for h in site.opening_hours)


def expected_fraction(function: Function | None, local: datetime) -> float:
    """Expected fraction of capacity present in a room of ``function`` at local time ``local``."""
    profile = PROFILES.get(function) if function is not None else None
    return profile.fraction(local) if profile is not None else 0.0


def expected_occupancy(
    site: Site, room: Room, when: datetime, *, check_hours: bool = True
) -> float:
    """Expected people in ``room`` at ``when``: the profile in the site's timezone × capacity,
    zero while the site is closed."""
    if check_hours and not is_open(site, when):
        return 0.0
    local = when.astimezone(ZoneInfo(site.timezone))
    return expected_fraction(room.function, local) * capacity_of(room)
