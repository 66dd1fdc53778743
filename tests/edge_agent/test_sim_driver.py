"""The simulated driver: seeded, scripted, fed from any thread, same interface as the rest."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

from edge_agent import DeviceConfig, Driver, DriverContext, Observation
from firmware_sims.edge_driver import SimulatedDriver
from protocol import ScaledClock
from tests.edge_agent.conftest import until

DEVICES = [
    DeviceConfig(id="door-1", kind="door", role="entrance", driver="sim"),
    DeviceConfig(id="cnt-1", kind="counter", driver="sim"),
    DeviceConfig(id="smk-1", kind="smoke", driver="sim"),
]


def _driver(**options: Any) -> SimulatedDriver:
    clock = ScaledClock(datetime(2026, 11, 22, tzinfo=UTC), speed=1000)
    return SimulatedDriver(DriverContext("sim", options, DEVICES, clock))


async def _collect(driver: SimulatedDriver, count: int) -> list[Observation]:
    seen: list[Observation] = []
    task = asyncio.create_task(driver.run(seen.append))
    try:
        await until(lambda: len(seen) >= count, what=f"{count} observations")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return seen


async def test_periodic_reports_are_reproducible_from_the_seed() -> None:
    first = await _collect(_driver(seed=7, interval_s=1.0, limit=20), 60)
    second = await _collect(_driver(seed=7, interval_s=1.0, limit=20), 60)
    other = await _collect(_driver(seed=8, interval_s=1.0, limit=20), 60)
    assert [o.fields for o in first] == [o.fields for o in second]
    assert [o.fields for o in first] != [o.fields for o in other]
    assert {o.device for o in first} == {"door-1", "cnt-1", "smk-1"}
    assert isinstance(_driver(), Driver)


async def test_script_runs_in_clock_time_and_feed_is_thread_safe() -> None:
    driver = _driver(
        script=[
            {"at_s": 30, "device": "smk-1", "fields": {"kind": "smoke", "state": "alarm"}},
            {"at_s": 5, "device": "door-1", "fields": {"kind": "door", "state": "open"}},
        ]
    )
    driver.feed("cnt-1", {"kind": "occupancy", "source": "counter", "count": 0})  # before run
    feeder = threading.Thread(
        target=lambda: [
            driver.feed("cnt-1", {"kind": "occupancy", "source": "counter", "count": n})
            for n in range(1, 101)
        ]
    )
    seen: list[Observation] = []
    task = asyncio.create_task(driver.run(seen.append))
    await asyncio.sleep(0.01)
    feeder.start()
    await asyncio.to_thread(feeder.join)
    await until(lambda: len(seen) >= 103, what="fed and scripted observations")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    counts = [o.fields["count"] for o in seen if o.device == "cnt-1"]
    assert counts == list(range(101))
    scripted = [o.device for o in seen if o.device != "cnt-1"]
    assert scripted == ["door-1", "smk-1"]


async def test_self_test_sounds_test_then_normal() -> None:
    driver = _driver()
    seen: list[Observation] = []
    task = asyncio.create_task(driver.run(seen.append))
    await asyncio.sleep(0.01)
    assert await driver.self_test(None) is True
    assert await driver.self_test("door-1") is False
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [o.fields["state"] for o in seen] == ["test", "normal"]
