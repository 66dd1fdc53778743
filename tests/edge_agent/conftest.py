"""Helpers for the edge agent tests: a recording MQTT subscriber, config builders, a runner."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent import Agent, GatewayConfig
from protocol import (
    AlarmEvent,
    Channel,
    GatewayStatus,
    Reading,
    ReadingBatch,
    channel_topic,
    decode_message,
)
from tests.services import Mosquitto

SIM = "firmware_sims.edge_driver:SimulatedDriver"
Z2M = "edge_agent.drivers.zigbee2mqtt:Zigbee2MqttDriver"
GPIO = "edge_agent.drivers.gpio:GpioDriver"


class Collector:
    """A persistent-session subscriber that records every message in arrival order."""

    def __init__(self, host: str, port: int, topics: list[str], client_id: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topics = topics
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "collector did not subscribe"

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, *_: Any) -> None:
        # A resumed session keeps its subscriptions; subscribing again would replay retained
        # messages out of order with the queued ones.
        if not flags.session_present:
            client.subscribe([(t, 1) for t in self._topics])
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def decoded(self) -> list[AlarmEvent | ReadingBatch | GatewayStatus]:
        out: list[AlarmEvent | ReadingBatch | GatewayStatus] = []
        now = datetime.now(UTC)
        for topic, payload in self.snapshot():
            if not payload:
                continue
            message = decode_message(topic, payload, now=now).message
            assert isinstance(message, AlarmEvent | ReadingBatch | GatewayStatus)
            out.append(message)
        return out

    def readings(self) -> list[tuple[str, Reading]]:
        """Every reading received, in arrival order, with the channel it came on."""
        out: list[tuple[str, Reading]] = []
        for message in self.decoded():
            if isinstance(message, AlarmEvent):
                out.append(("alarm", message.reading))
            elif isinstance(message, ReadingBatch):
                out.extend(("readings", r) for r in message.readings)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def collector_factory() -> Iterator[Callable[..., Collector]]:
    made: list[Collector] = []

    def make(broker: Mosquitto, topics: list[str], client_id: str) -> Collector:
        collector = Collector(broker.host, broker.port, topics, client_id)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close()


def up_topics(site: str, gateway: str) -> list[str]:
    return [
        channel_topic(site, gateway, Channel.ALARM),
        channel_topic(site, gateway, Channel.READINGS),
        channel_topic(site, gateway, Channel.STATUS),
    ]


def config_dict(
    tmp_path: Path,
    uid: str,
    uplink: Mosquitto,
    *,
    drivers: list[dict[str, Any]] | None = None,
    devices: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    outbox: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "gateway": f"gw-{uid}",
        "site": f"site-{uid}",
        "uplink": {
            "host": uplink.host,
            "port": uplink.port,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        },
        "outbox": {"path": str(tmp_path / "outbox.db"), "batch_linger_s": 0.05, **(outbox or {})},
        "heartbeat_s": 1,
        "drivers": drivers or [{"name": "sim", "factory": SIM}],
        "devices": devices or [],
        "outputs": outputs or [],
        **extra,
    }


def make_config(*args: Any, **kwargs: Any) -> GatewayConfig:
    return GatewayConfig.model_validate(config_dict(*args, **kwargs))


@contextlib.asynccontextmanager
async def running(agent: Agent) -> AsyncIterator[Agent]:
    task = asyncio.create_task(agent.run(), name="agent-under-test")
    await asyncio.wait_for(agent.wait_ready(), 10)
    try:
        yield agent
    finally:
        agent.stop()
        await asyncio.wait_for(task, 30)


async def until(predicate: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds, or fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


def wait_sync(predicate: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what or predicate}")
        time.sleep(0.02)
