"""Fire scenarios: a drill (alarm, doors released, rooms empty, evacuation time recorded) and a
real fire with one room slow to empty."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from firmware_sims import Fleet, Scenario, builtin
from firmware_sims.events import Publish
from firmware_sims.scenarios import Fire, SlowRoom
from protocol import OccupancyReading, SmokeReading, SmokeState
from rules.facility import parse_registry
from rules.live import EvacuationIncomplete
from tests.scenarios.conftest import STEP, Run, RunFactory, site_registry_text

WEDNESDAY_10 = datetime.fromisoformat("2026-01-07T10:00:00+08:00")
# Hold-open doors report closed in the same step as the alarm; the rule allows 10 s.
RELEASE = timedelta(seconds=10)
# Counters report every 10 s during an evacuation: the measured time may lag the truth by that.
COUNTER_EVACUATION_INTERVAL = timedelta(seconds=10)


def test_fire_drill_alarm_doors_released_rooms_empty_evacuation_time_recorded(
    scenario_run: RunFactory,
) -> None:
    # Exact counters, as the scenario documents: real ones leave a person or two of drift.
    run = scenario_run(WEDNESDAY_10, exact_counters=True)
    scenario = builtin("fire_drill", run.fleet, start=WEDNESDAY_10)
    smoke = next(e for e in scenario.expect if e.rule == "smoke.alarm")
    holds = [e.subject for e in scenario.expect if e.rule == "door.not_released"]
    assert holds, "the demo centre has hold-open fire doors"
    fire = scenario.steps[0]
    assert isinstance(fire, Fire)
    run.play(scenario, until=WEDNESDAY_10 + timedelta(minutes=10))

    [alarm] = run.alerts(rule="smoke.alarm")
    assert alarm["room"] == fire.room
    assert alarm["severity"] == "critical"
    assert smoke.subject in alarm["details"]["devices"] or alarm["device"] == smoke.subject
    fired = datetime.fromisoformat(alarm["fired_at"])
    assert smoke.within is not None
    assert WEDNESDAY_10 + fire.at <= fired <= WEDNESDAY_10 + smoke.within

    # Hold-open doors closed: their last reading says so, no door.not_released ever fired.
    for door in holds:
        assert door is not None
        fired_not_released = [a for a in run.alerts_of("door.not_released", door) if a["fired_at"]]
        assert fired_not_released == [], f"{door} was not released"
        [last] = run.readings(door, fired - timedelta(minutes=1), fired + RELEASE)[-1:]
        assert last["fields"]["state"] == "closed"
        assert datetime.fromisoformat(last["ts"]) <= fired + RELEASE

    # Every room empty, as the live rules count it.
    occupancy = run.state.alert_pipeline.engine.occupancy(run.site)
    assert occupancy, "the server counts occupancy"
    assert set(occupancy.values()) == {0}, occupancy

    # The evacuation time is recorded on the alarm and matches the fleet's ground truth.
    [record] = run.fleet.evacuations(run.site)
    recorded = alarm["details"]["evacuation_s"]
    assert recorded is not None, alarm["details"]
    truth = record.rooms[fire.room]
    assert abs(recorded - truth) <= COUNTER_EVACUATION_INTERVAL.total_seconds()
    assert record.duration_s is not None
    assert alarm["details"]["count"] == 0
    # Alarm to the last room of the site empty, as the scenario documents it.
    zone = alarm["details"]["zone_evacuation_s"]
    assert zone is not None, alarm["details"]
    engine = run.state.alert_pipeline.engine
    measured = {room: engine.evacuation_s(run.site, room) for room in record.rooms}
    assert abs(zone - record.duration_s) <= COUNTER_EVACUATION_INTERVAL.total_seconds(), (
        f"measured {measured}, truth {record.rooms}"
    )

    # A room is flagged as left behind exactly when it took longer than the site's pack
    # allows (an elderly room of ~40 at 20 people/min is close to Hangzhou's 150 s): that is
    # what a drill is for. Within a reporting interval of the limit either outcome is right.
    limit = evacuation_limit_s(run)
    flagged = {a["room"]: a for a in run.alerts(rule="evacuation.incomplete") if a["fired_at"]}
    slack = COUNTER_EVACUATION_INTERVAL.total_seconds()
    for room, seconds in record.rooms.items():
        if seconds > limit + slack:
            assert room in flagged, f"{room} took {seconds:.0f} s (limit {limit:.0f} s)"
            assert flagged[room]["state"] == "resolved", "the room emptied"
        elif seconds <= limit - slack:
            assert room not in flagged, f"{room} took {seconds:.0f} s (limit {limit:.0f} s)"
    assert set(flagged) <= set(record.rooms), flagged


def evacuation_limit_s(run: Run) -> float:
    """The site's evacuation.incomplete limit, from the pack the server applies to it."""
    engine = run.state.alert_pipeline.engine
    site = run.state.registry.snapshot().site(run.site)
    pack = engine.pack_for(site)
    rule = pack.rule("evacuation.incomplete")
    assert isinstance(rule, EvacuationIncomplete)
    return float(rule.within_s)


def test_real_fire_in_the_slow_room_itself_raises_evacuation_incomplete_with_the_count(
    scenario_run: RunFactory,
) -> None:
    """The variant the live rule covers: holdouts in the room whose detector alarms."""
    run = scenario_run(WEDNESDAY_10, exact_counters=True)
    scenario = builtin("real_fire_slow_room", run.fleet, start=WEDNESDAY_10)
    fire = next(s for s in scenario.steps if isinstance(s, Fire))
    slow = next(s for s in scenario.steps if isinstance(s, SlowRoom))
    same_room = Scenario(
        name="real_fire_slow_fire_room",
        title="A real fire; the fire room slow to empty",
        steps=(slow.model_copy(update={"room": fire.room}), fire),
    )
    run.play(same_room, until=WEDNESDAY_10 + fire.at + slow.hold + timedelta(minutes=2))

    [alarm] = run.alerts(rule="smoke.alarm")
    alarm_at = datetime.fromisoformat(alarm["fired_at"])
    [left] = run.alerts_of("evacuation.incomplete", fire.room)
    assert left["severity"] == "critical"
    assert left["state"] == "resolved", "resolves once the room is empty"
    deadline = alarm_at + timedelta(seconds=evacuation_limit_s(run))
    assert deadline <= datetime.fromisoformat(left["fired_at"]) <= deadline + STEP
    # It carries the count left behind, and once the room is empty its evacuation time.
    # (The server counts from the counters' deltas since the run started, so the count it
    # carries is a positive number but not necessarily the exact number of holdouts.)
    found = re.search(r"(\d+) people still in", left["message"]["en"])
    assert found is not None, left["message"]
    assert int(found.group(1)) >= 1
    assert f"仍有 {found.group(1)} 人" in left["message"]["zh"]
    [record] = run.fleet.evacuations(run.site)
    measured = left["details"]["evacuation_s"]
    assert measured is not None
    assert abs(measured - record.rooms[fire.room]) <= COUNTER_EVACUATION_INTERVAL.total_seconds()
    assert datetime.fromisoformat(left["resolved_at"]) >= WEDNESDAY_10 + slow.hold


def test_real_fire_slow_room_raises_evacuation_incomplete_for_the_slow_room(
    scenario_run: RunFactory,
) -> None:
    run = scenario_run(WEDNESDAY_10, exact_counters=True)
    scenario = builtin("real_fire_slow_room", run.fleet, start=WEDNESDAY_10)
    expect = next(e for e in scenario.expect if e.rule == "evacuation.incomplete")
    assert expect.within is not None
    run.play(scenario, until=WEDNESDAY_10 + expect.within + STEP)

    assert run.alerts(rule="smoke.alarm"), "the fire raised smoke.alarm"
    [left] = run.alerts_of("evacuation.incomplete", expect.subject)
    assert left["fired_at"] is not None
    assert left["details"]["count"] == 3


@pytest.mark.parametrize("seed", range(16))
def test_exact_counters_report_every_room_empty_within_a_step_of_the_truth(seed: int) -> None:
    """The fleet alone: from its readings, each room's counter-derived count reaches zero within
    one reporting interval of the room really emptying, the last room too (whose emptying ends
    the evacuation once the drill's alarm has cleared)."""
    text = site_registry_text(f"seed{seed}")
    fleet = Fleet(parse_registry(text, "registry"), start=WEDNESDAY_10, exact_counters=True)
    scenario = builtin("fire_drill", fleet, start=WEDNESDAY_10)
    fleet.schedule(scenario)
    counters = [
        d for g in fleet.registry.sites[0].gateways for d in g.devices if d.kind == "counter"
    ]
    rooms = {d.id: d.room for d in counters}
    counted = {room: 0 for room in rooms.values() if room is not None}
    emptied: dict[str, datetime] = {}
    alarm_at: datetime | None = None
    now = WEDNESDAY_10
    while now < WEDNESDAY_10 + timedelta(minutes=10):
        now += STEP
        for event in fleet.advance(now):
            if not isinstance(event, Publish):
                continue
            for r in event.readings:
                if isinstance(r, SmokeReading) and r.state is SmokeState.ALARM and not alarm_at:
                    alarm_at = r.ts
                    emptied = {room: r.ts for room, n in counted.items() if n == 0}
                if isinstance(r, OccupancyReading) and r.entries is not None:
                    room = rooms[r.device]
                    assert room is not None
                    assert r.exits is not None
                    counted[room] += r.entries - r.exits
                    if alarm_at and counted[room] == 0 and room not in emptied:
                        emptied[room] = r.ts
    [record] = fleet.evacuations(f"seed{seed}")
    assert alarm_at is not None
    for room, when in emptied.items():
        measured = (when - alarm_at).total_seconds()
        assert abs(measured - record.rooms[room]) <= STEP.total_seconds(), (room, record.rooms)
    assert record.duration_s is not None
    assert set(emptied) == set(counted), "every counted room emptied"
