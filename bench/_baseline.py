"""The Python baselines, each run as its own process by the harness:

- ``count``: a bare paho-mqtt subscriber (QoS 1) that only counts messages: the ceiling of a
  Python MQTT consumer on this machine.
- ``influx``: a bare subscriber that parses each message and writes its readings to InfluxDB in
  batches, the way a quick script would: line protocol POSTed to the v1 ``/write`` endpoint
  (Debian's influxd 1.6 serves only the v1 API, so influxdb-client's v2 write API cannot be used,
  and its v1-compatibility mode needs InfluxDB ≥ 1.8), every 5,000 points or every second.

Both subscribe with QoS 1 and ack on receipt (paho's default), print ``ready`` once subscribed
and ``count N`` (messages received) every 0.2 s on stdout; failed writes go to stderr.

    .venv/bin/python bench/_baseline.py count --port 1883
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from datetime import datetime

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

# What influxdb-client's batching write API defaults to (batch_size=1000 .. 5000, 1 s flush).
BATCH_POINTS = 5000
FLUSH_S = 1.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["count", "influx"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", default="linli/v1/+/+/up/readings")
    parser.add_argument("--influx-url")
    parser.add_argument("--database")
    args = parser.parse_args()

    received = 0
    lock = threading.Lock()
    pending: list[str] = []
    stop = threading.Event()

    def on_count(_c: object, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1

    def on_influx(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal received
        body = json.loads(msg.payload)
        lines = []
        for r in body["readings"]:
            ns = int(datetime.fromisoformat(r["ts"]).timestamp() * 1e9)
            lines.append(
                f"occupancy,device={r['device']},gateway={body['gateway']} "
                f"entries={r['entries']}i,exits={r['exits']}i {ns}"
            )
        with lock:
            pending.extend(lines)
            received += 1

    def writer() -> None:
        assert args.influx_url
        assert args.database
        with httpx.Client(base_url=args.influx_url, timeout=30) as http:
            last = time.monotonic()
            while not stop.is_set():
                with lock:
                    due = len(pending) >= BATCH_POINTS or time.monotonic() - last >= FLUSH_S
                    batch = pending[:BATCH_POINTS] if due else []
                    del pending[: len(batch)]
                if not batch:
                    time.sleep(0.01)
                    continue
                last = time.monotonic()
                try:
                    resp = http.post(
                        "/write",
                        params={"db": args.database, "precision": "ns"},
                        content="\n".join(batch).encode(),
                    )
                except httpx.HTTPError as exc:
                    print(f"write failed: {exc}", file=sys.stderr, flush=True)
                    continue
                if resp.status_code != 204:
                    print(f"write failed: {resp.status_code} {resp.text[:200]}", file=sys.stderr)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bare-{uuid.uuid4().hex[:8]}")
    client.on_message = on_count if args.mode == "count" else on_influx
    subscribed = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(args.topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(args.host, args.port)
    client.loop_start()
    threads = []
    if args.mode == "influx":
        threads.append(threading.Thread(target=writer, daemon=True))
        threads[-1].start()
    # Ready once the broker has the subscription: messages published earlier would be lost.
    if not subscribed.wait(30):
        print("no SUBACK within 30 s", file=sys.stderr)
        return 1
    print("ready", flush=True)
    try:
        while True:
            print(f"count {received}", flush=True)
            time.sleep(0.2)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        stop.set()
        client.loop_stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
