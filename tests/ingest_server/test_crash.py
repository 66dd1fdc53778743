"""Crash and outage: kill -9 the server under load; stop InfluxDB under load. Nothing lost,
nothing duplicated."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ingest_server import ServerSettings
from ingest_server._service import IngestService
from ingest_server.store import InfluxStore
from protocol import Channel, channel_topic
from tests.access import access_settings
from tests.ingest_server.conftest import REGISTRY_YAML, Publisher, wait_for
from tests.ingest_server.factories import batch_payload, occupancy_dict
from tests.services import InfluxDB, Mosquitto, free_port

REPO = Path(__file__).resolve().parents[2]
# Ten seconds keeps the suite fast; LINLI_TEST_OUTAGE_S=60 runs the one-minute outage by hand.
OUTAGE_S = float(os.environ.get("LINLI_TEST_OUTAGE_S", "10"))


class PacedPublisher(threading.Thread):
    """Publishes ``messages`` batches of ``per_message`` readings, one every ``pause_s``."""

    def __init__(
        self,
        broker: Mosquitto,
        site: str,
        gateway: str,
        messages: int,
        per_message: int,
        pause_s: float,
    ) -> None:
        super().__init__(name="paced-publisher", daemon=True)
        self.publisher = Publisher(broker, f"pub-{gateway}")
        self.topic = channel_topic(site, gateway, Channel.READINGS)
        self.gateway = gateway
        self.messages = messages
        self.per_message = per_message
        self.pause_s = pause_s
        self.sent = 0
        self.ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            now = datetime.now(UTC)
            for m in range(self.messages):
                readings = []
                for r in range(self.per_message):
                    rid = f"{self.gateway}-{m:05d}-{r:02d}"
                    ts = now + timedelta(milliseconds=m * self.per_message + r)
                    readings.append(occupancy_dict(rid, "pres-1", ts, r))
                    self.ids.append(rid)
                info = self.publisher.publish(
                    self.topic, batch_payload(self.gateway, readings, seq=m)
                )
                info.wait_for_publish(30)
                assert info.is_published()
                self.sent += 1
                time.sleep(self.pause_s)
        except BaseException as exc:
            self.error = exc
        finally:
            self.publisher.close()


def stored_ids(path: Path) -> tuple[int, set[str]]:
    if not path.exists():
        return 0, set()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id FROM readings").fetchall()
    except sqlite3.OperationalError:
        return 0, set()
    finally:
        conn.close()
    return len(rows), {r[0] for r in rows}


@pytest.fixture
def server_process(
    mosquitto: Mosquitto, tmp_path: Path, unique_id: str
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start ``python -m ingest_server`` as a real process (ready when /readyz says so)."""
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY_YAML.format(site=unique_id, gateway=f"{unique_id}-gw"))
    port = free_port()
    env = {
        **os.environ,
        "LINLI_MQTT_HOST": mosquitto.host,
        "LINLI_MQTT_PORT": str(mosquitto.port),
        "LINLI_MQTT_CLIENT_ID": f"srv-{unique_id}",
        "LINLI_MQTT_SITE": unique_id,
        "LINLI_RECORDS_URL": f"sqlite:///{tmp_path / 'records.db'}",
        "LINLI_SQLITE_PATH": str(tmp_path / "telemetry.db"),
        "LINLI_REGISTRY_PATH": str(registry),
        "LINLI_HTTP_PORT": str(port),
        **{f"LINLI_{k.upper()}": v for k, v in access_settings().items()},
    }
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"server-{len(procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest_server", "--log-level", "warning"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        procs.append(proc)

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / f"server-{len(procs) - 1}.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 30, "the server process to be ready")
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_kill_9_under_load_then_restart_stores_every_reading_once(
    mosquitto: Mosquitto,
    server_process: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
    unique_id: str,
) -> None:
    db = tmp_path / "telemetry.db"
    server = server_process()
    pub = PacedPublisher(mosquitto, unique_id, f"{unique_id}-gw", 400, 5, 0.004)
    pub.start()
    wait_for(lambda: stored_ids(db)[0] >= 300, 30, "some readings stored before the kill")
    server.kill()
    server.wait()
    killed_at = pub.sent
    time.sleep(0.3)  # let the publisher carry on with no server at all
    server_process()
    pub.join(60)
    assert pub.error is None
    assert killed_at < pub.messages, "the kill came after the publisher finished"
    wait_for(lambda: stored_ids(db)[0] >= len(pub.ids), 60, "every reading after the restart")
    count, ids = stored_ids(db)
    assert count == len(pub.ids) == 2000
    assert ids == set(pub.ids)


def test_influxdb_outage_under_load_loses_and_duplicates_nothing(
    mosquitto: Mosquitto,
    own_influxdb: InfluxDB,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    unique_id: str,
) -> None:
    service = run_service(
        settings_for(
            mosquitto,
            store="influxdb",
            influx_url=own_influxdb.url,
            influx_database=unique_id,
            influx_create_database=True,
        )
    )
    store = service.store
    assert isinstance(store, InfluxStore)
    pub = PacedPublisher(mosquitto, unique_id, f"{unique_id}-gw", 300, 5, 0.01)
    pub.start()
    wait_for(lambda: store.count() >= 200, 30, "points in InfluxDB before the outage")
    own_influxdb.stop()
    down_at = time.monotonic()
    pub.join(60)
    assert pub.error is None
    # Every message is acked and spooled while InfluxDB is down.
    wait_for(lambda: service.metrics.get("stored") == 1500, 30, "all readings spooled")
    assert store.spool_depth() > 0
    assert not store.ping()
    # Keep InfluxDB down for OUTAGE_S in all (the flusher backs off meanwhile).
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    own_influxdb.start()
    assert store.wait_flushed(40), "the spool did not drain after InfluxDB returned"
    result = own_influxdb.query(
        'SELECT count("id"), count(distinct("id")) FROM "occupancy"', unique_id
    )
    values = result["results"][0]["series"][0]["values"][0]  # type: ignore[index]
    assert values[1:] == [1500, 1500]
    assert service.metrics.get("duplicates") == 0
