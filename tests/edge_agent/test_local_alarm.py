"""(c) An alarm raised while the uplink is down drives the local outputs at once and is the
first message sent when the uplink returns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from edge_agent import Agent
from firmware_sims.edge_driver import SimulatedDriver
from protocol import AlarmEvent, GatewayState, GatewayStatus, ReadingBatch, SmokeState
from tests.edge_agent.conftest import make_config, running, until, up_topics
from tests.services import Mosquitto

SOUNDER_PIN = 17


@pytest.fixture
def pins() -> Iterator[Any]:
    factory = MockFactory()
    yield factory
    factory.close()


def _config(tmp_path: Path, uid: str, uplink: Mosquitto, local: Mosquitto) -> Any:
    return make_config(
        tmp_path,
        uid,
        uplink,
        devices=[
            {"id": "smk-1", "kind": "smoke", "room": "r101", "driver": "sim"},
            {"id": "p1", "kind": "presence", "room": "r101", "driver": "sim"},
        ],
        outputs=[
            {"type": "gpio", "name": "sounder", "pin": SOUNDER_PIN},
            {
                "type": "mqtt",
                "name": "display",
                "host": local.host,
                "port": local.port,
                "topic": f"local/{uid}/display",
            },
        ],
    )


async def test_alarm_during_outage_acts_locally_and_goes_first(
    tmp_path: Path,
    unique_id: str,
    own_mosquitto: Mosquitto,
    mosquitto: Mosquitto,
    pins: Any,
    collector_factory: Any,
) -> None:
    config = _config(tmp_path, unique_id, own_mosquitto, mosquitto)
    uplink = collector_factory(
        own_mosquitto, up_topics(config.site, config.gateway), f"up-{unique_id}"
    )
    display = collector_factory(mosquitto, [f"local/{unique_id}/display"], f"disp-{unique_id}")
    agent = Agent(config, pin_factory=pins)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="connection")
        assert pins.pin(SOUNDER_PIN).state is False
        own_mosquitto.stop()
        await until(lambda: not agent.uplink_connected, what="outage noticed")
        before = len(uplink.snapshot())
        for n in range(200):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": n})
        await until(lambda: agent.stats.committed == 200, what="backlog committed")

        sim.feed("smk-1", {"kind": "smoke", "state": "alarm"})
        await until(lambda: pins.pin(SOUNDER_PIN).state is True, within=5, what="sounder on")
        await until(lambda: bool(display.snapshot()), within=5, what="display message")
        assert not agent.uplink_connected
        shown = json.loads(display.snapshot()[-1][1])
        assert shown["state"] == "alarm"
        assert shown["trigger"] == "smoke"
        assert shown["device"] == "smk-1"
        assert "r101" in shown["text_zh"]
        assert "r101" in shown["text_en"]

        own_mosquitto.start()
        await until(
            lambda: len({r.id for _, r in uplink.readings()}) == 201,
            within=30,
            what="alarm and backlog delivered",
        )
    # The first message the agent sent after the outage, its status included, is the alarm.
    # (Mosquitto publishes the gateway's Last Will when it goes down: the broker's, not ours.)
    after = [
        m
        for m in uplink.decoded()[before:]
        if not (isinstance(m, GatewayStatus) and m.state is GatewayState.OFFLINE and m.ts is None)
    ]
    assert isinstance(after[0], AlarmEvent), [type(m).__name__ for m in after[:3]]
    assert any(isinstance(m, ReadingBatch) for m in after)
    assert after[0].reading.device == "smk-1"
    assert getattr(after[0].reading, "state", None) is SmokeState.ALARM
    assert after[0].actions == ["sounder", "display"]


async def test_detector_self_test_is_not_a_fire_alarm(
    tmp_path: Path,
    unique_id: str,
    mosquitto: Mosquitto,
    pins: Any,
    collector_factory: Any,
) -> None:
    config = _config(tmp_path, unique_id, mosquitto, mosquitto)
    uplink = collector_factory(
        mosquitto, up_topics(config.site, config.gateway)[:2], f"up-{unique_id}"
    )
    agent = Agent(config, pin_factory=pins)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        sim.feed("smk-1", {"kind": "smoke", "state": "test"})
        await until(lambda: len(uplink.readings()) == 1, what="the test reading")
    channel, reading = uplink.readings()[0]
    assert channel == "readings"
    assert getattr(reading, "state", None) is SmokeState.TEST
    assert pins.pin(SOUNDER_PIN).state is False
    assert agent.stats.alarms == 0
