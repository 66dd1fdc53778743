"""Fixtures of the dashboards' tests: the real server (uvicorn on a free port, real Mosquitto),
a gateway that publishes readings, and one headless Chromium for the session."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import uvicorn
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion

from ingest_server import ServerSettings, create_app
from protocol import (
    AlarmEvent,
    Channel,
    DoorReading,
    DoorRole,
    DoorState,
    GatewayState,
    GatewayStatus,
    OccupancyReading,
    OccupancySource,
    ReadingBatch,
    SmokeReading,
    SmokeState,
    channel_topic,
    encode,
)
from tests.services import Mosquitto, free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboards"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

REGISTRY_YAML = """
sites:
  - id: {site}
    name: 幸福里社区服务中心
    name_en: Xingfuli Community Centre
    households: 3000
    floor_area_m2: 900
    timezone: Asia/Shanghai
    opening_hours:
      - {{days: [0, 1, 2, 3, 4, 5, 6], open: "00:00", close: "23:59"}}
    rooms:
      - {{id: nursery, name: 托育室, name_en: Nursery, function: infant_care, floor: 2,
          area_m2: 120, places: 12}}
      - {{id: elder, name: 老年活动室, name_en: Seniors' room, function: elderly_care, floor: 2,
          area_m2: 400, beds: 10}}
      - {{id: canteen, name: 长者食堂, name_en: Canteen, function: dining, floor: 1,
          area_m2: 200}}
      - {{id: gym, name: 健身房, name_en: Gym, function: fitness, floor: 1, area_m2: 90}}
    gateways:
      - id: {gateway}
        name: 一号网关
        devices:
          - {{id: {site}-smk-1, kind: smoke, room: nursery}}
          - {{id: {site}-cnt-1, kind: presence, room: nursery}}
          - {{id: {site}-cnt-2, kind: counter, room: canteen}}
          - {{id: {site}-door-1, kind: door, role: fire_door, room: canteen}}
          - {{id: {site}-cnt-3, kind: presence, room: elder}}
          - {{id: {site}-heat-1, kind: heat, room: gym}}
  - id: {site2}
    name: 和睦社区服务站
    rooms:
      - {{id: hall, name: 多功能厅, function: culture, floor: 1, area_m2: 150}}
    gateways:
      - id: {gateway2}
        devices:
          - {{id: {site2}-cnt-1, kind: presence, room: hall}}
"""


class Fleet:
    """One simulated gateway that publishes QoS 1 readings to the real broker."""

    def __init__(self, broker: Mosquitto, site: str, gateway: str) -> None:
        self.site = site
        self.gateway = gateway
        self.seq = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{uuid.uuid4().hex}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    def send(self, *readings: Any) -> None:
        self.seq += 1
        batch = ReadingBatch(
            gateway=self.gateway, sent_at=datetime.now(UTC), seq=self.seq, readings=list(readings)
        )
        self._publish(channel_topic(self.site, self.gateway, Channel.READINGS), encode(batch))

    def online(self) -> None:
        status = GatewayStatus(
            gateway=self.gateway, state=GatewayState.ONLINE, ts=datetime.now(UTC)
        )
        self._publish(channel_topic(self.site, self.gateway, Channel.STATUS), encode(status))

    def count(self, device: str, value: int) -> None:
        self.send(
            OccupancyReading(
                id=uuid.uuid4().hex,
                device=device,
                ts=datetime.now(UTC),
                source=OccupancySource.PRESENCE,
                count=value,
            )
        )

    def flow(self, device: str, entries: int, exits: int) -> None:
        self.send(
            OccupancyReading(
                id=uuid.uuid4().hex,
                device=device,
                ts=datetime.now(UTC),
                source=OccupancySource.COUNTER,
                entries=entries,
                exits=exits,
            )
        )

    def door(self, device: str, state: DoorState) -> None:
        self.send(
            DoorReading(
                id=uuid.uuid4().hex,
                device=device,
                ts=datetime.now(UTC),
                state=state,
                role=DoorRole.FIRE_DOOR,
            )
        )

    def alarm(self, device: str) -> None:
        """A detector's alarm through the priority lane, as the gateway sends it."""
        self.seq += 1
        now = datetime.now(UTC)
        event = AlarmEvent(
            gateway=self.gateway,
            seq=self.seq,
            sent_at=now,
            reading=SmokeReading(
                id=uuid.uuid4().hex, device=device, ts=now, state=SmokeState.ALARM
            ),
            actions=["sounder"],
        )
        self._publish(channel_topic(self.site, self.gateway, Channel.ALARM), encode(event))

    def smoke(self, device: str, state: SmokeState) -> None:
        self.send(
            SmokeReading(id=uuid.uuid4().hex, device=device, ts=datetime.now(UTC), state=state)
        )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class LiveServer:
    """The server app (with the dashboards router, the alert lifecycle and the inspection log)
    served by uvicorn in a thread."""

    def __init__(self, settings: ServerSettings) -> None:
        self.app: FastAPI = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Open event streams would hold a graceful shutdown forever; 2 s is plenty for the
        # ordinary requests of a test.
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        wait_for(lambda: self.server.started, 20, "uvicorn to start")
        wait_for(self._ready, 20, "the server to be ready")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds, or fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Deployment:
    """What the tests drive: the live server, the ids of its two sites and their gateways."""

    def __init__(
        self,
        server: LiveServer,
        fleet: Fleet,
        fleet2: Fleet,
        site: str,
        site2: str,
    ) -> None:
        self.server = server
        self.fleet = fleet
        self.fleet2 = fleet2
        self.site = site
        self.site2 = site2


@pytest.fixture(scope="module")
def deployment(
    mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A running server with a two-site registry, fed by two simulated gateways."""
    uid = "d" + uuid.uuid4().hex[:10]
    site, site2 = f"{uid}a", f"{uid}b"
    tmp = tmp_path_factory.mktemp("dash")
    registry = tmp / "registry.yaml"
    registry.write_text(
        REGISTRY_YAML.format(site=site, site2=site2, gateway=f"{site}-gw", gateway2=f"{site2}-gw"),
        encoding="utf-8",
    )
    settings = ServerSettings(  # type: ignore[call-arg]
        _env_file=None,
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        mqtt_client_id=f"srv-{uid}",
        records_url=f"sqlite:///{tmp / 'records.db'}",
        sqlite_path=tmp / "telemetry.db",
        influx_spool_path=tmp / "spool.db",
        registry_path=registry,
        http_port=0,
    )
    server = LiveServer(settings)
    server.start()
    fleet = Fleet(mosquitto, site, f"{site}-gw")
    fleet2 = Fleet(mosquitto, site2, f"{site2}-gw")
    fleet.online()
    fleet2.online()
    fleet.count(f"{site}-cnt-1", 5)
    fleet.count(f"{site}-cnt-3", 7)
    fleet.flow(f"{site}-cnt-2", 20, 4)
    fleet.door(f"{site}-door-1", DoorState.CLOSED)
    fleet.smoke(f"{site}-smk-1", SmokeState.NORMAL)
    fleet2.count(f"{site2}-cnt-1", 3)
    deployment = Deployment(server, fleet, fleet2, site, site2)
    wait_for(
        lambda: (
            len(server.get("/latest", site=site)) >= 5
            and len(server.get("/latest", site=site2)) >= 1
        ),
        20,
        "the first readings to be stored",
    )
    yield deployment
    fleet.close()
    fleet2.close()
    server.stop()
