"""Occupancy series of a site's rooms from the store, for the utilization metrics of ``rules``.

On the SQLite store the five-minute buckets are read as plain columns
(``SqliteStore.occupancy_columns``: no bucket object and datetime per bucket, which cost as much
as the query for a 30-day report); any other store, or a failing read, goes through the port.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ingest_server._errors import StoreError
from ingest_server._model import OccupancyBucket
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


def _from_points(
    counts: list[tuple[float, float]],
    flows: list[tuple[float, int, int]],
    *,
    timezone: str,
    start: datetime,
) -> OccupancySeries | None:
    """A room's series from (POSIX s, mean count) points if it has any, else from (POSIX s,
    entries, exits) door-counter points."""
    if counts:
        return occupancy_from_count_columns(
            [t for t, _ in counts], [v for _, v in counts], max_hold=3 * STEP
        )
    if flows:
        return occupancy_from_counter_columns(
            [t for t, _, _ in flows],
            [e for _, e, _ in flows],
            [x for _, _, x in flows],
            timezone=timezone,
            start=start,
        )
    return None


def _series(
    buckets: list[OccupancyBucket], *, timezone: str, start: datetime
) -> OccupancySeries | None:
    counts = [(b.start.timestamp(), b.mean_count) for b in buckets if b.mean_count is not None]
    flows = [
        (b.start.timestamp(), b.entries or 0, b.exits or 0)
        for b in buckets
        if b.entries is not None or b.exits is not None
    ]
    return _from_points(counts, flows, timezone=timezone, start=start)


def _column_series(
    rows: list[tuple[int, int | None, int, int | None, int | None, int]],
    *,
    timezone: str,
    start: datetime,
) -> OccupancySeries | None:
    """:func:`_series` of (bucket µs, sum count, n count, entries, exits, n counter) rows."""
    # from_us(b).timestamp() is b / 10**6 exactly: both divide the integer microseconds.
    counts = [(b / 1_000_000, (total or 0) / n) for b, total, n, _e, _x, _nc in rows if n]
    flows = [(b / 1_000_000, e or 0, x or 0) for b, _t, _n, e, x, nc in rows if nc]
    return _from_points(counts, flows, timezone=timezone, start=start)


def _column_series_of(
    store: SqliteStore, site: Site, start: datetime, end: datetime, rooms: list[str]
) -> dict[str, OccupancySeries]:
    series: dict[str, OccupancySeries] = {}
    for room in rooms:
        rows = store.occupancy_columns(site.id, room, start, end, STEP)
        found = _column_series(rows, timezone=site.timezone, start=start)
        if found is not None:
            series[room] = found
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
            return _column_series_of(store, site, start, end, wanted)
        except StoreError as exc:
            log.warning("occupancy of %s: column read failed (%s); using the port", site.id, exc)
    series: dict[str, OccupancySeries] = {}
    for room_id in wanted:
        buckets = store.occupancy(site.id, room_id, start, end, STEP)
        found = _series(buckets, timezone=site.timezone, start=start)
        if found is not None:
            series[room_id] = found
    return series
