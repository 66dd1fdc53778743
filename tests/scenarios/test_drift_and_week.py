"""A door counter that misses exits, and a normal week, through the real system."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from firmware_sims import builtin
from firmware_sims.scenarios import DriftCounter
from tests.scenarios.conftest import RunFactory

WEDNESDAY_0330 = datetime.fromisoformat("2026-01-07T03:30:00+08:00")
# Quiet-enough steps for a day-long run: the fleet still moves on its 10 s grid, the server gets
# each ten minutes' readings at once; no rule of these scenarios needs finer timing.
LONG_STEP = timedelta(minutes=10)
# The drifting counter's room only (the builtin picks the centre's first counter, in the elderly
# day care), on a one-minute grid: the counter reports once a minute anyway.
DRIFT_ROOMS = ("eld-101",)
LONG_GRID = timedelta(minutes=1)


def test_drifting_counter_drifts_by_evening_and_the_03_00_reset_corrects_it(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(WEDNESDAY_0330, rooms=DRIFT_ROOMS, max_step=LONG_GRID)
    scenario = builtin("drifting_counter", run.fleet, start=WEDNESDAY_0330)
    [expect] = scenario.expect
    [drift] = scenario.steps
    assert isinstance(drift, DriftCounter)
    room = expect.subject
    assert room is not None
    assert expect.within is not None
    tz = WEDNESDAY_0330.tzinfo
    evening = datetime.combine(WEDNESDAY_0330.date(), time(23, 0), tz)
    run.play(scenario, until=evening, step=LONG_STEP)

    # The room is empty at 23:00; the count from entries − exits is not.
    assert run.fleet.occupancy()[(run.site, room)] == 0
    drifted = run.state.alert_pipeline.engine.occupancy(run.site)[room]
    assert drifted > 0, "the counter's missed exits left people in the count"

    reset = datetime.combine(WEDNESDAY_0330.date() + timedelta(days=1), time(3, 0), tz)
    run.advance(reset - LONG_STEP, step=LONG_STEP)
    engine = run.state.alert_pipeline.engine
    drift_at_reset = engine.occupancy(run.site)[room]
    assert drift_at_reset >= drifted
    run.advance(WEDNESDAY_0330 + expect.within, step=LONG_STEP)

    # The live count went back to zero at 03:00 and says what it removed ...
    assert engine.drift_corrections(run.site)[room] == (reset, drift_at_reset)
    # ... and so does the utilization report, from the stored counter readings.
    report = run.get(
        f"/sites/{run.site}/utilization",
        start=WEDNESDAY_0330.isoformat(),
        end=run.clock.now().isoformat(),
    )
    [found] = [d for d in report["drift"] if d["room"] == room]
    [correction] = [c for c in found["corrections"] if c["reason"] == "daily_reset"]
    assert datetime.fromisoformat(correction["at"]) == reset
    assert correction["before"] == drift_at_reset
    assert (correction["after"], correction["amount"]) == (0, -drift_at_reset)


MONDAY_0 = datetime.fromisoformat("2026-01-05T00:00:00+08:00")
# A week in hour-long steps, the fleet on a one-minute grid (door counters report once a minute
# anyway), and one room of the centre: the elderly day care (busy on weekdays, two detectors).
# No rule of a quiet week needs finer timing, and this keeps the week to ~10,000 messages.
WEEK_STEP = timedelta(hours=1)
WEEK_GRID = timedelta(minutes=1)
WEEK_ROOMS = ("eld-101",)


def test_normal_week_self_tests_recorded_no_alarm_and_occupancy_every_day(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(MONDAY_0, rooms=WEEK_ROOMS, max_step=WEEK_GRID)
    scenario = builtin("normal_week", run.fleet, start=MONDAY_0)
    assert {e.rule for e in scenario.expect} == {"smoke.alarm", "smoke.functional"}
    # Ten minutes into the next Monday, so that Sunday is a whole past day.
    end = MONDAY_0 + scenario.run_for + timedelta(minutes=10)
    run.play(scenario, until=end, step=WEEK_STEP)

    # No smoke alarm, and nothing critical, all week. (Hour-long steps deliver an hour of
    # readings at the hour's end: a gateway heartbeat processed before its devices' readings
    # shows them silent for that instant, so device.silent may fire and resolve within one
    # step; nothing may be left silent or offline at the end.)
    alerts = run.alerts()
    assert run.alerts(rule="smoke.alarm") == []
    assert [a for a in alerts if a["severity"] == "critical"] == []
    still = [
        (a["rule"], a["subject"])
        for a in alerts
        if a["state"] == "firing" and a["rule"] in {"device.silent", "gateway.offline"}
    ]
    assert still == []

    # Every smoke detector's weekly self-test is in the inspection log as a test, once.
    detectors = {
        d["device"]["id"]
        for d in run.get("/devices", site=run.site)["items"]
        if d["device"]["kind"] == "smoke"
    }
    assert detectors
    entries = run.get(
        f"/inspection-log/{run.site}/entries", category="test_mode_alarm", limit=1000
    )["entries"]
    tested = sorted(e["payload"]["device"] for e in entries)
    assert tested == sorted(detectors)

    # The scheduled rollup job fills each day: occupancy on every day, weekdays busier.
    run.state.rollups.run()
    rows = run.get(
        f"/sites/{run.site}/utilization/daily",
        first=MONDAY_0.date().isoformat(),
        last=(MONDAY_0.date() + timedelta(days=6)).isoformat(),
    )
    site_days = {r["day"]: r["stats"] for r in rows if r["level"] == "site"}
    assert len(site_days) == 7
    assert all(s["person_hours"] > 0 for s in site_days.values()), site_days
    by_weekday = {date.fromisoformat(d).weekday(): s["person_hours"] for d, s in site_days.items()}
    weekday = sum(by_weekday[d] for d in range(5)) / 5
    weekend = (by_weekday[5] + by_weekday[6]) / 2
    assert weekday > weekend, by_weekday
