"""Compliance of a site with the facility norms of its jurisdiction pack."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from ingest_server.api._common import Service
from protocol import ID_PATTERN
from rules import ComplianceReport, PackError, evaluate_compliance

router = APIRouter(tags=["compliance"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


@router.get(
    "/sites/{site_id}/compliance",
    summary="Each norm of the site's pack: pass / fail / not applicable / unknown, with sources",
)
def site_compliance(
    service: Service,
    site_id: SiteId,
    outdoor_fitness_m2: Annotated[
        float | None,
        Query(ge=0, description="The community's outdoor fitness area, if known (m²)"),
    ] = None,
) -> ComplianceReport:
    site = service.registry.snapshot().site(site_id)
    if site is None:
        raise HTTPException(404, f"site {site_id!r} does not exist")
    try:
        return evaluate_compliance(site, outdoor_fitness_m2=outdoor_fitness_m2)
    except PackError as exc:
        raise HTTPException(422, f"site {site_id!r}: {exc}") from None
