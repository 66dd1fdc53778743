from __future__ import annotations

from datetime import timedelta

from firmware_sims import Fleet, GatewayFeed, builtin, published_readings
from protocol import SmokeReading, SmokeState
from tests.firmware_sims.conftest import MONDAY_10, small_registry


def test_a_feed_hands_over_only_its_gateways_readings_the_same_as_the_fleet() -> None:
    feed = GatewayFeed(small_registry(), "s1-gw2", start=MONDAY_10, seed=5)
    fleet = Fleet(small_registry(), start=MONDAY_10, seed=5)
    got = []
    for minute in range(1, 31):
        got += feed.poll(MONDAY_10 + timedelta(minutes=minute))
    expected = published_readings(fleet.advance(MONDAY_10 + timedelta(minutes=30)), "s1-gw2")
    assert {r.device for r in got} == set(feed.devices) == {"s1-smk-inf", "s1-fd-inf", "s1-pre-inf"}
    assert [r.model_dump() for r in got] == [r.model_dump() for r in expected]


def test_a_feed_runs_device_scenarios_and_self_test_commands() -> None:
    feed = GatewayFeed(small_registry(), "s1-gw2", start=MONDAY_10, seed=5)
    feed.schedule(builtin("door_propped_open", feed.fleet))
    assert feed.self_test("s1-smk-inf")
    assert not feed.self_test("s1-smk-eld")  # another gateway's detector
    readings = feed.poll(MONDAY_10 + timedelta(minutes=2))
    states = [r.state for r in readings if isinstance(r, SmokeReading)]
    assert SmokeState.TEST in states
    assert any(r.device == "s1-fd-inf" and r.kind == "door" for r in readings)
