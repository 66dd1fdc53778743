"""Plain telemetry waits in memory to share an outbox commit; anything that may be an alarm (or
drive a local output) never waits, and takes what waits with it; a stop commits what waits;
the uplink publishes as soon as a commit wakes it, without polling."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

import edge_agent._agent as agent_module
import edge_agent._uplink as uplink_module
from edge_agent import Agent
from firmware_sims.edge_driver import SimulatedDriver
from protocol import DoorReading, DoorRole, DoorState, Reading, SmokeReading, is_alarm_class
from tests.edge_agent.conftest import make_config, running, until, up_topics
from tests.services import Mosquitto

# Long enough that a test waiting on it would time out: what passes did not wait for it.
FOREVER_S = 3600.0

DEVICES = [
    {"id": "p1", "kind": "presence", "driver": "sim"},
    {"id": "smk-1", "kind": "smoke", "driver": "sim"},
    {"id": "fd-1", "kind": "door", "role": "fire_door", "driver": "sim"},
]


def _stored(outbox: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(outbox)
    try:
        rows = db.execute("SELECT seq, payload FROM outbox ORDER BY seq").fetchall()
    finally:
        db.close()
    return [(int(seq), json.loads(payload)["device"]) for seq, payload in rows]


def _sim(agent: Agent) -> SimulatedDriver:
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    return sim


@pytest.mark.parametrize(
    "urgent",
    [
        {"kind": "smoke", "state": "alarm"},
        {"kind": "smoke", "state": "fault"},
        {"kind": "door", "state": "open", "role": "fire_door", "fault": True},
        {"kind": "health", "tamper": True},
    ],
    ids=["smoke-alarm", "smoke-fault", "fire-door-fault", "tamper"],
)
async def test_an_urgent_reading_cuts_the_telemetry_wait_and_comes_after_it(
    tmp_path: Path,
    unique_id: str,
    own_mosquitto: Mosquitto,
    monkeypatch: pytest.MonkeyPatch,
    urgent: dict[str, Any],
) -> None:
    monkeypatch.setattr(agent_module, "_TELEMETRY_LINGER_S", FOREVER_S)
    own_mosquitto.stop()  # the uplink is down: the rows stay in the outbox
    agent = Agent(make_config(tmp_path, unique_id, own_mosquitto, devices=DEVICES))
    device = "smk-1" if urgent["kind"] in {"smoke", "health"} else "fd-1"
    async with running(agent):
        sim = _sim(agent)
        for count in range(5):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": count})
        sim.feed(device, urgent)
        await until(lambda: agent.stats.committed == 6, within=10, what="all six committed")
        stored = _stored(tmp_path / "outbox.db")
    assert [d for _, d in stored] == ["p1"] * 5 + [device]


async def test_plain_telemetry_is_committed_in_shared_transactions(
    tmp_path: Path, unique_id: str, own_mosquitto: Mosquitto
) -> None:
    own_mosquitto.stop()
    agent = Agent(make_config(tmp_path, unique_id, own_mosquitto, devices=DEVICES))
    async with running(agent):
        sim = _sim(agent)

        def feed() -> None:
            # One reading every millisecond or so from the driver's own thread, as radios
            # deliver them: committed one by one, this would take hundreds of transactions.
            for count in range(200):
                sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": count})
                sim.feed("smk-1", {"kind": "smoke", "state": "normal"})
                time.sleep(0.001)

        await asyncio.to_thread(feed)
        await until(lambda: agent.stats.committed == 400, within=10, what="400 committed")
    assert agent.stats.commits < 400 // 10
    stored = _stored(tmp_path / "outbox.db")
    assert [d for _, d in stored] == ["p1", "smk-1"] * 200


async def test_stop_commits_the_telemetry_still_waiting(
    tmp_path: Path, unique_id: str, own_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "_TELEMETRY_LINGER_S", FOREVER_S)
    own_mosquitto.stop()
    agent = Agent(make_config(tmp_path, unique_id, own_mosquitto, devices=DEVICES))
    async with running(agent):
        sim = _sim(agent)
        for count in range(7):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": count})
        await until(lambda: agent.stats.observations == 0 and sim.emitted == 7, what="fed")
    assert agent.stats.committed == 7
    assert len(_stored(tmp_path / "outbox.db")) == 7


async def test_a_burst_larger_than_a_transaction_is_all_committed_by_a_stop(
    tmp_path: Path, unique_id: str, own_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "_TELEMETRY_LINGER_S", FOREVER_S)
    own_mosquitto.stop()
    agent = Agent(make_config(tmp_path, unique_id, own_mosquitto, devices=DEVICES))
    async with running(agent):
        sim = _sim(agent)
        # A full transaction's worth does not wait; the stop lands while it is being committed.
        for count in range(1234):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": count})
    assert agent.stats.committed == 1234
    stored = _stored(tmp_path / "outbox.db")
    assert [seq for seq, _ in stored] == sorted(seq for seq, _ in stored)
    assert len(stored) == 1234


async def test_the_uplink_publishes_on_commit_without_polling(
    tmp_path: Path,
    unique_id: str,
    mosquitto: Mosquitto,
    monkeypatch: pytest.MonkeyPatch,
    collector_factory: Any,
) -> None:
    # With no idle wake-ups and no heartbeat due, only the commit's notification can make it
    # publish.
    monkeypatch.setattr(uplink_module, "IDLE_S", FOREVER_S)
    config = make_config(tmp_path, unique_id, mosquitto, devices=DEVICES, heartbeat_s=3600)
    collector = collector_factory(
        mosquitto, up_topics(config.site, config.gateway), f"col-{unique_id}"
    )
    agent = Agent(config)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="connected")
        sim = _sim(agent)
        sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": 1})
        await until(lambda: len(collector.readings()) == 1, within=10, what="the telemetry")
        sim.feed("smk-1", {"kind": "smoke", "state": "alarm"})
        await until(lambda: len(collector.readings()) == 2, within=10, what="the alarm")
    assert [channel for channel, _ in collector.readings()] == ["readings", "alarm"]
    assert agent.uplink_stats.readings_acked == 2


_READING: TypeAdapter[Reading] = TypeAdapter(Reading)
_ODD = st.sampled_from([None, True, False, 0, 1, "true", "false", "yes", "", "1"])
_FIELDS = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["smoke", "door", "occupancy", "health", "other"]),
        "state": st.sampled_from(["normal", "alarm", "fault", "test", "open", "closed", "ALARM"]),
    },
    optional={
        "role": st.sampled_from([*(r.value for r in DoorRole), "FIRE_DOOR", None]),
        "fault": _ODD,
        "tamper": _ODD,
        "battery_low": _ODD,
        "sensor": st.sampled_from(["smoke", "heat"]),
        "source": st.sampled_from(["presence", "counter"]),
        "occupied": _ODD,
        "count": st.integers(-1, 3),
    },
)


@given(_FIELDS)
def test_nothing_that_can_be_an_alarm_or_a_local_action_counts_as_plain(
    fields: dict[str, Any],
) -> None:
    data = {k: v for k, v in fields.items() if v is not None}
    try:
        reading = _READING.validate_python(
            {**data, "id": "0", "device": "d1", "ts": "2026-01-01T00:00:00Z"}
        )
    except ValidationError:
        return  # refused by the agent whatever it waits for
    may_act = isinstance(reading, SmokeReading) and reading.state.value == "alarm"
    may_become_fault = (
        isinstance(reading, DoorReading)
        and reading.state is DoorState.OPEN
        and reading.role in {DoorRole.FIRE_DOOR, DoorRole.FIRE_DOOR_HOLD_OPEN}
    )
    if is_alarm_class(reading) or may_act or may_become_fault:
        assert not agent_module._plain_telemetry(data), reading
