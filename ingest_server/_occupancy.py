"""Occupancy series of a site's rooms from the store, for the utilization metrics of ``rules``."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest_server._model import OccupancyBucket
from ingest_server.store import TimeSeriesStore
from rules import (
    OccupancySeries,
    Site,
    occupancy_from_count_columns,
    occupancy_from_counter_columns,
)

__all__ = ["STEP", "room_series"]

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


def room_series(
    store: TimeSeriesStore,
    site: Site,
    start: datetime,
    end: datetime,
    rooms: set[str] | None = None,
) -> dict[str, OccupancySeries]:
    """Occupancy per room id (absolute counts where a room has them, else door counters)."""
    series: dict[str, OccupancySeries] = {}
    for room in site.rooms:
        if rooms is not None and room.id not in rooms:
            continue
        buckets = store.occupancy(site.id, room.id, start, end, STEP)
        found = _series(buckets, timezone=site.timezone, start=start)
        if found is not None:
            series[room.id] = found
    return series
