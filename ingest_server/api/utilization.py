"""Utilization of a site's rooms and functions over a range, with the findings."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import AwareDatetime

from ingest_server._occupancy import room_series
from ingest_server._rollups import Rollups
from ingest_server.api._common import Service, check_range
from protocol import ID_PATTERN
from rules import PackError, UtilizationReport, utilization_report

router = APIRouter(tags=["utilization"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]

# A quarter plus slack: the quarterly operating report is the longest range asked for.
MAX_UTILIZATION_SPAN = timedelta(days=93)


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
    series = room_series(service.store, site, start, end, wanted)
    try:
        return utilization_report(site, series, start=start, end=end)
    except PackError as exc:
        raise HTTPException(422, f"site {site_id!r}: {exc}") from None


# A year of daily rows per room, function and site is a few thousand rows.
MAX_DAILY_SPAN = timedelta(days=366)


def _rollups(request: Request, service: Service, site_id: str) -> Rollups:
    if service.registry.snapshot().site(site_id) is None:
        raise HTTPException(404, f"site {site_id!r} does not exist")
    rollups: Rollups = request.app.state.rollups
    return rollups


@router.get(
    "/sites/{site_id}/utilization/daily",
    summary="Stored daily rollups (per room, function and site) for local days first..last",
)
def site_utilization_daily(
    request: Request, service: Service, site_id: SiteId, first: date, last: date
) -> list[dict[str, Any]]:
    if last < first:
        raise HTTPException(422, f"last ({last}) is before first ({first})")
    if last - first > MAX_DAILY_SPAN:
        raise HTTPException(422, f"{first} to {last} is longer than {MAX_DAILY_SPAN.days} days")
    return _rollups(request, service, site_id).daily(site_id, first, last)


@router.get(
    "/sites/{site_id}/findings",
    summary="The latest scheduled findings: under-used functions, staggered-use pairs, drift",
)
def site_findings(request: Request, service: Service, site_id: SiteId) -> dict[str, Any]:
    found = _rollups(request, service, site_id).findings(site_id)
    if found is None:
        raise HTTPException(404, f"no findings computed for {site_id!r} yet")
    return found
