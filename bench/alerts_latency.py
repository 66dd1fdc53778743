"""Latency from an edge's MQTT publish of a smoke alarm to the alert event on the SSE stream.

Runs a real Mosquitto, the alert pipeline (engine → SQLite lifecycle → dispatcher), the alert
router under uvicorn, and reads ``/alerts/stream`` over HTTP. Each sample publishes an alarm of
a fresh room's detector and waits for its "fired" event. Twice: idle, then while a background
publisher sends occupancy batches to the same site. The consumer is a stand-in (decode, then
``AlertPipeline.on_readings``) that makes the same calls as the ingest consumer, but without its
store write, so the ingest store's own cost is not in these figures.

    .venv/bin/python bench/alerts_latency.py [--samples 200] [--load-rate 40] [--batch 50]

The load publisher runs in the same process (and on the same 2 cores) as the consumer, so a
high ``--load-rate`` measures the machine saturating, not the alert path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import uvicorn
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest_server.alerts import (
    DEFAULT_PACK_DIR,
    AlertPipeline,
    AlertService,
)
from ingest_server.alerts.api import router
from ingest_server.db import make_engine
from ingest_server.notify import Dispatcher, NotifySettings, build_channels
from protocol import (
    AlarmEvent,
    Channel,
    GatewayStatus,
    OccupancyReading,
    OccupancySource,
    ReadingBatch,
    SmokeReading,
    SmokeState,
    SystemClock,
    channel_topic,
    decode_message,
    encode,
    readings_of,
    server_subscriptions,
)
from rules.facility import Site
from rules.live import LiveEngine, parse_pack
from tests.services import Mosquitto, free_port

SITE, GATEWAY = "bench", "benchgw"


def make_site(rooms: int) -> Site:
    devices: list[dict[str, Any]] = []
    for i in range(rooms):
        devices.append({"id": f"smk{i}", "kind": "smoke", "room": f"r{i}"})
        devices.append({"id": f"cnt{i}", "kind": "counter", "room": f"r{i}"})
    return Site.model_validate(
        {
            "id": SITE,
            "name": "基准站点",
            "rooms": [{"id": f"r{i}", "name": f"房间{i}", "floor": 1} for i in range(rooms)],
            "gateways": [{"id": GATEWAY, "heartbeat_s": 3600, "devices": devices}],
        }
    )


class Loader(threading.Thread):
    """Publishes occupancy batches at ``rate`` messages per second until stopped."""

    def __init__(self, host: str, port: int, rooms: int, rate: float, batch: int) -> None:
        super().__init__(daemon=True)
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.max_queued_messages_set(10_000)
        self.client.connect(host, port)
        self.client.loop_start()
        self.rooms, self.rate, self.batch = rooms, rate, batch
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        clock = SystemClock()
        topic = channel_topic(SITE, GATEWAY, Channel.READINGS)
        seq, n = 0, 0
        started = time.monotonic()
        while not self.stop_event.is_set():
            now = clock.now()
            readings = []
            for _ in range(self.batch):
                n += 1
                readings.append(
                    OccupancyReading(
                        id=f"load-{n}",
                        device=f"cnt{n % self.rooms}",
                        ts=now,
                        source=OccupancySource.COUNTER,
                        entries=1,
                        exits=1,
                    )
                )
            seq += 1
            message = ReadingBatch(gateway=GATEWAY, sent_at=now, seq=seq, readings=readings)
            self.client.publish(topic, encode(message), qos=1)
            self.sent += 1
            delay = started + self.sent / self.rate - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)
        self.client.loop_stop()
        self.client.disconnect()


async def measure(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="linli-bench-"))
    broker = Mosquitto(workdir / "mosquitto")
    broker.start()
    clock = SystemClock()
    rooms = args.samples * 2 + 10
    site = make_site(rooms)
    pack = parse_pack((DEFAULT_PACK_DIR / "national.yaml").read_text(), "national.yaml")
    settings = NotifySettings.model_validate(
        {
            "channels": [{"type": "sse", "name": "dashboard"}],
            "routes": [{"name": "dashboard", "channels": ["dashboard"], "min_severity": "info"}],
        }
    )
    channels = build_channels(settings, clock)
    db_dir = Path(args.db_dir) if args.db_dir else workdir
    db = make_engine(f"sqlite:///{db_dir / f'records-{workdir.name}.db'}")
    engine = LiveEngine([site], {"national": pack}, {}, start=clock.now())
    processed = [0]
    try:
        async with Dispatcher(settings, channels, clock) as dispatcher:
            service = AlertService(db, clock, sink=dispatcher.submit)
            service.create_tables()
            pipeline = AlertPipeline(engine, service, clock)

            consumer = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
            subscribed = threading.Event()

            def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
                decoded = decode_message(message.topic, message.payload, now=clock.now())
                if isinstance(decoded.message, GatewayStatus):
                    pipeline.on_status(decoded.message)
                elif isinstance(decoded.message, ReadingBatch | AlarmEvent):
                    pipeline.on_readings(readings_of(decoded.message))
                if isinstance(decoded.message, ReadingBatch):
                    processed[0] += 1

            consumer.on_connect = lambda c, *_: c.subscribe(
                [(f, 1) for f in server_subscriptions(SITE)]
            )
            consumer.on_subscribe = lambda *_: subscribed.set()
            consumer.on_message = on_message
            consumer.connect(broker.host, broker.port)
            consumer.loop_start()
            subscribed.wait(10)

            app = FastAPI()
            app.state.alert_service = service
            app.state.sse = channels["dashboard"]
            app.include_router(router)
            port = free_port()
            server = uvicorn.Server(
                uvicorn.Config(
                    app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
                )
            )
            serving = asyncio.create_task(server.serve())
            for _ in range(1000):  # 10 s at most
                if server.started:
                    break
                await asyncio.sleep(0.01)
            arrivals: dict[str, float] = {}
            waiters: dict[str, asyncio.Event] = {}
            connected = asyncio.Event()

            async def read_stream() -> None:
                async with (
                    httpx.AsyncClient(timeout=None) as client,
                    client.stream("GET", f"http://127.0.0.1:{port}/alerts/stream") as response,
                ):
                    event = ""
                    async for line in response.aiter_lines():
                        if line.startswith(": connected"):
                            connected.set()
                        elif line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("data: ") and event == "fired":
                            received = time.monotonic()
                            alert = json.loads(line[6:])["alert"]
                            if alert["rule"] == "smoke.alarm":
                                arrivals.setdefault(alert["subject"], received)
                                waiters.setdefault(alert["subject"], asyncio.Event()).set()

            reader = asyncio.create_task(read_stream())
            await connected.wait()
            edge = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
            edge.connect(broker.host, broker.port)
            edge.loop_start()

            async def run(label: str, first_room: int) -> None:
                latencies: list[float] = []
                for k in range(args.samples):
                    room = first_room + k
                    seq = k + 1
                    now = clock.now()
                    reading = SmokeReading(
                        id=f"{label}-{k}", device=f"smk{room}", ts=now, state=SmokeState.ALARM
                    )
                    alarm = AlarmEvent(gateway=GATEWAY, sent_at=now, seq=seq, reading=reading)
                    sent = time.monotonic()
                    edge.publish(channel_topic(SITE, GATEWAY, Channel.ALARM), encode(alarm), qos=1)
                    subject = f"{SITE}/r{room}"
                    arrived = waiters.setdefault(subject, asyncio.Event())
                    with contextlib.suppress(TimeoutError):  # a missing sample is counted
                        await asyncio.wait_for(arrived.wait(), 10)
                    if subject in arrivals:
                        latencies.append((arrivals[subject] - sent) * 1000)
                    # reset the detector: a site with hundreds of rooms in alarm is not the case
                    # being measured
                    reset = SmokeReading(
                        id=f"{label}-{k}-reset",
                        device=f"smk{room}",
                        ts=clock.now(),
                        state=SmokeState.NORMAL,
                    )
                    batch = ReadingBatch(
                        gateway=GATEWAY, sent_at=clock.now(), seq=seq, readings=[reset]
                    )
                    edge.publish(
                        channel_topic(SITE, GATEWAY, Channel.READINGS), encode(batch), qos=1
                    )
                    await asyncio.sleep(0.02)
                latencies.sort()
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                print(
                    f"{label:>6}: n={len(latencies)}/{args.samples}  "
                    f"median={statistics.median(latencies):.1f} ms  p99={p99:.1f} ms  "
                    f"max={latencies[-1]:.1f} ms"
                )

            await run("idle", 0)
            loader = Loader(broker.host, broker.port, rooms, args.load_rate, args.batch)
            before = processed[0]
            started = time.monotonic()
            loader.start()
            await run("loaded", args.samples)
            elapsed = time.monotonic() - started
            loader.stop()
            print(
                f"  load: {loader.sent / elapsed:.0f} batches/s of {args.batch} readings offered, "
                f"{(processed[0] - before) / elapsed:.0f} batches/s consumed"
            )
            edge.loop_stop()
            edge.disconnect()
            consumer.loop_stop()
            consumer.disconnect()
            reader.cancel()
            server.should_exit = True
            await serving
    finally:
        db.dispose()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--load-rate", type=float, default=40, help="batches per second")
    parser.add_argument("--batch", type=int, default=50, help="readings per batch")
    parser.add_argument(
        "--db-dir", help="directory of the records database (e.g. /dev/shm to leave out fsync)"
    )
    args = parser.parse_args()
    print(f"command: .venv/bin/python bench/alerts_latency.py {' '.join(sys.argv[1:])}".rstrip())
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
