"""Occupancy series of a site's rooms from the store, for the utilization metrics of ``rules``.

On the SQLite store the five-minute buckets are read as plain columns (the same query as
``SqliteStore.occupancy`` on raw readings, without a bucket object and a datetime per bucket,
which cost as much as the query for a 30-day report); any other store, or a failing read, goes
through the port.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from ingest_server._model import OccupancyBucket, from_us, to_us
from ingest_server.store import SqliteStore, TimeSeriesStore
from rules import (
    OccupancySeries,
    Site,
    occupancy_from_count_columns,
    occupancy_from_counter_columns,
)

__all__ = ["STEP", "room_series"]

log = logging.getLogger(__name__)

# Five-minute buckets keep a 30-day, 20-room report to ~170k points while staying far finer
# than the hour the metrics are reported by.
STEP = timedelta(minutes=5)


def _series(
    buckets: list[OccupancyBucket], *, timezone: str, start: datetime
) -> OccupancySeries | None:
    counts = [(b.start.timestamp(), b.mean_count) for b in buckets if b.mean_count is not None]
    if counts:
        return occupancy_from_count_columns(
            [t for t, _ in counts], [v for _, v in counts], max_hold=3 * STEP
        )
    flows = [
        (b.start.timestamp(), b.entries or 0, b.exits or 0)
        for b in buckets
        if b.entries is not None or b.exits is not None
    ]
    if flows:
        return occupancy_from_counter_columns(
            [t for t, _, _ in flows],
            [e for _, e, _ in flows],
            [x for _, _, x in flows],
            timezone=timezone,
            start=start,
        )
    return None


def _column_series(
    rows: list[tuple[int, int | None, int, int | None, int | None, int]],
    *,
    timezone: str,
    start: datetime,
) -> OccupancySeries | None:
    """:func:`_series` of (bucket µs, sum count, n count, entries, exits, n counter) rows."""
    # from_us(b).timestamp() is b / 10**6 exactly: both divide the integer microseconds.
    counts = [(b / 1_000_000, (total or 0) / n) for b, total, n, _e, _x, _nc in rows if n]
    if counts:
        return occupancy_from_count_columns(
            [t for t, _ in counts], [v for _, v in counts], max_hold=3 * STEP
        )
    flows = [(b / 1_000_000, e or 0, x or 0) for b, _t, _n, e, x, nc in rows if nc]
    if flows:
        return occupancy_from_counter_columns(
            [t for t, _, _ in flows],
            [e for _, e, _ in flows],
            [x for _, _, x in flows],
            timezone=timezone,
            start=start,
        )
    return None


# SqliteStore.occupancy's query on raw readings (a step that is not whole hours).
_BUCKETS = (
    "SELECT ts_us / :step * :step AS b, sum(count), count(count), sum(entries), sum(exits),"
    " count(entries) FROM readings WHERE site = :site AND room = :room AND kind = 'occupancy'"
    " AND ts_us >= :lo AND ts_us < :hi GROUP BY b ORDER BY b"
)


def _sqlite_series(
    path: Path, site: Site, start: datetime, end: datetime, rooms: list[str]
) -> dict[str, OccupancySeries]:
    series: dict[str, OccupancySeries] = {}
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        # As the store's own readers: wait for the writer rather than fail; never write.
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA query_only=ON")
        for room in rooms:
            params = {
                "step": to_us(from_us(0) + STEP),
                "site": site.id,
                "room": room,
                "lo": to_us(start),
                "hi": to_us(end),
            }
            rows = conn.execute(_BUCKETS, params).fetchall()
            found = _column_series(rows, timezone=site.timezone, start=start)
            if found is not None:
                series[room] = found
    finally:
        conn.close()
    return series


def room_series(
    store: TimeSeriesStore,
    site: Site,
    start: datetime,
    end: datetime,
    rooms: set[str] | None = None,
) -> dict[str, OccupancySeries]:
    """Occupancy per room id (absolute counts where a room has them, else door counters)."""
    wanted = [room.id for room in site.rooms if rooms is None or room.id in rooms]
    if isinstance(store, SqliteStore):
        try:
            return _sqlite_series(store.path, site, start, end, wanted)
        except sqlite3.Error as exc:
            log.warning(
                "occupancy of %s: direct SQLite read failed (%s); using the port", site.id, exc
            )
    series: dict[str, OccupancySeries] = {}
    for room_id in wanted:
        buckets = store.occupancy(site.id, room_id, start, end, STEP)
        found = _series(buckets, timezone=site.timezone, start=start)
        if found is not None:
            series[room_id] = found
    return series
