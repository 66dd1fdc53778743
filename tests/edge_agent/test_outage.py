"""(a) The uplink broker goes away while readings keep coming; nothing is lost or duplicated,
order per device holds, and alarms go first when it returns."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from edge_agent import Agent
from firmware_sims.edge_driver import SimulatedDriver
from protocol import OccupancyReading, SmokeReading
from tests.edge_agent.conftest import make_config, running, until, up_topics
from tests.services import Mosquitto

PRESENCE = ["p1", "p2", "p3"]


def _devices() -> list[dict[str, Any]]:
    return [{"id": d, "kind": "presence", "driver": "sim"} for d in PRESENCE] + [
        {"id": "s1", "kind": "smoke", "room": "r1", "driver": "sim"}
    ]


def _feed(sim: SimulatedDriver, counts: range) -> None:
    for n in counts:
        for device in PRESENCE:
            sim.feed(device, {"kind": "occupancy", "source": "presence", "count": n})


async def test_broker_outage_loses_nothing_and_sends_alarms_first(
    tmp_path: Path, unique_id: str, own_mosquitto: Mosquitto, collector_factory: Any
) -> None:
    # A tiny window and batches of one reading make the in-flight bound matter.
    config = make_config(
        tmp_path,
        unique_id,
        own_mosquitto,
        devices=_devices(),
        outbox={"window": 4, "batch_linger_s": 0},
    )
    collector = collector_factory(
        own_mosquitto, up_topics(config.site, config.gateway)[:2], f"col-{unique_id}"
    )
    agent = Agent(config)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="first connection")
        _feed(sim, range(10))
        await until(lambda: len(collector.readings()) >= 30, what="readings before the outage")
        before = len(collector.snapshot())

        own_mosquitto.stop()
        await until(lambda: not agent.uplink_connected, what="the agent to notice the outage")
        _feed(sim, range(10, 40))
        sim.feed("s1", {"kind": "smoke", "state": "alarm"})
        _feed(sim, range(40, 50))
        sim.feed("s1", {"kind": "smoke", "state": "alarm"})
        await until(lambda: agent.stats.committed == 50 * 3 + 2, what="all committed")

        own_mosquitto.start()
        await until(
            lambda: len({r.id for _, r in collector.readings()}) == 152,
            within=30,
            what="every reading after the outage",
        )
        await until(lambda: agent.outbox.depth().telemetry == 0, what="outbox drained")

    assert agent.uplink_stats.max_inflight <= 4 + 16
    readings = collector.readings()
    by_id: dict[str, Any] = {}
    for _, reading in readings:
        by_id.setdefault(reading.id, reading)
    # Exactly once after dedupe: every observation under one id, none missing, none extra.
    occupancy = [r for r in by_id.values() if isinstance(r, OccupancyReading)]
    assert sorted((r.device, r.count) for r in occupancy) == sorted(
        (d, n) for d in PRESENCE for n in range(50)
    )
    smoke = [r for r in by_id.values() if isinstance(r, SmokeReading)]
    assert len(smoke) == 2
    # In order per device, by first arrival.
    seen: set[str] = set()
    per_device: dict[str, list[int]] = defaultdict(list)
    for _, reading in readings:
        if isinstance(reading, OccupancyReading) and reading.id not in seen:
            seen.add(reading.id)
            assert reading.count is not None
            per_device[reading.device].append(reading.count)
    for device in PRESENCE:
        assert per_device[device] == list(range(50)), device
    # Alarms first: after the outage, both alarms arrive before any reading made during it.
    after = collector.decoded()[before:]
    channels = [
        "alarm" if type(m).__name__ == "AlarmEvent" else "readings"
        for m in after
        if type(m).__name__ in {"AlarmEvent", "ReadingBatch"}
    ]
    first_outage_batch = next(
        i
        for i, m in enumerate(
            m for m in after if type(m).__name__ in {"AlarmEvent", "ReadingBatch"}
        )
        if type(m).__name__ == "ReadingBatch"
        and any(getattr(r, "count", -1) >= 10 for r in m.readings)  # type: ignore[attr-defined]
    )
    assert channels[:2] == ["alarm", "alarm"], channels[:5]
    assert first_outage_batch >= 2


async def test_backlog_replay_keeps_the_window_and_the_rate(
    tmp_path: Path, unique_id: str, own_mosquitto: Mosquitto, collector_factory: Any
) -> None:
    config = make_config(
        tmp_path,
        unique_id,
        own_mosquitto,
        devices=_devices(),
        outbox={"window": 2, "replay_rate": 5},
    )
    collector = collector_factory(
        own_mosquitto, up_topics(config.site, config.gateway)[:2], f"col-{unique_id}"
    )
    agent = Agent(config)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="connection")
        own_mosquitto.stop()
        await until(lambda: not agent.uplink_connected, what="outage noticed")
        _feed(sim, range(1500))  # 4,500 readings: 9 full batches
        await until(lambda: agent.stats.committed == 4500, what="backlog committed")
        own_mosquitto.start()
        await until(lambda: agent.uplink_connected, what="reconnection")
        started = time.monotonic()
        await until(lambda: len(collector.snapshot()) >= 9, within=60, what="the backlog delivered")
        elapsed = time.monotonic() - started
    assert agent.uplink_stats.max_inflight <= 2 + 16
    # The first batches spend the initial tokens; the rest come at 5 a second at most.
    assert elapsed >= (9 - 5) / 5
    per_device: dict[str, list[int]] = defaultdict(list)
    for _, reading in collector.readings():
        assert isinstance(reading, OccupancyReading)
        assert reading.count is not None
        per_device[reading.device].append(reading.count)
    assert all(per_device[d] == list(range(1500)) for d in PRESENCE)
