"""Utilization on synthetic days whose answers are worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import (
    CounterSample,
    CountSample,
    Function,
    Site,
    daily_rollups,
    occupancy_from_counter,
    occupancy_from_counts,
    open_periods,
    utilization_report,
)

ZONE = ZoneInfo("Asia/Shanghai")
WEEKDAYS = {"days": [0, 1, 2, 3, 4], "open": "08:00", "close": "18:00"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time in January 2026; 5 January is a Monday."""
    return datetime(2026, 1, day, hour, minute, tzinfo=ZONE)


def make_site(*rooms: dict[str, Any], hours: list[dict[str, Any]] | None = None) -> Site:
    return Site.model_validate(
        {
            "id": "s1",
            "name": "中心",
            "opening_hours": [WEEKDAYS] if hours is None else hours,
            "rooms": [{"name": f"房间{r['id']}", "floor": 1, **r} for r in rooms],
        }
    )


MONDAY = [
    # (hour, minute, count): before opening, then the day
    (7, 0, 3),
    (8, 0, 0),
    (9, 0, 4),
    (10, 0, 12),
    (10, 30, 6),
    (12, 0, 0),
    (14, 0, 5),
    (16, 0, 0),
    (18, 0, 0),
]


def monday_series() -> Any:
    return occupancy_from_counts([CountSample(at(5, h, m), v) for h, m, v in MONDAY], max_hold=None)


def test_a_hand_worked_day_from_absolute_counts() -> None:
    site = make_site({"id": "r1", "function": "culture", "licensed_capacity": 10})
    report = utilization_report(site, {"r1": monday_series()}, start=at(5, 0), end=at(6, 0))
    room = report.rooms[0]
    s = room.summary
    # Open 08–18: 0 for 1 h, 4 for 1 h, 12 for 0.5 h, 6 for 1.5 h, 0 for 2 h, 5 for 2 h, 0 for 2 h.
    assert (s.open_hours, s.data_hours) == (10, 10)
    assert s.person_hours == pytest.approx(4 + 6 + 9 + 10)  # 29
    assert s.average == pytest.approx(2.9)
    assert s.frequency == pytest.approx(0.5)  # occupied 5 of 10 h
    assert s.average_when_occupied == pytest.approx(5.8)
    assert s.occupancy_rate == pytest.approx(0.58)
    assert s.utilisation_rate == pytest.approx(0.29)  # 29 person-h / 100 capacity-h
    assert s.capacity_hours == pytest.approx(100)
    assert (s.peak, s.peak_at) == (12, at(5, 10).astimezone(UTC))
    assert s.utilization_peak == pytest.approx(1.2)
    assert s.minutes_over_capacity == pytest.approx(30)
    assert s.visits == 17  # +4, +8, +5; the 07:00 count is before opening
    assert (room.episodes, room.mean_dwell_minutes) == (2, 150)  # 09–12 and 14–16
    assert room.busiest_hour == 10  # 12 for half an hour, 6 for the other half: 9
    assert room.heatmap[0][10] == pytest.approx(9)
    assert room.heatmap[1][10] is None  # no open time on Tuesday in the window
    assert room.busiest_weekday == 0
    assert room.current == 0
    assert (room.capacity, room.capacities[0].basis.value) == (10, "licensed")
    assert room.by_hour[9].person_hours == pytest.approx(4)
    assert room.by_hour[7].open_hours == 0
    assert [w.week for w in room.by_week] == ["2026-W02"]
    assert report.hours_basis == "opening_hours"


def test_a_drifting_counter_is_reset_daily_and_never_negative() -> None:
    samples = [
        CounterSample(at(5, 8), 5, 0),  # 5
        CounterSample(at(5, 12), 0, 3),  # 2
        CounterSample(at(5, 17), 0, 1),  # 1: someone left uncounted
        CounterSample(at(6, 9), 2, 0),  # 2, after the 03:00 reset dropped the stray 1
        CounterSample(at(6, 10), 0, 5),  # more exits than entries: 0, not -3
        CounterSample(at(6, 11), 1, 0),  # 1, not -2
    ]
    series = occupancy_from_counter(samples, timezone="Asia/Shanghai")
    points = list(zip(series.times, series.values, strict=True))
    assert points[-1][0] == at(7, 3).timestamp()  # no data after the next reset
    assert np.isnan(points[-1][1])
    values = {datetime.fromtimestamp(t, ZONE): v for t, v in points[:-1]}
    assert values == {
        at(5, 8): 5,
        at(5, 12): 2,
        at(5, 17): 1,
        at(6, 3): 0,
        at(6, 9): 2,
        at(6, 10): 0,
        at(6, 11): 1,
    }
    reset, clamp = series.corrections
    assert (reset.reason, reset.at, reset.before, reset.after, reset.amount) == (
        "daily_reset",
        at(6, 3),
        1,
        0,
        -1,
    )
    assert (clamp.reason, clamp.at, clamp.before, clamp.amount) == ("below_zero", at(6, 10), -3, 3)

    site = make_site({"id": "r1", "function": "dining", "licensed_capacity": 4})
    report = utilization_report(site, {"r1": series}, start=at(5, 0), end=at(7, 0))
    s = report.rooms[0].summary
    # Monday 08–18: 5×4 h + 2×5 h + 1×1 h = 31; Tuesday: 0×1 h + 2×1 h + 0×1 h + 1×7 h = 9.
    assert s.person_hours == pytest.approx(40)
    assert s.visits == 8  # entries 5 + 2 + 1
    assert s.minutes_over_capacity == pytest.approx(240)  # 5 > 4 from 08 to 12 Monday
    assert report.drift[0].room == "r1"
    assert len(report.drift[0].corrections) == 2


def test_a_counter_sample_at_the_reset_instant_counts_after_the_reset() -> None:
    samples = [CounterSample(at(5, 20), 3, 0), CounterSample(at(6, 3), 1, 0)]
    series = occupancy_from_counter(samples, timezone="Asia/Shanghai", reset_at=time(3))
    assert series.value_at(at(6, 3)) == 1
    assert [c.before for c in series.corrections] == [3]


def test_a_counter_starting_with_exits_stays_at_zero() -> None:
    series = occupancy_from_counter([CounterSample(at(5, 9), 0, 4)], timezone="Asia/Shanghai")
    assert series.value_at(at(5, 9)) == 0
    assert series.corrections[0].amount == 4


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=80))
def test_counter_occupancy_is_never_negative(moves: list[tuple[int, int]]) -> None:
    samples = [
        CounterSample(at(5, 0) + timedelta(minutes=37 * i), e, x) for i, (e, x) in enumerate(moves)
    ]
    series = occupancy_from_counter(samples, timezone="Asia/Shanghai")
    known = series.values[~np.isnan(series.values)]
    assert (known >= 0).all()
    assert np.isnan(series.values[-1])  # after the next reset, the silent counter says nothing
    # What the corrections add and remove reconciles the raw sum with the final count.
    raw = sum(e - x for e, x in moves)
    assert known[-1] == raw + sum(c.amount for c in series.corrections)


def test_stale_counts_are_no_data_not_occupancy() -> None:
    series = occupancy_from_counts(
        [CountSample(at(5, 9), 4), CountSample(at(5, 11), 2)], max_hold=timedelta(minutes=15)
    )
    site = make_site({"id": "r1", "function": "culture", "licensed_capacity": 10})
    s = utilization_report(site, {"r1": series}, start=at(5, 0), end=at(6, 0)).rooms[0].summary
    # 4 for 09:00–09:15, 2 for 11:00–11:15; the rest of the open day has no data.
    assert s.data_hours == pytest.approx(0.5)
    assert s.person_hours == pytest.approx(1.5)
    assert s.average == pytest.approx(3)
    assert s.visits == 0  # the rise across a gap is not a visit


def test_function_and_site_blocks_sum_their_rooms() -> None:
    site = make_site(
        {"id": "a", "function": "elderly_care", "beds": 4},
        {"id": "b", "function": "elderly_care", "area_m2": 19.5},  # 6 people at 3.25 m²
        {"id": "c", "function": "dining"},  # no capacity known
    )
    series = {
        "a": occupancy_from_counts(
            [CountSample(at(5, 8), 2), CountSample(at(5, 13), 0)], max_hold=None
        ),
        "b": occupancy_from_counts(
            [CountSample(at(5, 8), 0), CountSample(at(5, 12), 5), CountSample(at(5, 14), 0)],
            max_hold=None,
        ),
        "c": occupancy_from_counts([CountSample(at(5, 8), 1)], max_hold=None),
    }
    report = utilization_report(site, series, start=at(5, 0), end=at(6, 0))
    elderly = next(f for f in report.functions if f.id == "elderly_care")
    assert (elderly.capacity, elderly.rooms) == (10, ("a", "b"))
    # a: 2 × 5 h = 10; b: 5 × 2 h = 10; together 7 at 12:00–13:00.
    assert elderly.summary.person_hours == pytest.approx(20)
    assert elderly.summary.peak == 7
    assert elderly.summary.peak_at == at(5, 12).astimezone(UTC)
    assert elderly.summary.utilisation_rate == pytest.approx(20 / 100)  # (4 + 6) × 10 h
    assert elderly.summary.frequency == pytest.approx(6 / 10)  # someone there 08–14
    dining = next(f for f in report.functions if f.id == "dining")
    assert dining.capacity is None
    assert dining.capacity_unknown == ("c",)
    assert dining.summary.utilisation_rate is None
    assert report.total.capacity is None
    assert report.underuse_unknown == (Function.DINING,)
    assert report.total.summary.person_hours == pytest.approx(30)
    by_basis = {c.room: c.basis.value for c in report.rooms[1].capacities}
    assert by_basis == {"b": "occupant_load"}


def test_under_used_functions_and_complementary_rooms() -> None:
    site = make_site(
        {"id": "morning", "function": "elderly_care", "licensed_capacity": 10},
        {"id": "afternoon", "function": "after_school", "licensed_capacity": 10},
        {"id": "quiet", "function": "culture", "licensed_capacity": 10},
    )
    week = range(5, 10)  # Monday to Friday
    series = {
        "morning": occupancy_from_counts(
            [CountSample(at(d, h), v) for d in week for h, v in ((8, 8), (12, 0))], max_hold=None
        ),
        "afternoon": occupancy_from_counts(
            [CountSample(at(d, h), v) for d in week for h, v in ((8, 0), (13, 9), (18, 0))],
            max_hold=None,
        ),
        "quiet": occupancy_from_counts(
            [CountSample(at(d, h), v) for d in week for h, v in ((8, 1), (18, 0))], max_hold=None
        ),
    }
    report = utilization_report(site, series, start=at(5, 0), end=at(10, 0))
    # quiet: 1 of 10 all day = 10 %; morning: 8 × 4 h / 100 = 32 %; afternoon 9 × 5 / 100 = 45 %.
    assert [(u.function.value, round(u.utilisation_rate, 3)) for u in report.underused] == [
        ("culture", 0.1)
    ]
    assert report.underused[0].source.article_en == "§2(4)"
    assert "10%" in report.underused[0].message_en
    pairs = {p.rooms: p for p in report.complementary}
    assert ("afternoon", "morning") in pairs
    assert pairs[("afternoon", "morning")].overlap == 0
    assert all("quiet" not in p.rooms or p.overlap <= 0.2 for p in report.complementary)


def test_a_site_without_opening_hours_counts_all_hours() -> None:
    site = make_site({"id": "r1", "function": "culture", "licensed_capacity": 10}, hours=[])
    series = occupancy_from_counts([CountSample(at(5, 0), 1)], max_hold=None)
    report = utilization_report(site, {"r1": series}, start=at(5, 0), end=at(6, 0))
    assert report.hours_basis == "all_hours"
    assert report.rooms[0].summary.open_hours == 24
    assert report.rooms[0].summary.person_hours == pytest.approx(24)


def test_rooms_without_series_are_listed_and_empty_series_give_no_figures() -> None:
    site = make_site(
        {"id": "r1", "function": "culture", "licensed_capacity": 10},
        {"id": "r2", "function": "culture", "licensed_capacity": 10},
    )
    report = utilization_report(
        site, {"r1": occupancy_from_counts([])}, start=at(5, 0), end=at(6, 0)
    )
    assert report.no_data == ("r2",)
    s = report.rooms[0].summary
    assert (s.data_hours, s.average, s.peak, s.utilisation_rate) == (0, None, None, None)
    assert report.rooms[0].current is None


def test_open_periods_follow_local_time() -> None:
    site = make_site({"id": "r1", "function": "culture"})
    periods = open_periods(site, at(9, 0), at(13, 0))  # Friday to Tuesday
    assert [(a.astimezone(ZONE).day, a.astimezone(ZONE).hour) for a, _ in periods] == [
        (9, 8),
        (12, 8),
    ]
    assert periods[0][1] == at(9, 18).astimezone(UTC)


def test_capacity_counts_only_while_a_room_reports() -> None:
    site = make_site(
        {"id": "a", "function": "culture", "licensed_capacity": 4},
        {"id": "b", "function": "culture", "licensed_capacity": 6},
    )
    series = {
        "a": occupancy_from_counts([CountSample(at(5, 8), 2)], max_hold=None),
        "b": occupancy_from_counts([CountSample(at(5, 13), 3)], max_hold=None),
    }
    block = utilization_report(site, series, start=at(5, 0), end=at(6, 0)).functions[0]
    # a: 2 × 10 h against 4 × 10 h; b: 3 × 5 h against 6 × 5 h (no data before 13:00).
    assert block.summary.person_hours == pytest.approx(35)
    assert block.summary.capacity_hours == pytest.approx(70)
    assert block.summary.utilisation_rate == pytest.approx(0.5)


def test_daily_rollups_match_the_report_for_that_day() -> None:
    site = make_site({"id": "r1", "function": "culture", "licensed_capacity": 10})
    rows = daily_rollups(site, {"r1": monday_series()}, day=date(2026, 1, 5))
    by_id = {(r.level, r.id): r for r in rows}
    assert set(by_id) == {("room", "r1"), ("function", "culture"), ("site", "s1")}
    room = by_id[("room", "r1")]
    assert room.stats.person_hours == pytest.approx(29)
    assert (room.capacity, room.episodes, room.stats.visits) == (10, 2, 17)
    assert by_id[("site", "s1")].stats.peak == 12
    tuesday = daily_rollups(site, {"r1": monday_series()}, day=date(2026, 1, 6))
    assert tuesday[0].stats.data_hours == 10  # the last count (0) holds: no max_hold here
    assert tuesday[0].stats.person_hours == 0


def test_daily_rollups_count_the_days_drift_corrections() -> None:
    site = make_site({"id": "r1", "function": "dining", "licensed_capacity": 10})
    series = occupancy_from_counter(
        [CounterSample(at(5, 9), 3, 0), CounterSample(at(6, 9), 0, 2)], timezone="Asia/Shanghai"
    )
    # Tuesday 03:00 drops the 3 left over; at 09:00 two exits would go below zero.
    tuesday = daily_rollups(site, {"r1": series}, day=date(2026, 1, 6))
    assert {(r.level, r.drift_corrections) for r in tuesday} == {
        ("room", 2),
        ("function", 2),
        ("site", 2),
    }
    monday = daily_rollups(site, {"r1": series}, day=date(2026, 1, 5))
    assert monday[0].drift_corrections == 0


def test_a_site_with_no_series_at_all_reports_no_data() -> None:
    site = make_site({"id": "r1", "function": "culture", "licensed_capacity": 10})
    report = utilization_report(site, {}, start=at(5, 0), end=at(6, 0))
    assert report.no_data == ("r1",)
    assert report.rooms == ()
    assert report.total.summary.person_hours == 0
    assert report.total.current is None
    with pytest.raises(ValueError, match="aware"):
        utilization_report(site, {}, start=datetime(2026, 1, 5), end=at(6, 0))


def test_counter_samples_before_start_are_ignored() -> None:
    samples = [CounterSample(at(5, 7), 9, 0), CounterSample(at(5, 9), 2, 0)]
    series = occupancy_from_counter(samples, timezone="Asia/Shanghai", start=at(5, 8), initial=1)
    assert series.value_at(at(5, 8)) == 1
    assert series.value_at(at(5, 9)) == 3


def test_a_nearly_empty_room_is_never_a_staggered_use_candidate() -> None:
    site = make_site(
        {"id": "busy", "function": "culture", "licensed_capacity": 10},
        {"id": "empty", "function": "fitness", "licensed_capacity": 10},
    )
    series = {
        "busy": occupancy_from_counts(
            [CountSample(at(5, 8), 6), CountSample(at(5, 12), 0)], max_hold=None
        ),
        # One person for ten minutes in the afternoon: busy at no hour.
        "empty": occupancy_from_counts(
            [CountSample(at(5, 8), 0), CountSample(at(5, 15), 1), CountSample(at(5, 15, 10), 0)],
            max_hold=None,
        ),
    }
    report = utilization_report(site, series, start=at(5, 0), end=at(6, 0))
    assert report.complementary == ()
