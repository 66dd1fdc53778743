from __future__ import annotations

from datetime import timedelta

from firmware_sims import Fleet, builtin, demo_registry
from tests.firmware_sims.conftest import MONDAY_10, readings, run


def _day(seed: int) -> list[dict[str, object]]:
    fleet = Fleet(demo_registry(), start=MONDAY_10, seed=seed, max_step=timedelta(seconds=30))
    fleet.schedule(builtin("fire_drill", fleet), MONDAY_10 + timedelta(hours=1))
    fleet.schedule(builtin("door_propped_open", fleet))
    events = run(fleet, timedelta(hours=4), step=timedelta(minutes=7))
    return [r.model_dump() for r in readings(events)]


def test_the_same_seed_gives_the_same_readings() -> None:
    first = _day(42)
    assert len(first) > 1000
    assert first == _day(42)


def test_another_seed_gives_other_readings() -> None:
    assert _day(1) != _day(2)


def test_how_time_is_sliced_does_not_change_the_readings() -> None:
    # A runner advances in whatever ticks its clock gives; the world steps at max_step anyway.
    a = Fleet(demo_registry(), start=MONDAY_10, seed=3)
    b = Fleet(demo_registry(), start=MONDAY_10, seed=3)
    ra = readings(run(a, timedelta(hours=1), step=timedelta(seconds=10)))
    rb = readings(run(b, timedelta(hours=1), step=timedelta(minutes=5)))
    assert [r.model_dump() for r in ra] == [r.model_dump() for r in rb]


def test_whole_steps_only_keep_odd_ticks_from_changing_the_readings() -> None:
    a = Fleet(demo_registry(), start=MONDAY_10, seed=3)
    b = Fleet(demo_registry(), start=MONDAY_10, seed=3)
    ra = readings(run(a, timedelta(minutes=30), step=timedelta(seconds=10)))
    rb = []
    t = MONDAY_10
    while b.now < MONDAY_10 + timedelta(minutes=30):
        t += timedelta(seconds=7.3)  # ticks that never land on the 10 s grid
        rb += readings(b.advance(min(t, MONDAY_10 + timedelta(minutes=30)), partial=False))
    assert [r.model_dump() for r in ra] == [r.model_dump() for r in rb]
