"""smoke.alarm, evacuation.incomplete and door.not_released driven by hand-built sequences."""

from __future__ import annotations

from protocol import DoorRole, DoorState, SmokeState
from rules.live import Change, DecisionState, Severity
from tests.rules.live.factories import at, changes, count, door, engine, flow, only, smoke


def test_smoke_alarm_fires_critical_at_once_with_the_room_count() -> None:
    e = engine()
    e.on_reading(count("pres2", 3, at(0)), at(0))
    out = e.on_reading(smoke("smk3", SmokeState.ALARM, at(5)), at(5))
    [d] = only(out, "smoke.alarm")
    assert (d.state, d.change, d.severity) == (
        DecisionState.FIRING,
        Change.FIRED,
        Severity.CRITICAL,
    )
    assert d.subject == "s1/r2"
    assert d.room == "r2"
    assert d.details["count"] == 3
    assert d.details["devices"] == ["smk3"]
    assert "托育室" in d.message.zh
    assert "Infant room" in d.message.en


def test_a_detector_test_is_never_a_fire_alarm() -> None:
    e = engine()
    out = e.on_reading(smoke("smk1", SmokeState.TEST, at(0)), at(0))
    out += e.tick(at(30))
    assert only(out, "smoke.alarm") == []
    assert only(out, "door.not_released") == []


def test_two_detectors_in_one_room_are_one_alert() -> None:
    e = engine()
    out = e.on_reading(smoke("smk1", SmokeState.ALARM, at(0)), at(0))
    out += e.on_reading(smoke("smk2", SmokeState.ALARM, at(2)), at(2))
    assert changes(out, "smoke.alarm") == ["fired", "updated"]
    assert out[-1].details["devices"] == ["smk1", "smk2"]


def test_flapping_detector_keeps_one_occurrence_and_resolves_after_keep_firing_for() -> None:
    e = engine()
    out = []
    for i in range(5):  # alarm / normal every 10 s, for 100 s
        out += e.on_reading(smoke("smk1", SmokeState.ALARM, at(20 * i)), at(20 * i))
        out += e.on_reading(smoke("smk1", SmokeState.NORMAL, at(20 * i + 10)), at(20 * i + 10))
    out += e.tick(at(149))
    assert changes(out, "smoke.alarm") == ["fired"]
    out = e.tick(at(150))  # 60 s (keep_firing_for) after the last normal at 90 s
    assert changes(out, "smoke.alarm") == ["resolved"]


def test_evacuation_incomplete_after_180_s_with_the_count_then_time_measured() -> None:
    e = engine()
    e.on_reading(count("pres2", 6, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(10)), at(10))
    assert only(e.tick(at(189)), "evacuation.incomplete") == []
    [d] = only(e.tick(at(190)), "evacuation.incomplete")
    assert (d.change, d.severity, d.details["count"]) == (Change.FIRED, Severity.CRITICAL, 6)
    assert d.details["count_at_alarm"] == 6
    assert "6 人" in d.message.zh
    assert "6 people" in d.message.en
    [u] = only(e.on_reading(count("pres2", 2, at(200)), at(200)), "evacuation.incomplete")
    assert (u.change, u.details["count"]) == (Change.UPDATED, 2)
    out = e.on_reading(count("pres2", 0, at(250)), at(250))
    [r] = only(out, "evacuation.incomplete")
    assert r.change is Change.RESOLVED
    assert r.details["evacuation_s"] == 240
    assert e.evacuation_s("s1", "r2") == 240
    [s] = only(out, "smoke.alarm")
    assert s.change is Change.UPDATED
    assert s.details["evacuation_s"] == 240


def test_evacuation_within_time_raises_nothing_but_is_measured() -> None:
    e = engine()
    e.on_reading(count("pres2", 4, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(0)), at(0))
    e.on_reading(count("pres2", 0, at(95)), at(95))
    assert only(e.tick(at(400)), "evacuation.incomplete") == []
    assert e.evacuation_s("s1", "r2") == 95


def test_evacuation_ends_when_the_alarm_is_reset() -> None:
    e = engine()
    e.on_reading(count("pres2", 4, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(0)), at(0))
    assert changes(e.tick(at(180)), "evacuation.incomplete") == ["fired"]
    out = e.on_reading(smoke("smk3", SmokeState.NORMAL, at(300)), at(300))
    assert changes(out, "evacuation.incomplete") == ["resolved"]


def test_fire_door_not_released_during_alarm() -> None:
    e = engine()
    e.on_reading(door("door2", DoorState.OPEN, at(0), DoorRole.FIRE_DOOR_HOLD_OPEN), at(0))
    out = e.on_reading(smoke("smk1", SmokeState.ALARM, at(100)), at(100))
    assert changes(out, "door.not_released") == ["pending"]
    assert changes(e.tick(at(109)), "door.not_released") == []
    [d] = only(e.tick(at(110)), "door.not_released")
    assert (d.change, d.severity, d.subject) == (Change.FIRED, Severity.CRITICAL, "s1/door2")
    out = e.on_reading(
        door("door2", DoorState.CLOSED, at(115), DoorRole.FIRE_DOOR_HOLD_OPEN), at(115)
    )
    assert changes(out, "door.not_released") == ["resolved"]


def test_door_released_in_time_is_only_pending_then_cancelled() -> None:
    e = engine()
    e.on_reading(door("door2", DoorState.OPEN, at(0), DoorRole.FIRE_DOOR_HOLD_OPEN), at(0))
    out = e.on_reading(smoke("smk1", SmokeState.ALARM, at(100)), at(100))
    out += e.on_reading(
        door("door2", DoorState.CLOSED, at(104), DoorRole.FIRE_DOOR_HOLD_OPEN), at(104)
    )
    out += e.tick(at(200))
    assert changes(out, "door.not_released") == ["pending", "cancelled"]


def test_an_alarm_and_its_reset_in_one_batch_still_fire() -> None:
    e = engine()
    batch = [smoke("smk1", SmokeState.ALARM, at(0)), smoke("smk1", SmokeState.NORMAL, at(1))]
    assert changes(e.on_readings(batch, at(2)), "smoke.alarm") == ["fired"]


def test_occupancy_in_a_batch_is_evaluated_once_with_the_final_count() -> None:
    e = engine()
    e.on_reading(count("pres2", 2, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(0)), at(0))
    e.tick(at(180))
    out = e.on_readings([flow("cnt1", 3, 0, at(181)), count("pres2", 1, at(181))], at(181))
    out += e.on_readings([count("pres2", 0, at(182)), count("pres2", 0, at(183))], at(183))
    evac = only(out, "evacuation.incomplete")
    assert [d.change for d in evac if d.subject == "s1/r2"] == ["updated", "resolved"]
    # The three who walked into r1 after the alarm are in the burning site too.
    assert [(d.change, d.details["count"]) for d in evac if d.subject == "s1/r1"] == [
        (Change.FIRED, 3)
    ]


def test_an_alarm_starts_the_evacuation_clock_of_every_room_of_the_site() -> None:
    """The registry has no zones, so an alarm's zone is the whole site: people left in r1 are
    flagged although the detector in alarm is in r2."""
    e = engine()
    e.on_reading(flow("cnt1", 5, 0, at(0)), at(0))
    e.on_reading(count("pres2", 2, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(10)), at(10))
    e.on_reading(count("pres2", 0, at(60)), at(60))
    assert only(e.tick(at(189)), "evacuation.incomplete") == []
    [d] = only(e.tick(at(190)), "evacuation.incomplete")
    assert (d.change, d.subject, d.room) == (Change.FIRED, "s1/r1", "r1")
    assert (d.details["count"], d.details["count_at_alarm"]) == (5, 5)
    assert "5 people still in Day-care room" in d.message.en
    assert "仍有 5 人" in d.message.zh
    out = e.on_reading(flow("cnt1", 0, 5, at(250)), at(250))
    [r] = only(out, "evacuation.incomplete")
    assert (r.change, r.subject, r.details["evacuation_s"]) == (Change.RESOLVED, "s1/r1", 240)
    assert e.evacuation_s("s1", "r1") == 240
    assert e.evacuation_s("s1", "r2") == 50
    # The alarm carries its own room's time and the zone's (alarm to last room empty).
    [s] = only(out, "smoke.alarm")
    assert (s.details["evacuation_s"], s.details["zone_evacuation_s"]) == (50, 240)


def test_a_second_detector_in_another_room_does_not_restart_the_zone_clock() -> None:
    e = engine()
    e.on_reading(flow("cnt1", 3, 0, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(0)), at(0))
    e.on_reading(smoke("smk1", SmokeState.ALARM, at(100)), at(100))
    [d] = only(e.tick(at(180)), "evacuation.incomplete")
    assert (d.change, d.subject) == (Change.FIRED, "s1/r1")
    assert d.details["alarm_at"] == at(0).isoformat()


def test_rooms_empty_at_the_alarm_are_evacuated_at_once_and_never_flagged() -> None:
    e = engine()
    e.on_reading(count("pres2", 2, at(0)), at(0))
    out = e.on_reading(smoke("smk3", SmokeState.ALARM, at(0)), at(0))
    [s] = only(out, "smoke.alarm")
    assert s.details["zone_evacuation_s"] is None  # r2 is not empty yet
    assert e.evacuation_s("s1", "r1") == 0
    assert only(e.tick(at(600)), "evacuation.incomplete") != []  # r2 only
    assert {d.subject for d in only(e.tick(at(601)), "evacuation.incomplete")} <= {"s1/r2"}


def test_the_clear_ends_every_room_it_started_consistently() -> None:
    """When the alarm clears, every open evacuation.incomplete resolves; people still walking
    out are measured up to 15 min after the alarm, in every room alike, and a room emptied
    later (closing time) is not an evacuation."""
    e = engine()
    e.on_reading(flow("cnt1", 4, 0, at(0)), at(0))
    e.on_reading(count("pres2", 3, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(0)), at(0))
    fired = only(e.tick(at(180)), "evacuation.incomplete")
    assert sorted(d.subject for d in fired) == ["s1/r1", "s1/r2"]
    out = e.on_reading(smoke("smk3", SmokeState.NORMAL, at(300)), at(300))
    resolved = only(out, "evacuation.incomplete")
    assert sorted((d.subject, d.change) for d in resolved) == [
        ("s1/r1", Change.RESOLVED),
        ("s1/r2", Change.RESOLVED),
    ]
    assert all(d.details["evacuation_s"] is None for d in resolved)
    e.on_reading(count("pres2", 0, at(400)), at(400))
    assert e.evacuation_s("s1", "r2") == 400
    e.on_reading(flow("cnt1", 0, 4, at(3600)), at(3600))
    assert e.evacuation_s("s1", "r1") is None
    assert only(e.tick(at(4000)), "evacuation.incomplete") == []
    # The next alarm measures afresh, in every room.
    e.on_reading(flow("cnt1", 2, 0, at(5000)), at(5000))
    e.on_reading(smoke("smk1", SmokeState.ALARM, at(5010)), at(5010))
    e.on_reading(flow("cnt1", 0, 2, at(5100)), at(5100))
    assert e.evacuation_s("s1", "r1") == 90
    assert e.evacuation_s("s1", "r2") == 0


def test_a_drill_alarm_that_clears_early_still_measures_the_room_emptied_after() -> None:
    e = engine()
    e.on_reading(flow("cnt1", 30, 0, at(0)), at(0))
    out = e.on_reading(smoke("smk1", SmokeState.ALARM, at(0)), at(0))
    e.on_reading(smoke("smk1", SmokeState.NORMAL, at(60)), at(60))
    e.on_reading(flow("cnt1", 0, 30, at(140)), at(140))
    assert e.evacuation_s("s1", "r1") == 140
    out = e.tick(at(200))
    [s] = only(out, "smoke.alarm")
    assert s.change is Change.RESOLVED
    assert (s.details["evacuation_s"], s.details["zone_evacuation_s"]) == (140, 140)


def test_the_zone_clock_survives_a_snapshot_and_restore() -> None:
    e = engine()
    e.on_reading(flow("cnt1", 2, 0, at(0)), at(0))
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(0)), at(0))
    snap = e.snapshot(at(60))
    again = engine()
    again.restore(type(snap).model_validate_json(snap.model_dump_json()), at(70))
    [d] = only(again.tick(at(180)), "evacuation.incomplete")
    assert d.subject == "s1/r1"


def test_smoke_alarm_waits_for_the_evacuation_at_most_15_min_after_the_alarm() -> None:
    e = engine()
    e.on_reading(flow("cnt1", 30, 0, at(0)), at(0))
    e.on_reading(smoke("smk1", SmokeState.ALARM, at(0)), at(0))
    e.on_reading(smoke("smk1", SmokeState.NORMAL, at(60)), at(60))
    assert changes(e.tick(at(899)), "smoke.alarm") == []
    e.tick(at(900))  # the window is over: the clear starts, then keep_firing_for (60 s)
    [r] = only(e.tick(at(960)), "smoke.alarm")
    assert r.change is Change.RESOLVED
    assert (r.details["count"], r.details["evacuation_s"]) == (30, None)
    assert r.details["devices"] == ["smk1"]


def test_a_count_from_before_the_alarm_delivered_after_it_still_counts() -> None:
    # Alarms travel on their own lane (the edge outbox, the server's alarm session) and can
    # overtake telemetry taken before them.
    e = engine()
    e.on_reading(smoke("smk3", SmokeState.ALARM, at(5)), at(5))
    assert e.evacuation_s("s1", "r2") == 0
    e.on_reading(count("pres2", 3, at(0)), at(6))
    assert e.evacuation_s("s1", "r2") is None
    e.on_reading(count("pres2", 0, at(45)), at(45))
    assert e.evacuation_s("s1", "r2") == 40
