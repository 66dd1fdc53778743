"""Export a busy site's year (≈100,000 inspection-log entries) as CSV, JSON and PDF and show that
memory stays flat as the entry count grows.

Each (format, size) runs twice in fresh child processes so that peaks do not mix: once for the
export time and the resident memory (RSS sampled every 2,000 entries; the figure is its highest
value during the export minus the value just before it, after the CJK font is parsed), once under
tracemalloc for the Python heap peak during the export (tracemalloc slows the run, so that run
is not timed).

    .venv/bin/python bench/inspection_export.py [--sizes 10000,30000,100000] [--http]

"CPU s" is the exporting process's CPU time (less noisy than the wall clock on a shared machine).
``--http`` then serves the same database with the Linli server (``python -m ingest_server``, no
broker needed for this) and downloads each export from ``GET /inspection-log/export`` as a
browser would: the time to the last byte of the streamed response, the server's CPU time for
it and the server's RSS growth while it streams.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ingest_server.db import make_engine
from ingest_server.inspection_log import (
    AlarmAcknowledged,
    AlarmRaised,
    Category,
    DetectorSelfTest,
    Exporter,
    InspectionLog,
    ManualPayload,
    NewEntry,
    Query,
    find_cjk_font,
    load_font,
)
from protocol import ManualClock

START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_S = 365 * 86400


def _entry(i: int, n: int) -> NewEntry:
    when = START + timedelta(seconds=i * YEAR_S // n)
    kind = i % 4
    if kind == 0:
        payload: object = AlarmRaised(
            alert_id=f"a{i}", rule="smoke.alarm", severity="critical", room="r2", device="smoke-3"
        )
        return NewEntry(Category.ALARM_RAISED, payload, "rules", when)  # type: ignore[arg-type]
    if kind == 1:
        payload = AlarmAcknowledged(alert_id=f"a{i - 1}", by="值班员王芳", response_seconds=37.2)
        return NewEntry(Category.ALARM_ACKNOWLEDGED, payload, "王芳", when)  # type: ignore[arg-type]
    if kind == 2:
        payload = DetectorSelfTest(device=f"smoke-{i % 40}", room="r1", result="pass")
        return NewEntry(Category.DETECTOR_SELF_TEST, payload, "gateway", when)  # type: ignore[arg-type]
    payload = ManualPayload(
        inspector="张三",
        checklist={"exits_clear": "pass", "fire_doors_closed": "pass"},  # type: ignore[dict-item]
        remarks="二楼走廊通道畅通，防火门关闭",
    )
    return NewEntry(Category.PATROL, payload, "张三", when)  # type: ignore[arg-type]


def populate(db: Path, sizes: list[int]) -> None:
    engine = make_engine(f"sqlite:///{db}")
    log = InspectionLog(engine, ManualClock(START + timedelta(days=366)))
    log.create_tables()
    for n in sizes:
        site = f"site{n}"
        # Batches of 5,000 keep each transaction's row list small.
        for lo in range(0, n, 5000):
            log.append_many(site, (_entry(i, n) for i in range(lo, min(n, lo + 5000))))
    engine.dispose()


def _rss() -> int:
    """Resident set size now, in bytes."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def child(db: Path, fmt: str, n: int, heap: bool) -> None:
    engine = make_engine(f"sqlite:///{db}")
    log = InspectionLog(engine, ManualClock(START + timedelta(days=366)))
    font = load_font(find_cjk_font())
    exporter = Exporter(log, site_names={f"site{n}": "阳光社区嵌入式服务中心"}, font=lambda: font)
    rss_before = rss_high = _rss()

    def sample(done: int) -> None:
        nonlocal rss_high
        if done % 2000 == 0:
            rss_high = max(rss_high, _rss())

    if heap:
        tracemalloc.start()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    written = 0
    chunks = exporter.chunks(Query(site=f"site{n}"), fmt, "zh", progress=sample)  # type: ignore[arg-type]
    for chunk in chunks:
        written += len(chunk)
    rss_high = max(rss_high, _rss())
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak = tracemalloc.get_traced_memory()[1] if heap else 0
    print(
        json.dumps(
            {
                "s": elapsed,
                "cpu": cpu,
                "bytes": written,
                "heap": peak,
                "rss_before": rss_before,
                "rss_growth": rss_high - rss_before,
            }
        )
    )


def _run(db: Path, fmt: str, n: int, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(db), fmt, str(n), mode],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--formats", default="csv,json,pdf")
    parser.add_argument("--http", action="store_true", help="also through the server's endpoint")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], int(args.child[2]), args.child[3] == "heap")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "records.db"
        t0 = time.perf_counter()
        populate(db, sizes)
        total = sum(sizes)
        print(f"populated {total:,} entries in {time.perf_counter() - t0:.1f} s (append_many)")
        print(f"load average at start: {_load()}")
        print(
            f"{'format':<6} {'entries':>8} {'time s':>8} {'entries/s':>10} {'output MB':>10}"
            f" {'heap peak MB':>13} {'RSS MB':>7} {'RSS growth MB':>14} {'CPU s':>6}"
        )
        for fmt in formats:
            for n in sizes:
                r = _run(db, fmt, n, "time")
                heap = _run(db, fmt, n, "heap")["heap"]
                print(
                    f"{fmt:<6} {n:>8,} {r['s']:>8.2f} {n / r['s']:>10,.0f}"
                    f" {r['bytes'] / 1e6:>10.1f} {heap / 1e6:>13.2f}"
                    f" {r['rss_before'] / 1e6:>7.1f} {r['rss_growth'] / 1e6:>14.2f}"
                    f" {r['cpu']:>6.2f}"
                )
        if args.http:
            _http(Path(tmp), db, formats, max(sizes))
    print(f"load average at end: {_load()}")
    print(
        f"reproduce: .venv/bin/python bench/inspection_export.py --sizes {args.sizes}"
        f" --formats {args.formats}{' --http' if args.http else ''}"
    )


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _http(tmp: Path, db: Path, formats: list[str], n: int) -> None:
    """Each export of the largest site through the server, timed to the last byte."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench._common import ServerHttp, proc_stats, server_env, wait_for
    from tests.services import free_port

    port = free_port()
    password = secrets.token_urlsafe(16)
    http = ServerHttp(f"http://127.0.0.1:{port}", password)
    env = {
        **os.environ,
        **server_env(password),
        # No broker: the consumer keeps retrying in the background; exports do not need it.
        "LINLI_MQTT_PORT": str(free_port()),
        "LINLI_HTTP_PORT": str(port),
        "LINLI_RECORDS_URL": f"sqlite:///{db}",
        "LINLI_SQLITE_PATH": str(tmp / "telemetry.db"),
        "LINLI_INSPECTION_REPORTS_DIR": str(tmp / "reports"),
    }
    log_path = tmp / "server.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest_server", "--log-level", "warning"],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
        try:
            return http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(ready, 60, "the Linli server")
        print(f"through HTTP: GET /inspection-log/export?site=site{n}&format=…, pid {proc.pid}")
        print(f"{'format':<6} {'entries':>8} {'to last byte s':>15} {'server CPU s':>13}"
              f" {'output MB':>10} {'server RSS MB':>14} {'RSS growth MB':>14}")  # fmt: skip
        with http.client(timeout=600) as client:
            for fmt in formats:
                params = {"site": f"site{n}", "format": fmt, "lang": "zh"}
                cpu0, rss0 = proc_stats(proc.pid)
                rss_high = rss0
                size = 0
                t0 = time.perf_counter()
                with client.stream("GET", "/inspection-log/export", params=params) as resp:
                    resp.raise_for_status()
                    for i, block in enumerate(resp.iter_raw()):
                        size += len(block)
                        if i % 50 == 0:
                            rss_high = max(rss_high, proc_stats(proc.pid)[1])
                elapsed = time.perf_counter() - t0
                cpu1, rss1 = proc_stats(proc.pid)
                rss_high = max(rss_high, rss1)
                print(
                    f"{fmt:<6} {n:>8,} {elapsed:>15.2f} {cpu1 - cpu0:>13.2f} {size / 1e6:>10.1f}"
                    f" {rss0 / 1024:>14.1f} {(rss_high - rss0) / 1024:>14.2f}"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
