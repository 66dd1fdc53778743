"""door.held_open (with restarts), room.over_capacity (hysteresis) and after_hours.entry."""

from __future__ import annotations

from datetime import UTC, datetime

from protocol import DoorState, SmokeState
from rules.live import Change, DecisionState, EngineSnapshot, Severity
from tests.rules.live.factories import at, changes, count, door, engine, flow, only, smoke


def test_door_held_open_pends_then_fires_after_60_s() -> None:
    e = engine()
    [p] = only(e.on_reading(door("door1", DoorState.OPEN, at(0)), at(0)), "door.held_open")
    assert (p.state, p.severity) == (DecisionState.PENDING, Severity.MAJOR)
    assert only(e.tick(at(59)), "door.held_open") == []
    [d] = only(e.tick(at(60)), "door.held_open")
    assert (d.state, d.change, d.subject) == (DecisionState.FIRING, Change.FIRED, "s1/door1")
    out = e.on_reading(door("door1", DoorState.CLOSED, at(70)), at(70))
    assert changes(out, "door.held_open") == ["resolved"]


def test_flapping_door_restarts_the_duration_each_time_it_closes() -> None:
    e = engine()
    out = []
    for i in range(10):  # open 40 s, closed 5 s, ten times
        out += e.on_reading(door("door1", DoorState.OPEN, at(45 * i)), at(45 * i))
        out += e.tick(at(45 * i + 39))
        out += e.on_reading(door("door1", DoorState.CLOSED, at(45 * i + 40)), at(45 * i + 40))
    assert "fired" not in changes(out, "door.held_open")


def test_door_open_50_of_60_s_at_restart_fires_10_s_after() -> None:
    e = engine()
    e.on_reading(door("door1", DoorState.OPEN, at(0)), at(0))
    e.tick(at(50))
    stored = e.snapshot(at(50)).model_dump_json()  # what the server persists

    fresh = engine()
    fresh.restore(EngineSnapshot.model_validate_json(stored), at(50))
    assert only(fresh.tick(at(59)), "door.held_open") == []
    [d] = only(fresh.tick(at(60)), "door.held_open")
    assert d.change is Change.FIRED
    assert d.since == at(0)


def test_a_late_reading_of_a_door_open_long_ago_fires_at_once() -> None:
    e = engine()
    out = e.on_reading(door("door1", DoorState.OPEN, at(0)), at(75))
    assert changes(out, "door.held_open") == ["fired"]


def test_an_older_door_reading_does_not_undo_a_newer_one() -> None:
    e = engine()
    e.on_reading(door("door1", DoorState.OPEN, at(10)), at(10))
    e.on_reading(door("door1", DoorState.CLOSED, at(5)), at(11))  # replayed late
    assert changes(e.tick(at(70)), "door.held_open") == ["fired"]


def test_held_open_escalates_to_critical_after_10_minutes_firing() -> None:
    e = engine()
    e.on_reading(door("door1", DoorState.OPEN, at(0)), at(0))
    e.tick(at(60))
    assert only(e.tick(at(659)), "door.held_open") == []
    [d] = only(e.tick(at(660)), "door.held_open")
    assert (d.change, d.severity) == (Change.ESCALATED, Severity.CRITICAL)


def test_over_capacity_minor_then_major_with_hysteresis() -> None:
    e = engine()
    out = e.on_reading(count("pres2", 0, at(0)), at(0))
    out = e.on_reading(flow("cnt1", 11, 0, at(0)), at(0))
    assert changes(out, "room.over_capacity") == ["pending"]
    out = e.on_reading(flow("cnt1", 0, 1, at(30)), at(30))  # 10: inside the band, still pending
    out += e.on_reading(flow("cnt1", 1, 0, at(60)), at(60))
    out += e.tick(at(119))
    assert changes(out, "room.over_capacity") == []
    [d] = only(e.tick(at(120)), "room.over_capacity")
    assert (d.change, d.severity, d.details) == (
        Change.FIRED,
        Severity.MINOR,
        {"count": 11, "capacity": 10},
    )
    [m] = only(e.on_reading(flow("cnt1", 1, 0, at(130)), at(130)), "room.over_capacity")
    assert (m.change, m.severity) == (Change.ESCALATED, Severity.MAJOR)
    out = e.on_reading(flow("cnt1", 0, 2, at(140)), at(140))  # 10 = capacity: hold, firing
    out += e.tick(at(400))
    assert [d.change for d in only(out, "room.over_capacity")] == [Change.UPDATED]
    out = e.on_reading(flow("cnt1", 0, 1, at(410)), at(410))  # 9 ≤ 95 %: clearing
    out += e.tick(at(469))
    assert changes(out, "room.over_capacity") == []
    assert changes(e.tick(at(470)), "room.over_capacity") == ["resolved"]


def test_over_capacity_by_floor_area_and_load_factor() -> None:
    e = engine(r2=20)  # 65 m² / 3.25 m² per person
    e.on_reading(count("pres2", 21, at(0)), at(0))
    [d] = only(e.tick(at(120)), "room.over_capacity")
    assert d.details["capacity"] == 20


def test_after_hours_entry_at_night_not_in_the_day() -> None:
    night = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, Monday
    e = engine(start=night)
    [d] = only(e.on_reading(door("door1", DoorState.OPEN, night), night), "after_hours.entry")
    assert (d.change, d.severity, d.subject) == (Change.FIRED, Severity.WARNING, "s1/r1")
    assert "非开放时间" in d.message.zh
    day = engine()
    assert (
        only(day.on_reading(door("door1", DoorState.OPEN, at(0)), at(0)), "after_hours.entry") == []
    )


def test_people_left_inside_at_closing_raise_after_hours_after_the_grace() -> None:
    closing = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai
    e = engine(start=closing)
    e.on_reading(count("pres2", 2, closing), closing)
    assert only(e.tick(datetime(2026, 1, 5, 10, 14, tzinfo=UTC)), "after_hours.entry") == []
    [d] = only(e.tick(datetime(2026, 1, 5, 10, 15, tzinfo=UTC)), "after_hours.entry")
    assert d.details["count"] == 2
    assert d.room == "r2"


def test_counter_counts_reset_to_zero_at_03_00_local_and_report_the_drift() -> None:
    """T0 is 10:00 in Shanghai: the next reset is 17 h later. Presence counts are absolute and
    are left alone."""
    e = engine()
    e.on_reading(flow("cnt1", 7, 2, at(0)), at(0))
    e.on_reading(count("pres2", 3, at(0)), at(0))
    e.tick(at(60))
    assert e.occupancy("s1") == {"r1": 5, "r2": 3}
    e.tick(at(17 * 3600 - 1))
    assert e.occupancy("s1")["r1"] == 5
    e.tick(at(17 * 3600 + 5))
    assert e.occupancy("s1") == {"r1": 0, "r2": 3}
    assert e.drift_corrections("s1") == {"r1": (at(17 * 3600), 5)}
    # Once a day: counting goes on from zero until the next 03:00.
    e.on_reading(flow("cnt1", 2, 0, at(17 * 3600 + 60)), at(17 * 3600 + 60))
    e.tick(at(17 * 3600 + 3600))
    assert e.occupancy("s1")["r1"] == 2
    e.tick(at(41 * 3600))
    assert e.occupancy("s1")["r1"] == 0
    assert e.drift_corrections("s1") == {"r1": (at(41 * 3600), 2)}


def test_no_counter_reset_during_a_smoke_alarm_and_none_repeated_after_a_restore() -> None:
    e = engine()
    e.on_reading(flow("cnt1", 4, 0, at(0)), at(0))
    e.on_reading(smoke("smk1", SmokeState.ALARM, at(17 * 3600 - 30)), at(17 * 3600 - 30))
    e.tick(at(17 * 3600 + 10))
    assert e.occupancy("s1")["r1"] == 4, "an evacuation is being measured"
    e.on_reading(smoke("smk1", SmokeState.NORMAL, at(17 * 3600 + 60)), at(17 * 3600 + 60))
    e.tick(at(17 * 3600 + 120))
    assert e.occupancy("s1")["r1"] == 4, "not at an arbitrary hour after the alarm"
    snap = e.snapshot(at(17 * 3600 + 120))
    again = engine()
    again.restore(type(snap).model_validate_json(snap.model_dump_json()), at(17 * 3600 + 130))
    again.tick(at(17 * 3600 + 140))
    assert again.occupancy("s1")["r1"] == 4
    again.tick(at(41 * 3600))
    assert again.occupancy("s1")["r1"] == 0
