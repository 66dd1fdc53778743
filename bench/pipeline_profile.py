"""CPU cost of the server's writer path per message, without MQTT: the real app (rules, alert
and inspection sinks on) takes batches of pre-encoded messages through the same calls as the
consumer's writer thread (decode → store → sinks). Prints µs per message by stage, and with
``--profile`` the top functions under cProfile. On a shared machine compare the CPU µs/msg
(this thread's CPU time), which other processes disturb far less than the wall-clock figures.

    .venv/bin/python bench/pipeline_profile.py --per-message 1 --messages 20000 [--profile]
        [--store influx]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from bench._common import access_settings  # noqa: E402
from bench._load import bench_registry, message_lines, registry_yaml  # noqa: E402
from ingest_server import ServerSettings, create_app  # noqa: E402
from ingest_server._pipeline import Inbound  # noqa: E402
from tests.services import InfluxDB, free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--store", choices=["sqlite", "influx"], default="sqlite", help="influx starts an influxd"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        wd = Path(tmp)
        store: dict[str, Any] = {}
        if args.store == "influx":
            influx = InfluxDB(wd / "influxd")
            influx.start()
            stack.callback(influx.stop)
            store = {
                "store": "influxdb",
                "influx_url": influx.url,
                "influx_create_database": True,
                "influx_spool_path": wd / "spool.db",
            }
        registry, gateways = bench_registry(16)
        (wd / "registry.yaml").write_text(registry_yaml(registry), encoding="utf-8")
        settings = ServerSettings(
            _env_file=None,  # type: ignore[call-arg]
            mqtt_port=free_port(),  # nothing listens: the consumer just retries
            records_url=f"sqlite:///{wd / 'records.db'}",
            sqlite_path=wd / "telemetry.db",
            registry_path=wd / "registry.yaml",
            **access_settings(),
            **store,
        )
        app = create_app(settings)
        per_gw = args.messages // 4
        inbound = []
        now = datetime.now(UTC)
        for gw in gateways[:4]:
            for line in message_lines(gw, per_gw, args.per_message):
                inbound.append(Inbound(gw.readings_topic, line.encode(), now, 1, 1))
        with TestClient(app):
            service = app.state.service
            pipeline, sinks = service.pipeline, service.sinks
            t_decode_store = t_sinks = 0.0
            cpu0 = time.thread_time()
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            for i in range(0, len(inbound), args.batch):
                batch = inbound[i : i + args.batch]
                t0 = time.perf_counter()
                result = pipeline.process(batch)
                t1 = time.perf_counter()
                sinks.dispatch(result.for_sinks, result.statuses, datetime.now(UTC))
                t2 = time.perf_counter()
                t_decode_store += t1 - t0
                t_sinks += t2 - t1
            cpu = time.thread_time() - cpu0
            if profiler:
                profiler.disable()
            n = len(inbound)
            write_s = service.metrics.render({}).split("store_write_seconds_sum ")[1].split()[0]
            print(
                f"{n:,} messages × {args.per_message} readings, batches of {args.batch}: "
                f"decode+store {t_decode_store / n * 1e6:.0f} µs/msg "
                f"(of which store commit {float(write_s) / n * 1e6:.0f}), "
                f"sinks (rules, inspections) {t_sinks / n * 1e6:.0f} µs/msg; "
                f"writer-thread ceiling {n / (t_decode_store + t_sinks):,.0f} msg/s; "
                f"CPU {cpu / n * 1e6:.0f} µs/msg"
            )
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
