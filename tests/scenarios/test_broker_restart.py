"""The broker restarts under a running fleet and server: nothing is lost, nothing doubled."""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware_sims import builtin
from tests.scenarios.conftest import STEP, RunFactory
from tests.services import Mosquitto

WEDNESDAY_10 = datetime.fromisoformat("2026-01-07T10:00:00+08:00")


def test_broker_restart_loses_nothing_and_stores_every_reading_exactly_once(
    own_mosquitto: Mosquitto, scenario_run: RunFactory
) -> None:
    # own_mosquitto comes first: fixtures are torn down in reverse, and the fleet and server
    # must stop while their broker is still there.
    restarts: list[datetime] = []

    def restart() -> None:
        own_mosquitto.restart()
        restarts.append(run.clock.now())

    run = scenario_run(WEDNESDAY_10, broker=own_mosquitto, restart_broker=restart)
    scenario = builtin("broker_restart", run.fleet, start=WEDNESDAY_10)
    [expect] = scenario.expect
    assert expect.rule == "no_loss"
    assert expect.within is not None
    run.play(scenario, until=WEDNESDAY_10 + expect.within)

    assert restarts == [WEDNESDAY_10 + scenario.steps[0].at], "the broker restarted once"
    # Readings before and after the restart, on every gateway.
    for gateway, ids in run.sink.ids.items():
        assert len(ids) == len(set(ids)), f"{gateway} published an id twice"
    published = sorted(i for ids in run.sink.ids.values() for i in ids)
    assert published
    devices = sorted(d["device"]["id"] for d in run.get("/devices", site=run.site)["items"])
    rows = [
        r
        for device in devices
        for r in run.readings(device, WEDNESDAY_10 - timedelta(minutes=1), run.clock.now() + STEP)
    ]
    stored = sorted(r["id"] for r in rows)
    assert len(stored) == len(set(stored)), "a reading stored twice"
    assert stored == published, "readings lost or invented across the restart"
    assert any(datetime.fromisoformat(r["ts"]) > restarts[0] for r in rows)
    # Every gateway is online again, with a status sent after the restart.
    gateways = {g["id"]: g for g in run.get("/gateways", site=run.site)}
    for gateway in run.sink.ids:
        assert gateways[gateway]["state"] == "online", gateways[gateway]
        assert datetime.fromisoformat(gateways[gateway]["status_ts"]) > restarts[0]
