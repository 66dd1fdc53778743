"""Sustained ingest throughput through a real Mosquitto, into each time-series store.

Prints readings/s for: a bare paho subscriber that only counts (QoS 1, the ceiling of a Python
consumer here), the server's consumer into SQLite, and into InfluxDB (acked = committed to the
spool; flushed = accepted by influxd). Publishers are several ``mosquitto_pub -l`` processes, so
the publisher is not the bottleneck. Each figure is for 1 reading per message and 50 per message.

Reproduce (from the repository root, with mosquitto, mosquitto-clients and influxdb installed):

    .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --messages 20000 --batch-messages 2000 --publishers 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._common import access_settings  # noqa: E402
from ingest_server import IngestService, ServerSettings  # noqa: E402
from ingest_server.store import InfluxStore  # noqa: E402
from protocol import Channel, SystemClock, channel_topic  # noqa: E402
from tests.services import InfluxDB, Mosquitto, find_binary  # noqa: E402

SITE = "bench"


def payload_lines(gateway: str, messages: int, per_message: int, tag: str) -> list[str]:
    now = datetime.now(UTC)
    lines = []
    for m in range(messages):
        readings = []
        for r in range(per_message):
            ts = now - timedelta(milliseconds=messages * per_message - m * per_message - r)
            readings.append(
                {
                    "kind": "occupancy",
                    "id": f"{tag}-{m}-{r}",
                    "device": f"pres-{r % 20}",
                    "ts": ts.isoformat(),
                    "source": "presence",
                    "count": r % 30,
                }
            )
        body = {"v": 1, "gateway": gateway, "sent_at": now.isoformat(), "seq": m}
        lines.append(json.dumps(body | {"readings": readings}, separators=(",", ":")))
    return lines


def publish(broker: Mosquitto, lines: list[str], publishers: int, workdir: Path) -> float:
    """Start ``publishers`` mosquitto_pub processes (one gateway each); return the start time."""
    binary = find_binary("mosquitto_pub", "/usr/bin")
    procs = []
    chunk = (len(lines) + publishers - 1) // publishers
    started = time.monotonic()
    for i in range(publishers):
        part = lines[i * chunk : (i + 1) * chunk]
        if not part:
            continue
        gateway = json.loads(part[0])["gateway"]
        path = workdir / f"pub-{i}.txt"
        path.write_text("\n".join(part) + "\n")
        topic = channel_topic(SITE, gateway, Channel.READINGS)
        with path.open("rb") as stdin:
            procs.append(
                subprocess.Popen(
                    [
                        *(binary, "-h", broker.host, "-p", str(broker.port), "-q", "1"),
                        *("-t", topic, "-l", "-i", f"bench-pub-{uuid.uuid4().hex[:8]}"),
                    ],
                    stdin=stdin,
                )
            )
    for proc in procs:
        proc.wait()
    return started


def lines_for(messages: int, per_message: int, publishers: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    per_pub = (messages + publishers - 1) // publishers
    out: list[str] = []
    for i in range(publishers):
        out += payload_lines(f"gw{i}", min(per_pub, messages - len(out)), per_message, f"{tag}{i}")
    return out


def wait_until(predicate: Callable[[], bool], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError("the consumer did not catch up in time")


def bench_bare(broker: Mosquitto, lines: list[str], publishers: int, workdir: Path) -> float:
    received = 0
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal received
        with lock:
            received += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bare-{uuid.uuid4().hex[:6]}")
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(f"linli/v1/{SITE}/+/up/readings", qos=1)
    client.loop_start()
    time.sleep(0.3)
    try:
        started = publish(broker, lines, publishers, workdir)
        done = wait_until(lambda: received >= len(lines), 600)
    finally:
        client.disconnect()
        client.loop_stop()
    return done - started


def bench_server(
    broker: Mosquitto,
    lines: list[str],
    readings: int,
    publishers: int,
    workdir: Path,
    influx: InfluxDB | None,
) -> tuple[float, float | None]:
    run = uuid.uuid4().hex[:8]
    extra: dict[str, object] = {}
    if influx is not None:
        influx.create_database(run)
        extra = {"store": "influxdb", "influx_url": influx.url, "influx_database": run}
    settings = ServerSettings(
        _env_file=None,  # type: ignore[call-arg]
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        mqtt_client_id=f"bench-{run}",
        mqtt_site=SITE,
        records_url=f"sqlite:///{workdir / f'records-{run}.db'}",
        sqlite_path=workdir / f"telemetry-{run}.db",
        influx_spool_path=workdir / f"spool-{run}.db",
        **extra,
        **access_settings(),
    )
    service = IngestService(settings, SystemClock())
    service.start()
    service.consumer.wait_connected(10)
    time.sleep(0.3)
    try:
        started = publish(broker, lines, publishers, workdir)
        acked = wait_until(lambda: service.metrics.get("stored") >= readings, 900)
        flushed = None
        if isinstance(service.store, InfluxStore):
            service.store.wait_flushed(900)
            flushed = time.monotonic() - started
    finally:
        service.stop()
    return acked - started, flushed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages at 1 reading")
    parser.add_argument("--batch-messages", type=int, default=2_000, help="messages at 50")
    parser.add_argument("--publishers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "mosquitto")
        influx = InfluxDB(workdir / "influxd")
        broker.start()
        influx.start()
        try:
            print(f"# bench/ingest.py, {args.publishers} mosquitto_pub publishers, QoS 1")
            print(
                f"{'consumer':<34}{'readings/msg':>13}{'messages':>10}{'readings/s':>12}{'msg/s':>9}"
            )
            for per_message, messages in ((1, args.messages), (50, args.batch_messages)):
                readings = per_message * messages
                lines = lines_for(messages, per_message, args.publishers)
                rows: list[tuple[str, float]] = []
                rows.append(
                    (
                        "bare paho subscriber (count only)",
                        bench_bare(broker, lines, args.publishers, workdir),
                    )
                )
                lines = lines_for(messages, per_message, args.publishers)
                secs, _ = bench_server(broker, lines, readings, args.publishers, workdir, None)
                rows.append(("server -> SQLite (acked)", secs))
                lines = lines_for(messages, per_message, args.publishers)
                secs, flushed = bench_server(
                    broker, lines, readings, args.publishers, workdir, influx
                )
                rows.append(("server -> InfluxDB spool (acked)", secs))
                assert flushed is not None
                rows.append(("server -> InfluxDB (flushed)", flushed))
                for name, seconds in rows:
                    print(
                        f"{name:<34}{per_message:>13}{messages:>10}"
                        f"{readings / seconds:>12,.0f}{messages / seconds:>9,.0f}"
                    )
            print(
                "# reproduce: .venv/bin/python bench/ingest.py "
                f"--messages {args.messages} --batch-messages {args.batch_messages} "
                f"--publishers {args.publishers}"
            )
        finally:
            influx.stop()
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
