"""Raw series and latest states of devices."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from ingest_server.api._common import ReadingOut, Service, check_range
from ingest_server.auth import visible_sites
from ingest_server.store import MAX_SERIES_LIMIT
from protocol import ID_PATTERN

router = APIRouter(tags=["readings"])

# Raw readings are for looking at an incident or a day; longer spans go through /occupancy's
# rollups. A detector at one reading per minute gives ~45k readings in 31 days.
MAX_SERIES_SPAN = timedelta(days=31)

DeviceQuery = Annotated[str, Query(pattern=ID_PATTERN, max_length=64)]
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)]
Kind = Literal["smoke", "door", "occupancy", "health"]


@router.get("/readings", summary="Raw readings of one device over a range (oldest first)")
def series(
    service: Service,
    device: DeviceQuery,
    start: AwareDatetime,
    end: AwareDatetime,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SERIES_LIMIT)] = 1000,
) -> list[ReadingOut]:
    check_range(start, end, MAX_SERIES_SPAN)
    return [
        ReadingOut.of(s) for s in service.store.series(device, start, end, kind=kind, limit=limit)
    ]


@router.get("/latest", summary="The newest reading of each device and kind")
def latest(
    service: Service, request: Request, site: IdQuery = None, device: IdQuery = None
) -> list[ReadingOut]:
    allowed = visible_sites(request)
    return [
        ReadingOut.of(s)
        for s in service.store.latest(site=site, device=device)
        if allowed is None or s.site in allowed
    ]
