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
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from bench._common import access_settings  # noqa: E402
from bench._load import bench_registry, message_lines, registry_yaml  # noqa: E402
from ingest_server import ServerSettings, create_app  # noqa: E402
from ingest_server._consumer import _BATCH_BYTES  # noqa: E402
from ingest_server._pipeline import Inbound  # noqa: E402
from tests.services import InfluxDB, free_port  # noqa: E402


def _time_stage(obj: Any, method: str, name: str, into: dict[str, float]) -> None:
    """Wrap ``obj.method`` to add the calling thread's CPU seconds to ``into[name]``."""
    inner = getattr(obj, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            into[name] = into.get(name, 0.0) + time.thread_time() - t0

    setattr(obj, method, timed)


def _batches(inbound: list[Inbound], most: int) -> Iterator[list[Inbound]]:
    """Batches as the consumer's writer takes them: ≤ ``most`` messages, ≤ _BATCH_BYTES."""
    i = 0
    while i < len(inbound):
        batch, size = [inbound[i]], len(inbound[i].payload)
        i += 1
        while i < len(inbound) and len(batch) < most and size < _BATCH_BYTES:
            batch.append(inbound[i])
            size += len(inbound[i].payload)
            i += 1
        yield batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile the first repeat")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs on fresh ids; the least CPU is printed"
    )
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=25, help="functions listed under --profile")
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
        now = datetime.now(UTC)
        with TestClient(app):
            service = app.state.service
            pipeline, sinks = service.pipeline, service.sinks
            stage_cpu: dict[str, float] = {}
            _time_stage(service.store, "write", "store.write", stage_cpu)
            _time_stage(service.records, "write", "records.write", stage_cpu)
            _time_stage(pipeline, "_decode", "pipeline._decode", stage_cpu)
            for sink in sinks._sinks:
                _time_stage(sink, "on_readings", type(sink).__name__, stage_cpu)
            best: dict[str, float] = {}
            for repeat in range(args.repeats):
                # Fresh reading ids each repeat: every reading is new to the store and the sinks.
                inbound = [
                    Inbound(gw.readings_topic, line.encode(), now, 1, 1)
                    for gw in gateways[:4]
                    for line in message_lines(gw, args.messages // 4, args.per_message)
                ]
                n = len(inbound)
                stage_cpu.clear()
                t_decode_store = t_sinks = 0.0
                profiler = cProfile.Profile() if args.profile and repeat == 0 else None
                cpu0 = time.thread_time()
                if profiler:
                    profiler.enable()
                for batch in _batches(inbound, args.batch):
                    t0 = time.perf_counter()
                    result = pipeline.process(batch)
                    t1 = time.perf_counter()
                    sinks.dispatch(result.for_sinks, result.statuses, datetime.now(UTC))
                    t2 = time.perf_counter()
                    t_decode_store += t1 - t0
                    t_sinks += t2 - t1
                if profiler:
                    profiler.disable()
                cpu = time.thread_time() - cpu0
                print(
                    f"{n:,} messages × {args.per_message} readings, batches of ≤ {args.batch} "
                    f"(≤ {_BATCH_BYTES // 1024} KiB): "
                    f"decode+store {t_decode_store / n * 1e6:.0f} µs/msg, "
                    f"sinks (rules, live hub, inspections) {t_sinks / n * 1e6:.0f} µs/msg; "
                    f"writer-thread ceiling {n / (t_decode_store + t_sinks):,.0f} msg/s; "
                    f"CPU {cpu / n * 1e6:.0f} µs/msg"
                )
                for name, spent in [("CPU", cpu), *stage_cpu.items()]:
                    per_msg = spent / n * 1e6
                    best[name] = min(best.get(name, per_msg), per_msg)
                if profiler:
                    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
            print(
                f"writer-thread CPU µs/msg, least of {args.repeats} "
                "(decode = pipeline._decode; the rest of CPU is batching, metrics, dispatch):"
            )
            for name, spent in sorted(best.items(), key=lambda kv: -kv[1]):
                print(f"  {name:<24} {spent:8.1f}")
            print(
                f"reproduce: .venv/bin/python bench/pipeline_profile.py --per-message "
                f"{args.per_message} --messages {args.messages} --batch {args.batch} "
                f"--repeats {args.repeats} --store {args.store}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
