"""(d) An outbox at its bound drops the oldest telemetry only, and reports the count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_agent import Agent
from firmware_sims.edge_driver import SimulatedDriver
from protocol import GatewayStatus, OccupancyReading, SmokeReading
from tests.edge_agent.conftest import make_config, running, until, up_topics
from tests.services import Mosquitto


async def test_full_outbox_drops_oldest_telemetry_never_alarms(
    tmp_path: Path, unique_id: str, own_mosquitto: Mosquitto, collector_factory: Any
) -> None:
    config = make_config(
        tmp_path,
        unique_id,
        own_mosquitto,
        devices=[
            {"id": "p1", "kind": "presence", "driver": "sim"},
            {"id": "s1", "kind": "smoke", "driver": "sim"},
        ],
        outbox={"max_bytes": 16_384},
    )
    collector = collector_factory(
        own_mosquitto, up_topics(config.site, config.gateway), f"col-{unique_id}"
    )
    agent = Agent(config)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="connection")
        own_mosquitto.stop()
        await until(lambda: not agent.uplink_connected, what="outage noticed")
        for n in range(400):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": n})
            if n % 100 == 50:
                sim.feed("s1", {"kind": "smoke", "state": "alarm"})
        await until(lambda: agent.stats.committed == 404, what="all committed")
        depth = agent.outbox.depth()
        assert depth.alarms == 4
        assert depth.dropped > 0
        assert depth.bytes <= 16_384
        dropped = depth.dropped

        own_mosquitto.start()
        await until(
            lambda: agent.outbox.depth().alarms + agent.outbox.depth().telemetry == 0,
            within=30,
            what="outbox drained",
        )
        await until(
            lambda: any(
                isinstance(m, GatewayStatus) and m.dropped == dropped for m in collector.decoded()
            ),
            what="a status that reports the drops",
        )
        await until(
            lambda: len({r.id for _, r in collector.readings()}) == 404 - dropped,
            what="everything kept arrives",
        )

    unique = {r.id: r for _, r in collector.readings()}
    alarms = [r for r in unique.values() if isinstance(r, SmokeReading)]
    counts = sorted(r.count for r in unique.values() if isinstance(r, OccupancyReading))
    assert len(alarms) == 4
    # The oldest telemetry went; what remains is the newest, without gaps.
    assert counts == list(range(400 - len(counts), 400))
    assert len(counts) == 400 - dropped


@pytest.mark.allow_error_logs
async def test_full_disk_sheds_telemetry_to_save_an_alarm(
    tmp_path: Path, unique_id: str, own_mosquitto: Mosquitto, collector_factory: Any
) -> None:
    config = make_config(
        tmp_path,
        unique_id,
        own_mosquitto,
        devices=[
            {"id": "p1", "kind": "presence", "driver": "sim"},
            {"id": "s1", "kind": "smoke", "driver": "sim"},
        ],
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
        for n in range(2000):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": n})
        await until(lambda: agent.stats.committed == 2000, what="backlog committed")
        db = agent.outbox._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages}")
        for n in range(2000, 2600):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": n})
        sim.feed("s1", {"kind": "smoke", "state": "alarm"})
        await until(lambda: agent.stats.commit_failures > 0, what="the disk to fill")
        await until(lambda: agent.stats.alarms == 1, what="the alarm saved")
        assert agent.outbox.depth().dropped > 0
        db.execute("PRAGMA max_page_count=1073741823")
        own_mosquitto.start()
        await until(
            lambda: any(c == "alarm" for c, _ in collector.readings()), what="the alarm sent"
        )
    first = collector.readings()[0]
    assert first[0] == "alarm"
    assert isinstance(first[1], SmokeReading)
