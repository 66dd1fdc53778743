"""The canteen over capacity at lunch, and a gateway that loses its uplink for an hour."""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware_sims import builtin
from tests.scenarios.conftest import STEP, RunFactory, wait_for

WEDNESDAY_1115 = datetime.fromisoformat("2026-01-07T11:15:00+08:00")
WEDNESDAY_10 = datetime.fromisoformat("2026-01-07T10:00:00+08:00")


def test_lunch_over_capacity_raises_room_over_capacity_after_120_s(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(WEDNESDAY_1115)
    scenario = builtin("lunch_over_capacity", run.fleet, start=WEDNESDAY_1115)
    [expect] = scenario.expect
    crowd_at = WEDNESDAY_1115 + scenario.steps[0].at
    assert expect.within is not None
    run.play(scenario, until=WEDNESDAY_1115 + expect.within)

    [alert] = run.alerts_of("room.over_capacity", expect.subject)
    assert alert["state"] == "firing", alert
    assert alert["details"]["count"] > alert["details"]["capacity"]
    # Above capacity for 120 s (the national rule; Hangzhou keeps it), after the crowd arrived.
    fired = datetime.fromisoformat(alert["fired_at"])
    since = datetime.fromisoformat(alert["since"])
    assert since >= crowd_at
    assert fired - since >= timedelta(seconds=120) - STEP


def test_gateway_uplink_loss_1h_goes_offline_and_loses_nothing(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(WEDNESDAY_10)
    scenario = builtin("gateway_uplink_loss_1h", run.fleet, start=WEDNESDAY_10)
    offline = next(e for e in scenario.expect if e.rule == "gateway.offline")
    gateway = offline.subject
    assert gateway is not None
    lost_at = WEDNESDAY_10 + scenario.steps[0].at
    run.play(scenario, until=lost_at + timedelta(minutes=5))
    wait_for(
        lambda: [a["state"] for a in run.alerts_of("gateway.offline", gateway)] == ["firing"],
        10,
        "gateway.offline firing during the outage",
    )

    run.advance(WEDNESDAY_10 + scenario.run_for)
    [alert] = run.alerts_of("gateway.offline", gateway)
    assert alert["state"] == "resolved"

    published = run.sink.ids[gateway]
    assert len(published) == len(set(published))
    devices = {d["device"]["id"] for d in run.get("/devices", gateway=gateway)["items"]}
    assert devices
    stored = [
        r["id"]
        for device in sorted(devices)
        for r in run.readings(device, WEDNESDAY_10 - timedelta(minutes=1), run.clock.now() + STEP)
    ]
    assert len(stored) == len(set(stored)), "a reading stored twice"
    assert sorted(stored) == sorted(published)
    # The hour's readings came back in the catch-up.
    during = [
        r
        for device in sorted(devices)
        for r in run.readings(
            device, lost_at + timedelta(minutes=1), lost_at + timedelta(minutes=59)
        )
    ]
    assert during
