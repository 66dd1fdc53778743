"""(b) SIGKILL the agent (a real process) mid-stream, start it again: every reading it had
committed arrives."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from protocol import GatewayState, GatewayStatus, OccupancyReading
from tests.edge_agent.conftest import SIM, up_topics, wait_sync
from tests.services import REPO, Mosquitto

DEVICES = ["c1", "c2", "c3", "c4"]


def _toml(uid: str, broker: Mosquitto, outbox: Path, *, produce: bool) -> str:
    periodic = "interval_s = 0.01\ncount_sequence = true\n" if produce else ""
    devices = "".join(
        f'[[devices]]\nid = "{d}"\nkind = "counter"\ndriver = "sim"\n\n' for d in DEVICES
    )
    return f"""
gateway = "gw-{uid}"
site = "site-{uid}"
heartbeat_s = 1

[uplink]
host = "{broker.host}"
port = {broker.port}
reconnect_min_s = 0.1
reconnect_max_s = 0.5

[outbox]
path = "{outbox}"
batch_linger_s = 0.05

[[drivers]]
name = "sim"
factory = "{SIM}"
[drivers.options]
{periodic}
{devices}"""


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--config", str(config)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )


def _stored_ids(outbox: Path) -> set[str]:
    db = sqlite3.connect(outbox)
    try:
        return {json.loads(p)["id"] for (p,) in db.execute("SELECT payload FROM outbox")}
    finally:
        db.close()


def test_sigkill_loses_nothing_committed(
    tmp_path: Path, unique_id: str, mosquitto: Mosquitto, collector_factory: Any
) -> None:
    outbox = tmp_path / "outbox.db"
    producing = tmp_path / "producing.toml"
    producing.write_text(_toml(unique_id, mosquitto, outbox, produce=True))
    quiet = tmp_path / "quiet.toml"
    quiet.write_text(_toml(unique_id, mosquitto, outbox, produce=False))
    topics = up_topics(f"site-{unique_id}", f"gw-{unique_id}")
    collector = collector_factory(mosquitto, topics, f"col-{unique_id}")
    log = tmp_path / "agent.log"

    agent = _start(producing, log)
    try:
        wait_sync(lambda: len(collector.readings()) >= 600, what="readings flowing")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    finally:
        if agent.poll() is None:
            agent.kill()
    received_before = {r.id for _, r in collector.readings()}
    stored = _stored_ids(outbox)
    committed = received_before | stored
    wait_sync(
        lambda: any(
            isinstance(m, GatewayStatus) and m.state is GatewayState.OFFLINE and m.ts is None
            for m in collector.decoded()
        ),
        what="the Last Will",
    )

    seen = len(collector.snapshot())
    again = _start(quiet, log)
    try:
        wait_sync(
            lambda: any(
                isinstance(m, GatewayStatus) and m.state is GatewayState.ONLINE
                for m in collector.decoded()[seen:]
            ),
            what="the restarted agent online",
        )
        wait_sync(
            lambda: committed <= {r.id for _, r in collector.readings()},
            within=60,
            what=f"{len(stored)} stored readings after the restart",
        )
        wait_sync(lambda: not _stored_ids(outbox), what="the outbox to empty")
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(20) == 0, log.read_text()[-2000:]

    unique = {r.id: r for _, r in collector.readings()}
    per_device: dict[str, list[int]] = defaultdict(list)
    for reading in unique.values():
        assert isinstance(reading, OccupancyReading)
        assert reading.count is not None
        per_device[reading.device].append(reading.count)
    # Each device's committed readings form an unbroken prefix: nothing in between was lost.
    for device in DEVICES:
        counts = sorted(per_device[device])
        assert counts == list(range(len(counts))), device
    last = [m for m in collector.decoded() if isinstance(m, GatewayStatus)][-1]
    assert last.state is GatewayState.OFFLINE
    assert last.ts is not None  # the goodbye of a clean stop, not the Last Will
