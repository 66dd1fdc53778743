"""device.silent, gateway.offline and device.fault."""

from __future__ import annotations

from protocol import DoorState, GatewayState, SmokeState
from rules.live import Change, EngineSnapshot, Severity
from tests.rules.live.factories import at, changes, door, engine, flow, health, only, smoke, status


def _silent(decisions: list, device: str) -> list:  # type: ignore[type-arg]
    return [d for d in only(decisions, "device.silent") if d.device == device]


def test_smoke_detector_silent_for_3_intervals_is_major_counter_minor() -> None:
    e = engine()
    e.on_status(status(GatewayState.ONLINE), at(0))
    for t in range(0, 1000, 50):  # the gateway keeps its heartbeat
        e.on_status(status(GatewayState.ONLINE), at(t))
    e.on_reading(smoke("smk1", SmokeState.NORMAL, at(100)), at(100))
    assert _silent(e.tick(at(180)), "cnt1") == []
    [c] = _silent(e.tick(at(181)), "cnt1")  # longer than 3 x 60 s
    assert (c.change, c.severity) == (Change.FIRED, Severity.MINOR)
    assert _silent(e.tick(at(1000)), "smk1") == []
    [s] = _silent(e.tick(at(1001)), "smk1")  # 3 x 300 s after its message at 100 s
    assert (s.change, s.severity) == (Change.FIRED, Severity.MAJOR)
    out = e.on_reading(smoke("smk1", SmokeState.NORMAL, at(1002)), at(1002))
    assert [d.change for d in _silent(out, "smk1")] == [Change.RESOLVED]


def test_devices_behind_an_offline_gateway_raise_one_gateway_alert() -> None:
    e = engine()
    out = e.on_status(status(GatewayState.OFFLINE), at(10))  # the Last Will
    [g] = only(out, "gateway.offline")
    assert (g.change, g.severity, g.details["reason"]) == (
        Change.FIRED,
        Severity.MAJOR,
        "last_will",
    )
    assert only(e.tick(at(2000)), "device.silent") == []
    out = e.on_status(status(GatewayState.ONLINE), at(2001))
    assert changes(out, "gateway.offline") == ["resolved"]


def test_gateway_offline_by_missed_heartbeats() -> None:
    e = engine()
    e.on_status(status(GatewayState.ONLINE), at(0))
    assert only(e.tick(at(180)), "gateway.offline") == []
    [g] = only(e.tick(at(181)), "gateway.offline")
    assert g.details["reason"] == "missed_heartbeat"
    assert changes(e.on_reading(flow("cnt1", 1, 0, at(190)), at(190)), "gateway.offline") == [
        "resolved"
    ]


def test_server_downtime_is_not_device_silence() -> None:
    e = engine()
    e.on_status(status(GatewayState.ONLINE), at(0))
    e.on_reading(flow("cnt1", 1, 0, at(100)), at(100))
    snap = EngineSnapshot.model_validate_json(e.snapshot(at(120)).model_dump_json())
    fresh = engine()
    fresh.restore(snap, at(1120))  # down for 1000 s
    assert _silent(fresh.tick(at(1120)), "cnt1") == []
    assert only(fresh.tick(at(1120)), "gateway.offline") == []
    fresh.on_status(status(GatewayState.ONLINE), at(1250))
    assert _silent(fresh.tick(at(1280)), "cnt1") == []  # its message at 100 s + 1000 s down + 180
    assert len(_silent(fresh.tick(at(1281)), "cnt1")) == 1


def test_device_faults_minor_and_major_and_their_clearing() -> None:
    e = engine()
    [b] = only(e.on_reading(health("smk1", at(0), battery_low=True), at(0)), "device.fault")
    assert (b.change, b.severity, b.details["faults"]) == (
        Change.FIRED,
        Severity.MINOR,
        ["battery_low"],
    )
    assert "电量低" in b.message.zh
    [t] = only(e.on_reading(health("smk1", at(5), tamper=True), at(5)), "device.fault")
    assert (t.change, t.severity) == (Change.ESCALATED, Severity.MAJOR)
    out = e.on_reading(health("smk1", at(9), battery_low=False, tamper=False), at(9))
    assert changes(out, "device.fault") == ["resolved"]


def test_detector_trouble_and_door_fault_are_major_faults_not_alarms() -> None:
    e = engine()
    out = e.on_reading(smoke("smk2", SmokeState.FAULT, at(0)), at(0))
    out += e.on_reading(door("door1", DoorState.CLOSED, at(0), fault=True), at(0))
    assert only(out, "smoke.alarm") == []
    faults = only(out, "device.fault")
    assert {(d.device, d.severity) for d in faults} == {
        ("smk2", Severity.MAJOR),
        ("door1", Severity.MAJOR),
    }


def test_replayed_reading_ids_are_counted_once() -> None:
    e = engine()
    e.on_reading(flow("cnt1", 5, 0, at(0), rid="same"), at(0))
    e.on_reading(flow("cnt1", 5, 0, at(0), rid="same"), at(1))
    assert e.occupancy("s1")["r1"] == 5
    assert e.duplicates == 1


def test_unknown_devices_are_ignored_and_counted() -> None:
    e = engine()
    assert e.on_reading(smoke("nobody", SmokeState.ALARM, at(0)), at(0)) == []
    assert e.ignored == 1


def test_alerts_of_a_removed_site_resolve() -> None:
    e = engine()
    e.on_reading(smoke("smk1", SmokeState.ALARM, at(0)), at(0))
    out = e.set_sites([], at(10))
    assert [(d.rule, d.change) for d in out] == [("smoke.alarm", Change.RESOLVED)]
    assert e.active() == []
