"""A 30-day utilization report for a 20-room site with 1-minute samples (pure computation).

Half the rooms report absolute counts, half door-counter entries/exits; the report covers
rooms, functions, the site, by hour / weekday / week, heatmaps and findings. Only the domain
computation is timed (building the samples is not); the store's query time is separate.
Occupancy series are built twice: from typed tuples with UTC datetimes, and from columns
(POSIX seconds and values, as a store returns them).

Run: .venv/bin/python bench/utilization.py [--days 30] [--rooms 20] [--repeat 3] [--store]

``--store`` also writes the samples to a SQLite telemetry store (as one reading each) and times
what ``GET /sites/{id}/utilization`` runs on it: the store's 5-minute buckets per room
(``ingest_server._occupancy.room_series``), the report, and its JSON (the response body).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rules import (
    CounterSample,
    CountSample,
    Function,
    Site,
    occupancy_from_count_columns,
    occupancy_from_counter,
    occupancy_from_counter_columns,
    occupancy_from_counts,
    utilization_report,
)

ZONE = ZoneInfo("Asia/Shanghai")


def build_site(rooms: int) -> Site:
    functions = list(Function)
    return Site.model_validate(
        {
            "id": "bench",
            "name": "基准测试中心",
            "jurisdiction": "hangzhou",
            "opening_hours": [
                {"days": [0, 1, 2, 3, 4], "open": "07:30", "close": "20:00"},
                {"days": [5, 6], "open": "09:00", "close": "17:00"},
            ],
            "rooms": [
                {
                    "id": f"r{i:02d}",
                    "name": f"房间{i}",
                    "function": functions[i % len(functions)].value,
                    "floor": 1 + i % 3,
                    "area_m2": 40 + 5 * i,
                }
                for i in range(rooms)
            ],
        }
    )


def samples(
    days: int, rooms: int, seed: int
) -> tuple[dict[str, list[CountSample]], dict[str, list[CounterSample]]]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=ZONE).astimezone(UTC)
    counts: dict[str, list[CountSample]] = {}
    counters: dict[str, list[CounterSample]] = {}
    for i in range(rooms):
        room = f"r{i:02d}"
        peak_hour = 8 + (i * 5) % 11
        level = 0
        rows_c: list[CountSample] = []
        rows_d: list[CounterSample] = []
        for minute in range(days * 24 * 60):
            ts = start + timedelta(minutes=minute)
            hour = (minute // 60) % 24
            target = max(0, 12 - 3 * abs(hour - peak_hour)) if 8 <= hour <= 19 else 0
            step = rng.choice((-1, 0, 0, 1)) + (
                1 if level < target else -1 if level > target else 0
            )
            new = max(0, level + step)
            if i % 2 == 0:
                rows_c.append(CountSample(ts, new))
            else:
                entries, exits = max(0, new - level), max(0, level - new)
                if rng.random() < 0.01:
                    exits += 1  # a missed entry: drift for the daily reset to remove
                rows_d.append(CounterSample(ts, entries, exits))
            level = new
        if rows_c:
            counts[room] = rows_c
        if rows_d:
            counters[room] = rows_d
    return counts, counters


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", action="store_true", help="also the endpoint on a store")
    args = parser.parse_args()
    site = build_site(args.rooms)
    counts, counters = samples(args.days, args.rooms, seed=1)
    n = sum(map(len, counts.values())) + sum(map(len, counters.values()))
    start = datetime(2026, 3, 1, tzinfo=ZONE)
    end = start + timedelta(days=args.days)
    count_cols = {
        r: ([s.ts.timestamp() for s in rows], [s.value for s in rows]) for r, rows in counts.items()
    }
    counter_cols = {
        r: ([s.ts.timestamp() for s in rows], [s.entries for s in rows], [s.exits for s in rows])
        for r, rows in counters.items()
    }
    tuple_times, column_times, report_times = [], [], []
    report = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        series = {room: occupancy_from_counts(rows) for room, rows in counts.items()}
        for room, rows in counters.items():
            series[room] = occupancy_from_counter(rows, timezone=site.timezone)
        t1 = time.perf_counter()
        columns = {room: occupancy_from_count_columns(*c) for room, c in count_cols.items()}
        for room, (times, entries, exits) in counter_cols.items():
            columns[room] = occupancy_from_counter_columns(
                times, entries, exits, timezone=site.timezone
            )
        t2 = time.perf_counter()
        report = utilization_report(site, columns, start=start, end=end)
        t3 = time.perf_counter()
        tuple_times.append(t1 - t0)
        column_times.append(t2 - t1)
        report_times.append(t3 - t2)
    assert report is not None
    corrections = sum(len(d.corrections) for d in report.drift)
    total = statistics.median(a + b for a, b in zip(column_times, report_times, strict=True))
    print(f"site: {args.rooms} rooms, {args.days} days, {n:,} one-minute samples")
    med = statistics.median
    print(f"occupancy series from tuples (UTC datetimes): median {med(tuple_times):.3f} s")
    print(f"occupancy series from columns (POSIX s):      median {med(column_times):.3f} s")
    print(f"utilization report:                           median {med(report_times):.3f} s")
    print(f"columns + report: median {total:.3f} s over {args.repeat} runs")
    print(
        f"site utilisation rate {report.total.summary.utilisation_rate or 0:.1%}, "
        f"{len(report.underused)} under-used functions, {len(report.complementary)} staggered-use "
        f"pairs, {corrections} drift corrections"
    )
    if args.store:
        _endpoint(site, counts, counters, start, end, args.repeat)
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(
        "reproduce: .venv/bin/python bench/utilization.py "
        f"--days {args.days} --rooms {args.rooms} --repeat {args.repeat}"
        + (" --store" if args.store else "")
    )
    return 0


def _endpoint(
    site: Site,
    counts: dict[str, list[CountSample]],
    counters: dict[str, list[CounterSample]],
    start: datetime,
    end: datetime,
    repeat: int,
) -> None:
    """The endpoint's work on a SQLite store holding the samples."""
    import tempfile

    from ingest_server import StoredReading
    from ingest_server._occupancy import room_series
    from ingest_server.store import SqliteStore
    from protocol import OccupancyReading, OccupancySource

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "telemetry.db")
        try:
            t0 = time.perf_counter()
            batch: list[StoredReading] = []

            def flush() -> None:
                store.write(batch)
                batch.clear()

            for room, rows_c in counts.items():
                for i, c in enumerate(rows_c):
                    reading = OccupancyReading(
                        id=f"{room}-{i}",
                        device=f"{room}-p",
                        ts=c.ts,
                        source=OccupancySource.PRESENCE,
                        count=c.value,
                    )
                    batch.append(StoredReading(reading, site.id, "gw", room, False))
                    if len(batch) >= 5000:
                        flush()
            for room, rows_d in counters.items():
                for i, d in enumerate(rows_d):
                    reading = OccupancyReading(
                        id=f"{room}-{i}",
                        device=f"{room}-c",
                        ts=d.ts,
                        source=OccupancySource.COUNTER,
                        entries=d.entries,
                        exits=d.exits,
                    )
                    batch.append(StoredReading(reading, site.id, "gw", room, False))
                    if len(batch) >= 5000:
                        flush()
            flush()
            print(f"store: {store.count():,} readings written in {time.perf_counter() - t0:.0f} s")
            query_t, report_t, json_t, cpu_t = [], [], [], []
            for _ in range(repeat):
                c0 = time.process_time()
                t0 = time.perf_counter()
                series = room_series(store, site, start, end)
                t1 = time.perf_counter()
                report = utilization_report(site, series, start=start, end=end)
                t2 = time.perf_counter()
                body = report.model_dump_json()
                t3 = time.perf_counter()
                cpu_t.append(time.process_time() - c0)
                query_t.append(t1 - t0)
                report_t.append(t2 - t1)
                json_t.append(t3 - t2)
        finally:
            store.close()
    med = statistics.median
    print(f"endpoint: store buckets (room_series) median {med(query_t):.3f} s")
    print(f"endpoint: utilization report              median {med(report_t):.3f} s")
    print(f"endpoint: response JSON ({len(body) / 1024:.0f} KiB)        median {med(json_t):.3f} s")
    total = med(a + b + c for a, b, c in zip(query_t, report_t, json_t, strict=True))
    print(f"endpoint total: median {total:.3f} s (CPU {med(cpu_t):.3f} s) over {repeat} runs")


if __name__ == "__main__":
    sys.exit(main())
