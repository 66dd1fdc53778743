from __future__ import annotations

from datetime import timedelta

import pytest

from firmware_sims import FireKind, Fleet
from firmware_sims._world import FireState
from firmware_sims.devices import DoorContact, DoorCounter, PresenceSensor, SmokeDetector
from firmware_sims.devices.smoke import CLEAR_HOLD, DIRTY_LIMIT
from protocol import (
    DoorReading,
    DoorState,
    HealthReading,
    OccupancyReading,
    SmokeReading,
    SmokeState,
    is_alarm_class,
    is_valid_id,
)
from tests.firmware_sims.conftest import MONDAY_10, readings, run, small_registry


def _smoke(fleet: Fleet, device: str) -> SmokeDetector:
    found = fleet.device(device)
    assert isinstance(found, SmokeDetector)
    return found


def _door(fleet: Fleet, device: str) -> DoorContact:
    found = fleet.device(device)
    assert isinstance(found, DoorContact)
    return found


def test_battery_drains_and_a_low_battery_chirps_and_says_so() -> None:
    fleet = Fleet(small_registry(), start=MONDAY_10, seed=3, max_step=timedelta(minutes=10))
    det = _smoke(fleet, "s1-smk-eld")
    det.battery = 15.5
    events = run(fleet, timedelta(days=40), step=timedelta(days=1))
    assert det.battery is not None
    assert 15.5 - 0.045 * 40 <= det.battery <= 15.5 - 0.02 * 40
    assert det.chirping
    health = [r for r in readings(events, det.id) if isinstance(r, HealthReading)]
    assert any(h.battery_low for h in health)
    assert not health[0].battery_low  # it was still fine at first
    smoke = [r for r in readings(events, det.id) if isinstance(r, SmokeReading)]
    assert smoke[-1].battery_pct is not None
    assert smoke[-1].battery_pct < smoke[0].battery_pct


def test_weekly_self_test_is_reported_as_test_never_as_alarm() -> None:
    fleet = Fleet(small_registry(), start=MONDAY_10, seed=5, max_step=timedelta(seconds=60))
    events = run(fleet, timedelta(days=8), step=timedelta(hours=6))
    for device in ("s1-smk-eld", "s1-smk-din", "s1-smk-inf"):
        states = [r.state for r in readings(events, device) if isinstance(r, SmokeReading)]
        assert SmokeState.TEST in states, device
        assert SmokeState.ALARM not in states
        after_test = states[states.index(SmokeState.TEST) + 1]
        assert after_test is SmokeState.NORMAL
    tests = [
        r for r in readings(events) if isinstance(r, SmokeReading) and r.state is SmokeState.TEST
    ]
    assert not any(is_alarm_class(r) for r in tests)
    assert fleet.evacuations("s1") == []


def test_a_fire_raises_an_alarm_within_its_onset_and_clears_with_hysteresis(fleet: Fleet) -> None:
    room = fleet.sites["s1"].rooms["din"]
    fire_at = fleet.now
    room.fire = FireState(FireKind.FLAMING, fire_at, fire_at + timedelta(minutes=3))
    events = run(fleet, timedelta(minutes=20))
    smoke = [r for r in readings(events, "s1-smk-din") if isinstance(r, SmokeReading)]
    alarms = [r for r in smoke if r.state is SmokeState.ALARM]
    assert alarms, "no alarm"
    onset = (alarms[0].ts - fire_at).total_seconds()
    assert 50 <= onset <= 100  # t-squared growth reaches ~8 %/m in about 70 s
    assert alarms[0].obscuration is not None
    assert alarms[0].obscuration >= 7
    cleared = next(r for r in smoke if r.ts > alarms[-1].ts and r.state is SmokeState.NORMAL)
    # The smoke decays after the fire is out; the detector holds the alarm 30 s below half.
    assert cleared.ts - (fire_at + timedelta(minutes=3)) > CLEAR_HOLD
    heat = [r for r in readings(events, "s1-heat-din") if isinstance(r, SmokeReading)]
    heat_alarm = next(r for r in heat if r.state is SmokeState.ALARM)
    assert heat_alarm.ts > alarms[0].ts  # heat detectors are slower than smoke detectors
    assert heat_alarm.temperature_c is not None
    assert heat_alarm.temperature_c >= 57


def test_a_dirty_chamber_is_a_fault_and_fails_the_self_test(fleet: Fleet) -> None:
    det = _smoke(fleet, "s1-smk-inf")
    det.dirt = DIRTY_LIMIT + 0.1
    events = run(fleet, timedelta(seconds=20))
    mine = readings(events, det.id)
    fault = next(r for r in mine if isinstance(r, SmokeReading) and r.state is SmokeState.FAULT)
    assert is_alarm_class(fault)
    assert any(isinstance(r, HealthReading) and r.fault == "dirty_chamber" for r in mine)
    det.self_test(fleet.now)
    events = run(fleet, timedelta(minutes=1))
    states = [r.state for r in readings(events, det.id) if isinstance(r, SmokeReading)]
    assert states[:2] == [SmokeState.TEST, SmokeState.FAULT]
    assert any(
        isinstance(r, HealthReading) and r.fault == "self_test_failed"
        for r in readings(events, det.id)
    )


def test_the_hold_open_door_releases_in_the_step_of_the_alarm(fleet: Fleet) -> None:
    events = run(fleet, timedelta(seconds=30))
    assert _door(fleet, "s1-hold").state is DoorState.OPEN  # held open while the site is open
    room = fleet.sites["s1"].rooms["eld"]
    room.fire = FireState(FireKind.AEROSOL, fleet.now, fleet.now + timedelta(seconds=60))
    events = run(fleet, timedelta(minutes=2))
    alarm = next(
        r
        for r in readings(events, "s1-smk-eld")
        if isinstance(r, SmokeReading) and r.state is SmokeState.ALARM
    )
    closed = next(
        r
        for r in readings(events, "s1-hold")
        if isinstance(r, DoorReading) and r.state is DoorState.CLOSED
    )
    assert closed.ts == alarm.ts


def test_a_hold_open_that_fails_to_release_reports_a_fault(fleet: Fleet) -> None:
    run(fleet, timedelta(seconds=30))
    _door(fleet, "s1-hold").fails_to_release = True
    room = fleet.sites["s1"].rooms["eld"]
    room.fire = FireState(FireKind.AEROSOL, fleet.now, fleet.now + timedelta(seconds=60))
    events = run(fleet, timedelta(minutes=1))
    doors = [r for r in readings(events, "s1-hold") if isinstance(r, DoorReading)]
    assert all(d.state is DoorState.OPEN for d in doors)
    assert any(d.fault and is_alarm_class(d) for d in doors)


def test_a_propped_fire_door_stays_open_until_unwedged(fleet: Fleet) -> None:
    door = _door(fleet, "s1-fd-inf")
    propped_at = fleet.now
    door.prop(propped_at + timedelta(minutes=10))
    events = run(fleet, timedelta(minutes=15))
    states = [(r.ts, r.state) for r in readings(events, door.id) if isinstance(r, DoorReading)]
    assert states[0][1] is DoorState.OPEN
    first_closed = next(ts for ts, s in states if s is DoorState.CLOSED)
    assert first_closed - propped_at >= timedelta(minutes=10)


def test_the_emergency_exit_opens_only_while_people_evacuate(fleet: Fleet) -> None:
    quiet = run(fleet, timedelta(minutes=10))
    assert all(
        r.state is DoorState.CLOSED
        for r in readings(quiet, "s1-exit")
        if isinstance(r, DoorReading)
    )
    room = fleet.sites["s1"].rooms["eld"]
    room.fire = FireState(FireKind.AEROSOL, fleet.now, fleet.now + timedelta(seconds=60))
    events = run(fleet, timedelta(minutes=15))
    states = [r.state for r in readings(events, "s1-exit") if isinstance(r, DoorReading)]
    assert DoorState.OPEN in states
    assert states[-1] is DoorState.CLOSED
    assert fleet.sites["s1"].rooms["eld"].people == 0 or fleet.sites["s1"].evacuation is None


def _counter_drift(exit_miss: float | None) -> int:
    start = MONDAY_10.replace(hour=6)
    fleet = Fleet(small_registry(), start=start, seed=21)
    counter = fleet.device("s1-cnt-din")
    assert isinstance(counter, DoorCounter)
    if exit_miss is not None:
        counter.exit_miss = exit_miss
    events = run(fleet, timedelta(hours=17), step=timedelta(hours=1))  # to 23:00, room empty
    assert fleet.sites["s1"].rooms["din"].people == 0
    occ = [r for r in readings(events, counter.id) if isinstance(r, OccupancyReading)]
    return sum(r.entries or 0 for r in occ) - sum(r.exits or 0 for r in occ)


def test_door_counters_drift_upward_and_more_when_they_miss_exits() -> None:
    normal = _counter_drift(None)
    drifting = _counter_drift(0.2)
    assert drifting > 10
    assert drifting > normal


def test_presence_sensor_reports_the_people_it_sees(fleet: Fleet) -> None:
    sensor = fleet.device("s1-pre-inf")
    assert isinstance(sensor, PresenceSensor)
    room = fleet.sites["s1"].rooms["inf"]
    for _ in range(10):
        events = run(fleet, timedelta(minutes=5))
        counts = [r.count for r in readings(events, sensor.id) if isinstance(r, OccupancyReading)]
        if counts and sensor._last_report == fleet.now:
            assert counts[-1] is not None
            assert abs(counts[-1] - room.people) <= 1


def test_every_reading_has_a_valid_unique_id_and_a_step_timestamp(fleet: Fleet) -> None:
    steps: set[object] = set()
    events = []
    for _ in range(360):
        events += fleet.advance(fleet.now + timedelta(seconds=10))
        steps.add(fleet.now)
    all_readings = readings(events)
    assert len(all_readings) > 100
    ids = [r.id for r in all_readings]
    assert len(set(ids)) == len(ids)
    assert all(is_valid_id(i) for i in ids)
    # Timestamps come from the injected time (a door passage is stamped a few seconds early).
    assert all(r.ts in steps or r.ts + timedelta(seconds=5) in steps for r in all_readings)


@pytest.mark.parametrize("silent_for", [None, timedelta(minutes=20)])
def test_a_silent_device_says_nothing_then_resumes(
    fleet: Fleet, silent_for: timedelta | None
) -> None:
    from firmware_sims.scenarios import Silence

    fleet.at(fleet.now, Silence(action="silence", device="s1-smk-eld", duration=silent_for))
    events = run(fleet, timedelta(minutes=40))
    late = [r for r in readings(events, "s1-smk-eld")]
    if silent_for is None:
        assert late == []
    else:
        assert late
        assert min(r.ts for r in late) >= MONDAY_10 + silent_for


def test_counters_count_the_people_a_fleet_starts_with() -> None:
    # Started at 10:00, rooms are already occupied; the counters must have seen them come in,
    # or counter-based occupancy would go below zero as they leave.
    fleet = Fleet(small_registry(), start=MONDAY_10, seed=8)
    room = fleet.sites["s1"].rooms["eld"]
    assert room.people > 10
    start_people = room.people
    events = run(fleet, timedelta(hours=9))  # to 19:00, the room empties
    assert room.people == 0
    occ = [r for r in readings(events, "s1-cnt-eld") if isinstance(r, OccupancyReading)]
    entries = sum(r.entries or 0 for r in occ)
    exits = sum(r.exits or 0 for r in occ)
    assert entries >= start_people
    assert abs(entries - exits) <= 0.1 * entries  # the counter's usual drift, no missing crowd


def test_exact_counters_never_drift() -> None:
    fleet = Fleet(small_registry(), start=MONDAY_10.replace(hour=6), seed=21, exact_counters=True)
    events = run(fleet, timedelta(hours=17), step=timedelta(hours=1))
    occ = [r for r in readings(events, "s1-cnt-din") if isinstance(r, OccupancyReading)]
    assert sum(r.entries or 0 for r in occ) == sum(r.exits or 0 for r in occ) > 50


def test_tamper_is_reported_at_once_as_an_alarm_class_health_reading(fleet: Fleet) -> None:
    from firmware_sims.scenarios import Tamper

    fleet.at(fleet.now, Tamper(action="tamper", device="s1-fd-inf"))
    fleet.at(
        fleet.now + timedelta(minutes=5), Tamper(action="tamper", device="s1-fd-inf", tamper=False)
    )
    events = run(fleet, timedelta(minutes=10))
    health = [r for r in readings(events, "s1-fd-inf") if isinstance(r, HealthReading)]
    assert [h.tamper for h in health][:2] == [True, False]
    assert is_alarm_class(health[0])
    # Each action applies at the first step at or after its time.
    assert health[0].ts == MONDAY_10 + timedelta(seconds=10)
    assert health[1].ts == MONDAY_10 + timedelta(minutes=5)
