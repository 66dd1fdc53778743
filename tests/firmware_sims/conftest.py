"""Fixtures and helpers for the simulator tests: small registries, a stepped fleet, and an MQTT
subscriber that records what arrives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware_sims import Event, Fleet, Publish
from protocol import Reading
from rules import Registry, parse_registry
from tests.services import Mosquitto

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday at 10:00 in Shanghai: the centres are open and busy.
MONDAY_10 = datetime(2026, 1, 5, 10, 0, tzinfo=SHANGHAI)

SMALL_REGISTRY = """
sites:
  - id: {site}
    name: 测试社区服务中心
    opening_hours:
      - {{days: [0, 1, 2, 3, 4, 5, 6], open: "07:00", close: "21:00"}}
    rooms:
      - {{id: eld, name: 日间照料室, function: elderly_care, floor: 1, area_m2: 400, beds: 10,
          licensed_capacity: 30}}
      - {{id: din, name: 食堂, function: dining, floor: 1, area_m2: 150, licensed_capacity: 60}}
      - {{id: inf, name: 托育室, function: infant_care, floor: 2, area_m2: 200, places: 20}}
    gateways:
      - id: {site}-gw1
        devices:
          - {{id: {site}-smk-eld, kind: smoke, room: eld}}
          - {{id: {site}-smk-din, kind: smoke, room: din}}
          - {{id: {site}-heat-din, kind: heat, room: din}}
          - {{id: {site}-hold, kind: door, room: eld, role: fire_door_hold_open}}
          - {{id: {site}-ent, kind: door, room: eld, role: entrance}}
          - {{id: {site}-exit, kind: door, room: eld, role: emergency_exit}}
          - {{id: {site}-cnt-eld, kind: counter, room: eld, reporting_interval_s: 60}}
          - {{id: {site}-cnt-din, kind: counter, room: din, reporting_interval_s: 60}}
      - id: {site}-gw2
        devices:
          - {{id: {site}-smk-inf, kind: smoke, room: inf}}
          - {{id: {site}-fd-inf, kind: door, room: inf, role: fire_door}}
          - {{id: {site}-pre-inf, kind: presence, room: inf, reporting_interval_s: 60}}
"""


def small_registry(site: str = "s1") -> Registry:
    return parse_registry(SMALL_REGISTRY.format(site=site), "small.yaml")


def run(fleet: Fleet, span: timedelta, step: timedelta = timedelta(seconds=10)) -> list[Event]:
    """Advance ``fleet`` by ``span`` in ``step``s, as a stepped runner would."""
    events: list[Event] = []
    end = fleet.now + span
    while fleet.now < end:
        events += fleet.advance(min(end, fleet.now + step))
    return events


def readings(events: list[Event], device: str | None = None) -> list[Reading]:
    return [
        r
        for e in events
        if isinstance(e, Publish)
        for r in e.readings
        if device is None or r.device == device
    ]


@pytest.fixture
def fleet() -> Fleet:
    return Fleet(small_registry(), start=MONDAY_10, seed=11)


class Recorder:
    """A real MQTT subscriber (QoS 1, persistent session) that keeps (topic, payload, retain)."""

    def __init__(self, broker: Mosquitto, topic_filter: str, client_id: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        # MQTT 3.1.1 with clean_session False: Mosquitto 2.0.11 restores such a session after a
        # restart, but not an MQTT 5 session (measured: session_present False after restart).
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=False,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.topic_filter = topic_filter
        self.client.reconnect_delay_set(1, 2)
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()
        assert self._connected.wait(10), "subscriber did not connect"
        assert self._subscribed.wait(10), "subscriber did not subscribe"

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object
    ) -> None:
        if not getattr(flags, "session_present", False):
            client.subscribe(self.topic_filter, qos=1)
        self._connected.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, codes: object, props: object
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def wait_for(
        self, predicate: Callable[[list[tuple[str, bytes, bool]]], bool], timeout: float = 30.0
    ) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            time.sleep(0.05)
        return self.snapshot()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def recorder_factory() -> Iterator[Callable[[Mosquitto, str, str], Recorder]]:
    made: list[Recorder] = []

    def make(broker: Mosquitto, topic_filter: str, client_id: str) -> Recorder:
        rec = Recorder(broker, topic_filter, client_id)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()
