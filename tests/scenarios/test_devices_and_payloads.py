"""A detector gone silent, hostile payloads and a gateway with a skewed clock."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from firmware_sims import builtin
from tests.scenarios.conftest import STEP, RunFactory

WEDNESDAY_10 = datetime.fromisoformat("2026-01-07T10:00:00+08:00")


def test_detector_silent_raises_device_silent_after_three_intervals(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(WEDNESDAY_10)
    scenario = builtin("detector_silent", run.fleet, start=WEDNESDAY_10)
    [expect] = scenario.expect
    assert expect.subject is not None
    assert expect.within is not None
    run.play(scenario, until=WEDNESDAY_10 + expect.within)

    [alert] = run.alerts_of("device.silent", expect.subject)
    assert alert["severity"] == "major"
    assert alert["state"] == "firing"
    last = run.readings(
        expect.subject, WEDNESDAY_10 - timedelta(hours=1), WEDNESDAY_10 + expect.within
    )
    assert last, "the detector reported before it went silent"
    last_ts = datetime.fromisoformat(last[-1]["ts"])
    assert last_ts <= WEDNESDAY_10 + scenario.steps[0].at
    # 3 × its 300 s reporting interval after its last message, seen on the next step.
    window = timedelta(seconds=3 * 300)
    fired = datetime.fromisoformat(alert["fired_at"])
    assert last_ts + window <= fired <= last_ts + window + STEP


def test_hostile_payloads_dead_lettered_by_code_and_good_readings_still_stored(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(WEDNESDAY_10)
    run.by_messages = True
    scenario = builtin("hostile_payloads", run.fleet, start=WEDNESDAY_10)
    expected = Counter(str(e.value) for e in scenario.expect)
    assert sum(expected.values()) == 18
    run.play(scenario, until=WEDNESDAY_10 + timedelta(minutes=2))

    assert run.sink.raw == 18
    assert Counter(run.get("/dead-letters/reasons")) == expected
    page = run.get("/dead-letters", limit=100)
    assert page["total"] == 18
    # The consumer kept going: every valid reading of the fleet is stored, before and after.
    assert run.consumed() == run.sink.readings
    assert int(run.state.metrics.get("stored")) == run.sink.readings
    after = [
        r
        for d in ("hz-cnt-101", "hz-cnt-201")
        for r in run.readings(
            d, WEDNESDAY_10 + timedelta(minutes=1), WEDNESDAY_10 + timedelta(minutes=2)
        )
    ]
    assert after, "readings published after the hostile payloads are stored"


def test_skewed_gateway_clock_dead_lettered_as_timestamp_out_of_bounds(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(WEDNESDAY_10)
    run.by_messages = True
    scenario = builtin("skewed_gateway_clock", run.fleet, start=WEDNESDAY_10)
    [expect] = scenario.expect
    skew_at = WEDNESDAY_10 + scenario.steps[0].at
    run.play(scenario, until=skew_at + timedelta(minutes=3))

    reasons = run.get("/dead-letters/reasons")
    assert set(reasons) == {expect.value}, reasons
    page = run.get("/dead-letters", reason="timestamp_out_of_bounds", limit=100)
    assert page["total"] > 0
    gateway = expect.subject
    for letter in page["items"]:
        assert f"/{gateway}/" in letter["topic"]
    # Its devices' latest state is not corrupted by the future: nothing stored from after the skew.
    latest = [r for r in run.get("/latest") if r["gateway"] == gateway]
    assert latest
    assert all(datetime.fromisoformat(r["ts"]) <= skew_at for r in latest)
