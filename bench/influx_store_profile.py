"""CPU and wall cost of the InfluxDB store alone (no MQTT, no decode, no rules), against a real
influxd: the writer's ``write()`` per reading (the spool commit MQTT acks wait for) while the
flusher drains the spool to InfluxDB concurrently, as in the server. Prints µs per reading of the
writer thread (wall and CPU), the process's CPU per reading (writer + flusher + HTTP), and the
rate at which readings arrived in InfluxDB. With ``--profile`` the top functions under cProfile
(writer thread only). On a shared machine compare the CPU figures.

    .venv/bin/python bench/influx_store_profile.py --readings 100000 --batch 100
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest_server import StoredReading  # noqa: E402
from ingest_server.store import InfluxStore  # noqa: E402
from protocol import OccupancyReading, OccupancySource  # noqa: E402
from tests.services import InfluxDB  # noqa: E402


def readings(n: int, gateways: int = 4, devices: int = 16) -> list[StoredReading]:
    """Counter readings like the harness's load: 1 ms apart, rotating over devices."""
    start = datetime.now(UTC) - timedelta(milliseconds=n)
    out = []
    for i in range(n):
        gw = i % gateways
        dev = (i // gateways) % devices
        reading = OccupancyReading(
            id=f"bench-{i}",
            device=f"b{gw:03d}-cnt-{dev:02d}",
            ts=start + timedelta(milliseconds=i),
            source=OccupancySource.COUNTER,
            entries=i & 1,
            exits=i & 1,
        )
        out.append(StoredReading(reading, f"b{gw:03d}", f"b{gw:03d}-gw", f"r{dev:02d}", False))
    return out


def _spin(halt: threading.Event) -> None:
    """Holds the GIL as much as a pure-Python loop does, until ``halt``."""
    n = 0
    while not halt.is_set():
        n += sum(range(200))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100, help="readings per write() call")
    parser.add_argument("--flush-batch", type=int, default=None, help="InfluxStore batch_size")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--busy-thread",
        action="store_true",
        help="run a pure-Python thread meanwhile, as the server's MQTT network thread under load",
    )
    args = parser.parse_args()
    data = readings(args.readings)
    with tempfile.TemporaryDirectory(prefix="linli-influx-store-") as tmp:
        wd = Path(tmp)
        influx = InfluxDB(wd / "influxd")
        influx.start()
        try:
            influx.create_database("bench")
            extra = {"batch_size": args.flush_batch} if args.flush_batch else {}
            store = InfluxStore(influx.url, "bench", spool_path=wd / "spool.db", **extra)
            halt = threading.Event()
            if args.busy_thread:
                threading.Thread(target=_spin, args=(halt,), daemon=True).start()
            try:
                profiler = cProfile.Profile() if args.profile else None
                cpu0, proc0, t0 = time.thread_time(), time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                for i in range(0, len(data), args.batch):
                    store.write(data[i : i + args.batch])
                if profiler:
                    profiler.disable()
                t1, cpu1 = time.perf_counter(), time.thread_time()
                spooled = store.spool_depth()
                if not store.wait_flushed(600):
                    print("the spool did not drain within 600 s", file=sys.stderr)
                    return 1
                t2, proc2 = time.perf_counter(), time.process_time()
                stored = store.count()
            finally:
                halt.set()
                store.close()
        finally:
            influx.stop()
    n = len(data)
    print(
        f"{n:,} readings in write() calls of {args.batch}: writer {(t1 - t0) / n * 1e6:.1f} µs "
        f"wall, {(cpu1 - cpu0) / n * 1e6:.1f} µs CPU per reading ({n / (t1 - t0):,.0f}/s); "
        f"{spooled:,} still spooled when the writes ended; all in InfluxDB after "
        f"{t2 - t0:.1f} s ({n / (t2 - t0):,.0f} readings/s); process CPU "
        f"{(proc2 - proc0) / n * 1e6:.1f} µs per reading (writer + flusher); "
        f"InfluxDB counts {stored:,}"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
