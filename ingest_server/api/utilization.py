"""Utilization of a site's rooms and functions over a range, with the findings."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AwareDatetime

from ingest_server._model import OccupancyBucket
from ingest_server.api._common import Service, check_range
from protocol import ID_PATTERN
from rules import (
    OccupancySeries,
    PackError,
    UtilizationReport,
    occupancy_from_count_columns,
    occupancy_from_counter_columns,
    utilization_report,
)

router = APIRouter(tags=["utilization"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]

# A quarter plus slack: the quarterly operating report is the longest range asked for.
MAX_UTILIZATION_SPAN = timedelta(days=93)
# Five-minute buckets keep a 30-day, 20-room report to ~170k points while staying far finer
# than the hour the metrics are reported by.
STEP = timedelta(minutes=5)


def _series(
    buckets: list[OccupancyBucket], *, timezone: str, start: AwareDatetime
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


@router.get(
    "/sites/{site_id}/utilization",
    summary="Occupancy and utilization per room, function and site, restricted to opening hours",
)
def site_utilization(
    service: Service,
    site_id: SiteId,
    start: AwareDatetime,
    end: AwareDatetime,
    rooms: Annotated[list[str] | None, Query(description="Only these room ids")] = None,
) -> UtilizationReport:
    check_range(start, end, MAX_UTILIZATION_SPAN)
    site = service.registry.snapshot().site(site_id)
    if site is None:
        raise HTTPException(404, f"site {site_id!r} does not exist")
    wanted = set(rooms) if rooms else None
    if wanted is not None and (unknown := wanted - {r.id for r in site.rooms}):
        raise HTTPException(422, f"site {site_id!r} has no room {sorted(unknown)}")
    series: dict[str, OccupancySeries] = {}
    for room in site.rooms:
        if wanted is not None and room.id not in wanted:
            continue
        buckets = service.store.occupancy(site_id, room.id, start, end, STEP)
        found = _series(buckets, timezone=site.timezone, start=start)
        if found is not None:
            series[room.id] = found
    try:
        return utilization_report(site, series, start=start, end=end)
    except PackError as exc:
        raise HTTPException(422, f"site {site_id!r}: {exc}") from None
