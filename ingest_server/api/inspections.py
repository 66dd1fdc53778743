"""The inspection schedule of a site: what is due, overdue or never done."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from ingest_server.api._common import Service
from ingest_server.inspection_log import InspectionService
from ingest_server.inspection_log import Query as LogQuery
from ingest_server.inspection_log._completion import COMPLETING_CATEGORIES, completion_records
from protocol import ID_PATTERN
from rules import PackError, ScheduleEntry, inspection_schedule, needing_attention

router = APIRouter(tags=["inspections"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]

# The longest interval of any item (sensitivity tests every 24 months) plus a year of slack: an
# older completion can no longer decide whether anything is due.
LOOKBACK = timedelta(days=3 * 366)


@router.get(
    "/sites/{site_id}/inspections/due",
    summary="Each inspectable item: last done, due at, status (ok / due soon / overdue / never)",
)
def inspections_due(
    request: Request,
    service: Service,
    site_id: SiteId,
    all_items: Annotated[
        bool, Query(alias="all", description="Every item, not only those needing attention")
    ] = False,
) -> list[ScheduleEntry]:
    site = service.registry.snapshot().site(site_id)
    if site is None:
        raise HTTPException(404, f"site {site_id!r} does not exist")
    inspection: InspectionService = request.app.state.inspection
    now = request.app.state.clock.now()
    entries = inspection.log.entries(
        LogQuery(site=site_id, start=now - LOOKBACK, categories=COMPLETING_CATEGORIES)
    )
    try:
        schedule = inspection_schedule(site, completion_records(entries), now=now)
    except PackError as exc:
        raise HTTPException(422, f"site {site_id!r}: {exc}") from None
    return list(schedule if all_items else needing_attention(schedule))
