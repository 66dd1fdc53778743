"""GPIO inputs and outputs (gpiozero's mock pins), commands on down/cmd, the device map from
down/config, and bad input that must be counted while the agent keeps running."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent import Agent
from firmware_sims.edge_driver import SimulatedDriver
from protocol import (
    Channel,
    Command,
    CommandName,
    DoorReading,
    DoorState,
    SmokeReading,
    SmokeState,
    channel_topic,
    encode,
)
from tests.edge_agent.conftest import GPIO, SIM, make_config, running, until, up_topics
from tests.services import Mosquitto, free_port

DOOR_PIN, SMOKE_PIN, SOUNDER_PIN = 5, 6, 17


@pytest.fixture
def pins() -> Iterator[Any]:
    factory = MockFactory()
    yield factory
    factory.close()


@pytest.fixture
def commander(mosquitto: Mosquitto, unique_id: str) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cmd-{unique_id}")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def _gpio_config(tmp_path: Path, uid: str, broker: Mosquitto) -> Any:
    return make_config(
        tmp_path,
        uid,
        broker,
        drivers=[
            {"name": "wired", "factory": GPIO, "options": {"bounce_s": 0}},
            {"name": "sim", "factory": SIM},
        ],
        devices=[
            {
                "id": "fd-1",
                "kind": "door",
                "role": "fire_door",
                "room": "r1",
                "driver": "wired",
                "address": str(DOOR_PIN),
            },
            {
                "id": "smk-1",
                "kind": "smoke",
                "room": "r1",
                "driver": "wired",
                "address": f"GPIO{SMOKE_PIN}",
            },
            {"id": "smk-2", "kind": "smoke", "room": "r2", "driver": "sim"},
        ],
        outputs=[{"type": "gpio", "name": "sounder", "pin": SOUNDER_PIN}],
        safety={"door_close_grace_s": 0.3},
    )


def _command(name: CommandName, device: str | None = None) -> bytes:
    return encode(
        Command(id="c1", cmd=name, device=device, issued_at=datetime.now(UTC), by="operator-7")
    )


async def test_gpio_alarm_fire_door_and_silence(
    tmp_path: Path,
    unique_id: str,
    mosquitto: Mosquitto,
    pins: Any,
    collector_factory: Any,
    commander: mqtt.Client,
) -> None:
    config = _gpio_config(tmp_path, unique_id, mosquitto)
    collector = collector_factory(
        mosquitto, up_topics(config.site, config.gateway)[:2], f"col-{unique_id}"
    )
    agent = Agent(config, pin_factory=pins)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="connection")
        # Start: door held open (contact not closed: pin high with the pull-up), no smoke.
        await until(lambda: len(collector.readings()) >= 2, what="initial wired states")
        initial = {r.device: r for _, r in collector.readings()}
        assert isinstance(initial["fd-1"], DoorReading)
        assert initial["fd-1"].state is DoorState.OPEN
        assert isinstance(initial["smk-1"], SmokeReading)
        assert initial["smk-1"].state is SmokeState.NORMAL

        pins.pin(SMOKE_PIN).drive_low()  # the detector's alarm relay closes
        await until(lambda: pins.pin(SOUNDER_PIN).state is True, within=5, what="sounder")
        # The door is still open after the grace period: a fire-door fault, alarm lane.
        await until(
            lambda: any(
                c == "alarm" and isinstance(r, DoorReading) and r.fault
                for c, r in collector.readings()
            ),
            what="fire door fault",
        )
        commander.publish(
            channel_topic(config.site, config.gateway, Channel.CMD),
            _command(CommandName.SILENCE_SOUNDER),
            qos=1,
        )
        await until(lambda: pins.pin(SOUNDER_PIN).state is False, within=5, what="silenced")
        # The alarm record stays: it was sent, and a new detector in alarm sounds again.
        assert any(c == "alarm" and isinstance(r, SmokeReading) for c, r in collector.readings())
        sim = agent.drivers["sim"]
        assert isinstance(sim, SimulatedDriver)
        sim.feed("smk-2", {"kind": "smoke", "state": "alarm"})
        await until(lambda: pins.pin(SOUNDER_PIN).state is True, within=5, what="re-sounded")

        pins.pin(DOOR_PIN).drive_low()  # the door closes
        await until(
            lambda: any(
                isinstance(r, DoorReading) and r.state is DoorState.CLOSED
                for _, r in collector.readings()
            ),
            what="door closed",
        )
        # A device map a driver cannot take is refused as a whole; the map in force stays.
        bad_map = {
            "v": 1,
            "devices": [{"id": "cnt-1", "kind": "counter", "driver": "wired", "address": "9"}],
        }
        commander.publish(
            channel_topic(config.site, config.gateway, Channel.CONFIG),
            json.dumps(bad_map).encode(),
            qos=1,
        )
        await until(lambda: agent.stats.bad_configs == 1, what="bad map refused")
        pins.pin(DOOR_PIN).drive_high()
        await until(
            lambda: (
                [r.state for _, r in collector.readings() if isinstance(r, DoorReading)][-1:]
                == [DoorState.OPEN]
            ),
            what="the door still read after the refused map",
        )


async def test_self_test_command_bad_commands_and_remote_config(
    tmp_path: Path,
    unique_id: str,
    mosquitto: Mosquitto,
    collector_factory: Any,
    commander: mqtt.Client,
) -> None:
    config = make_config(
        tmp_path,
        unique_id,
        mosquitto,
        devices=[{"id": "smk-1", "kind": "smoke", "driver": "sim"}],
    )
    collector = collector_factory(
        mosquitto, up_topics(config.site, config.gateway)[:2], f"col-{unique_id}"
    )
    cmd_topic = channel_topic(config.site, config.gateway, Channel.CMD)
    config_topic = channel_topic(config.site, config.gateway, Channel.CONFIG)
    agent = Agent(config)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="connection")
        commander.publish(cmd_topic, b"{not json", qos=1)
        commander.publish(cmd_topic, b'{"v": 1, "cmd": "reboot"}', qos=1)
        commander.publish(cmd_topic, _command(CommandName.SELF_TEST, "nobody"), qos=1)
        stale = Command(
            id="c0",
            cmd=CommandName.SELF_TEST,
            issued_at=datetime.now(UTC) - timedelta(hours=1),
        )
        commander.publish(cmd_topic, encode(stale), qos=1)
        commander.publish(cmd_topic, _command(CommandName.SELF_TEST, "smk-1"), qos=1)
        await until(lambda: sim.self_tests == ["smk-1"], what="self-test started")
        await until(lambda: len(collector.readings()) == 2, what="test then normal")
        states = [getattr(r, "state", None) for _, r in collector.readings()]
        assert states == [SmokeState.TEST, SmokeState.NORMAL]
        assert agent.stats.bad_commands == 4
        assert agent.stats.alarms == 0

        commander.publish(config_topic, b'{"v": 1, "devices": [{"id": "x"}]}', qos=1)
        new_map = {
            "v": 1,
            "devices": [
                {"id": "smk-1", "kind": "smoke", "driver": "sim"},
                {"id": "smk-9", "kind": "heat", "room": "kitchen", "driver": "sim"},
            ],
        }
        commander.publish(config_topic, json.dumps(new_map).encode(), qos=1, retain=True)
        await until(lambda: len(sim._devices) == 2, what="device map updated")
        assert agent.stats.bad_configs == 1
        await until(lambda: sim.self_tests == ["smk-1"])
        commander.publish(cmd_topic, _command(CommandName.SELF_TEST), qos=1)
        await until(lambda: len(collector.readings()) == 6, what="self-test of both")
    commander.publish(config_topic, b"", qos=1, retain=True).wait_for_publish(5)

    # Restarted without its uplink, the gateway keeps the map it was last sent.
    offline = config.model_copy(
        update={"uplink": config.uplink.model_copy(update={"port": free_port()})}
    )
    again = Agent(offline)
    sim_again = again.drivers["sim"]
    assert isinstance(sim_again, SimulatedDriver)
    async with running(again):
        assert {d.id for d in sim_again._devices} == {"smk-1", "smk-9"}
        assert not again.uplink_connected


@pytest.mark.allow_error_logs
async def test_bad_values_and_a_full_disk_are_counted_and_survived(
    tmp_path: Path,
    unique_id: str,
    mosquitto: Mosquitto,
    pins: Any,
    collector_factory: Any,
) -> None:
    config = make_config(
        tmp_path,
        unique_id,
        mosquitto,
        devices=[
            {"id": "smk-1", "kind": "smoke", "driver": "sim"},
            {"id": "p1", "kind": "presence", "driver": "sim"},
        ],
        outputs=[{"type": "gpio", "name": "sounder", "pin": SOUNDER_PIN}],
    )
    collector = collector_factory(
        mosquitto, up_topics(config.site, config.gateway)[:2], f"col-{unique_id}"
    )
    agent = Agent(config, pin_factory=pins)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": -4})
        sim.feed("p1", {"kind": "occupancy", "source": "presence"})
        sim.feed("p1", {"kind": "thermometer", "celsius": 21})
        sim.feed("bad device/id", {"kind": "occupancy", "source": "presence", "count": 1})
        sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": 3})
        await until(lambda: len(collector.readings()) == 1, what="the one good reading")
        assert agent.stats.invalid == 4

        db = agent.outbox._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages}")
        for n in range(300):
            sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": 5 + n})
        sim.feed("smk-1", {"kind": "smoke", "state": "alarm"})
        # Not accepted, but the local output acts regardless.
        await until(lambda: pins.pin(SOUNDER_PIN).state is True, within=5, what="sounder")
        await until(lambda: agent.stats.commit_failures > 0, what="the failed commit counted")
        db.execute("PRAGMA max_page_count=1073741823")
        sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": 1000})
        await until(
            lambda: any(getattr(r, "count", None) == 1000 for _, r in collector.readings()),
            what="the agent carries on",
        )
