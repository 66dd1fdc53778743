"""Fixtures of the ingest server's tests: settings factories, services, a publisher."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest_server import ServerSettings
from ingest_server._service import IngestService
from protocol import Clock, SystemClock
from tests.access import access_settings
from tests.services import Mosquitto

REGISTRY_YAML = """
sites:
  - id: {site}
    name: 幸福里社区服务中心
    households: 3000
    rooms:
      - {{id: r1, name: 托育室, function: infant_care, floor: 2, area_m2: 120, places: 12}}
      - {{id: r2, name: 食堂, function: dining, floor: 1, area_m2: 200}}
    gateways:
      - id: {gateway}
        devices:
          - {{id: smk-1, kind: smoke, room: r1}}
          - {{id: pres-1, kind: presence, room: r1}}
          - {{id: door-1, kind: door, role: fire_door, room: r2}}
"""


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds, or fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def settings_for(tmp_path: Path, unique_id: str) -> Callable[..., ServerSettings]:
    """Build ServerSettings for a broker, with files under tmp_path and a unique client id."""

    def build(broker: Mosquitto, **over: Any) -> ServerSettings:
        registry = tmp_path / "registry.yaml"
        if not registry.exists():
            registry.write_text(REGISTRY_YAML.format(site=unique_id, gateway=f"{unique_id}-gw"))
        values: dict[str, Any] = {
            "mqtt_host": broker.host,
            "mqtt_port": broker.port,
            "mqtt_client_id": f"srv-{unique_id}",
            "mqtt_site": unique_id,
            "records_url": f"sqlite:///{tmp_path / 'records.db'}",
            "sqlite_path": tmp_path / "telemetry.db",
            "influx_spool_path": tmp_path / "spool.db",
            "registry_path": registry,
            "http_port": 0,
            **access_settings(),
        }
        return ServerSettings(_env_file=None, **(values | over))  # type: ignore[call-arg]

    return build


@pytest.fixture
def run_service() -> Iterator[Callable[..., IngestService]]:
    """Start IngestServices (connected and subscribed); all are stopped at the end."""
    started: list[IngestService] = []

    def run(settings: ServerSettings, clock: Clock | None = None) -> IngestService:
        service = IngestService(settings, clock or SystemClock())
        started.append(service)
        service.start()
        assert service.consumer.wait_connected(10), "consumer did not connect and subscribe"
        return service

    yield run
    for service in reversed(started):
        service.stop()


class Publisher:
    """A QoS 1 paho publisher that waits for every PUBACK."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(200)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def publish_all(self, messages: list[tuple[str, bytes]], timeout: float = 60) -> None:
        infos = [self.publish(t, p) for t, p in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mosquitto: Mosquitto, unique_id: str) -> Iterator[Publisher]:
    pub = Publisher(mosquitto, f"pub-{unique_id}")
    yield pub
    pub.close()
