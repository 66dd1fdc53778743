"""The inspection schedule of a site: what is due, overdue or never done."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from ingest_server.api._common import Service
from ingest_server.inspection_log import InspectionService
from ingest_server.inspection_log._completion import site_schedule
from protocol import ID_PATTERN
from rules import PackError, ScheduleEntry, needing_attention

router = APIRouter(tags=["inspections"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


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
    try:
        schedule = site_schedule(inspection.log, site, now)
    except PackError as exc:
        raise HTTPException(422, f"site {site_id!r}: {exc}") from None
    return list(schedule if all_items else needing_attention(schedule))
