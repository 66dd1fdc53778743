from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest

from firmware_sims import (
    Fleet,
    FleetRunner,
    MemorySink,
    Online,
    Progress,
    UnknownTarget,
    builtin,
    load_scenario,
)
from protocol import DoorReading, DoorState, ManualClock, ScaledClock
from tests.firmware_sims.conftest import MONDAY_10, small_registry


def test_run_follows_an_accelerated_clock_until_the_end_and_reports_progress() -> None:
    clock = ScaledClock(MONDAY_10, speed=3600)  # an hour per real second
    fleet = Fleet(small_registry(), start=MONDAY_10, seed=1)
    sink = MemorySink()
    out = io.StringIO()
    runner = FleetRunner(fleet, sink, clock, tick_s=0.05, progress=Progress(out))
    stats = runner.run(until=MONDAY_10 + timedelta(minutes=30))
    assert fleet.now == MONDAY_10 + timedelta(minutes=30)
    assert stats.readings == len(sink.readings()) > 50
    assert isinstance(sink.events[0], Online)
    line = out.getvalue().splitlines()[-1]
    assert "sim 2026-01-05 Mon 10:30:00" in line
    assert "11 devices" in line
    assert f"{stats.readings:,} readings" in line


def test_scenarios_scheduled_from_another_thread_apply_at_the_next_tick() -> None:
    clock = ScaledClock(MONDAY_10, speed=600)
    fleet = Fleet(small_registry(), start=MONDAY_10, seed=1)
    sink = MemorySink()
    runner = FleetRunner(fleet, sink, clock, tick_s=0.02)
    stop = threading.Event()
    worker = threading.Thread(target=runner.run, kwargs={"stop": stop})
    worker.start()
    try:
        runner.schedule(builtin("door_propped_open", fleet))
        deadline = threading.Event()
        for _ in range(200):
            opened = [
                r
                for r in sink.readings()
                if isinstance(r, DoorReading) and r.device == "s1-fd-inf"
                if r.state is DoorState.OPEN
            ]
            if opened and "door_propped_open" in runner.stats.scenarios:
                break
            deadline.wait(0.05)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert opened


def test_schedule_refuses_a_scenario_for_another_fleet_at_once() -> None:
    fleet = Fleet(small_registry(), start=MONDAY_10)
    runner = FleetRunner(fleet, MemorySink(), ManualClock(MONDAY_10))
    scenario = load_scenario("name: x\ntitle: x\nsteps: [{action: silence, device: zz}]", "x")
    with pytest.raises(
        UnknownTarget, match="x: steps\\[0\\]\\.device: the fleet has no device 'zz'"
    ):
        runner.schedule(scenario)


def test_run_stepped_calls_back_after_every_step_with_the_clock_time() -> None:
    clock = ManualClock(MONDAY_10)
    fleet = Fleet(small_registry(), start=MONDAY_10, seed=1)
    sink = MemorySink()
    seen: list[tuple[object, int]] = []
    FleetRunner(fleet, sink, clock).run_stepped(
        clock,
        MONDAY_10 + timedelta(minutes=1),
        timedelta(seconds=20),
        after_step=lambda now: seen.append((now, len(sink.events))),
    )
    assert [t for t, _ in seen] == [MONDAY_10 + timedelta(seconds=s) for s in (0, 20, 40, 60)]
    assert seen[0][1] > 0  # the first step's events were delivered before the callback
