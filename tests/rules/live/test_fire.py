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
    assert changes(out, "evacuation.incomplete") == ["updated", "resolved"]
