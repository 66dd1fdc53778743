from __future__ import annotations

from datetime import UTC, datetime

import pytest

from firmware_sims import PROFILES, capacity_of, expected_occupancy
from firmware_sims.profiles import DEFAULT_CAPACITY, is_open
from rules import Function, Room
from tests.firmware_sims.conftest import SHANGHAI, small_registry

MONDAY = datetime(2026, 1, 5, tzinfo=SHANGHAI)
SATURDAY = datetime(2026, 1, 10, tzinfo=SHANGHAI)


def at(day: datetime, hour: float) -> datetime:
    return day.replace(hour=int(hour), minute=round((hour % 1) * 60))


def frac(function: Function, day: datetime, hour: float) -> float:
    return PROFILES[function].fraction(at(day, hour))


def test_every_function_has_a_profile_within_zero_and_one() -> None:
    assert set(PROFILES) == set(Function)
    for profile in PROFILES.values():
        for curve in (profile.weekday, profile.weekend):
            hours = [h for h, _ in curve]
            assert hours == sorted(hours)
            assert all(0 <= f <= 1 for _, f in curve)


def test_elderly_day_care_fills_8_to_9_dips_at_lunch_and_empties_16_to_17() -> None:
    f = Function.ELDERLY_CARE
    assert frac(f, MONDAY, 7.5) == 0
    assert frac(f, MONDAY, 8.0) < 0.5 < frac(f, MONDAY, 9.0)
    assert frac(f, MONDAY, 12.0) < frac(f, MONDAY, 10.5)
    assert frac(f, MONDAY, 16.0) > 0.5 > frac(f, MONDAY, 17.0)
    assert frac(f, SATURDAY, 10.0) < frac(f, MONDAY, 10.0)


def test_canteen_peaks_at_lunch_and_dinner() -> None:
    f = Function.DINING
    lunch, dinner, afternoon = frac(f, MONDAY, 12.0), frac(f, MONDAY, 17.75), frac(f, MONDAY, 15.0)
    assert lunch > 0.8
    assert dinner > 0.5
    assert afternoon == 0
    assert frac(f, MONDAY, 11.0) < lunch
    assert frac(f, MONDAY, 13.0) < lunch
    assert frac(f, MONDAY, 18.5) < dinner


def test_after_school_only_on_school_days_from_half_past_three() -> None:
    f = Function.AFTER_SCHOOL
    assert frac(f, MONDAY, 14.0) == 0
    assert frac(f, MONDAY, 16.5) > 0.8
    assert frac(f, MONDAY, 18.5) == 0
    assert all(frac(f, SATURDAY, h) == 0 for h in range(24))


def test_fitness_peaks_in_the_evening() -> None:
    f = Function.FITNESS
    evening = frac(f, MONDAY, 19.5)
    assert evening > frac(f, MONDAY, 7.0)
    assert evening > frac(f, MONDAY, 14.0)
    peak_hour = max(range(96), key=lambda q: frac(f, MONDAY, q / 4)) / 4
    assert 18 <= peak_hour <= 21


def test_infant_care_is_closed_at_weekends_and_full_through_the_nap() -> None:
    f = Function.INFANT_CARE
    assert frac(f, MONDAY, 13.0) > 0.8
    assert frac(f, SATURDAY, 10.0) == 0


def test_expected_occupancy_uses_the_site_timezone_hours_and_capacity() -> None:
    site = small_registry().sites[0]
    canteen = site.room("din")
    assert canteen is not None
    # 04:00 UTC is 12:00 in Shanghai: the lunch peak of a 60-seat canteen.
    noon = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    assert expected_occupancy(site, canteen, noon) == pytest.approx(
        60 * frac(Function.DINING, MONDAY, 12.0)
    )
    # 23:00 UTC Sunday is 07:00 Monday in Shanghai; the canteen serves breakfast, the site opens.
    assert is_open(site, datetime(2026, 1, 4, 23, 0, tzinfo=UTC))
    assert not is_open(site, datetime(2026, 1, 4, 22, 0, tzinfo=UTC))
    assert expected_occupancy(site, canteen, datetime(2026, 1, 4, 22, 0, tzinfo=UTC)) == 0


def test_capacity_prefers_licence_then_places_then_area() -> None:
    base = {"id": "r", "name": "室", "floor": 1}
    assert capacity_of(Room(**base, licensed_capacity=40, beds=10, area_m2=500)) == 40
    assert capacity_of(Room(**base, beds=10, area_m2=500)) == 10
    assert capacity_of(Room(**base, function=Function.DINING, area_m2=139)) == 100
    assert capacity_of(Room(**base, occupant_use="fitness", area_m2=93)) == 20
    assert capacity_of(Room(**base)) == DEFAULT_CAPACITY
