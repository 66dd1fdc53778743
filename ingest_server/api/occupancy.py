"""Occupancy of a room over a range at a resolution."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel

from ingest_server.api._common import Service, check_range
from protocol import ID_PATTERN

router = APIRouter(tags=["occupancy"])

# Two years: the annual report compares with the previous year (served by hourly rollups).
MAX_OCCUPANCY_SPAN = timedelta(days=731)
# Enough points for any chart; more means the caller should pick a coarser step.
MAX_BUCKETS = 10_000
# A minute is the finest step worth asking for; counters report about once a minute.
MIN_STEP_S = 60

Id = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


class BucketOut(BaseModel):
    start: datetime
    max_count: int | None
    mean_count: float | None
    entries: int | None
    exits: int | None
    samples: int


@router.get(
    "/sites/{site_id}/rooms/{room_id}/occupancy",
    summary="Occupancy per epoch-aligned bucket of `step` seconds (empty buckets left out)",
)
def occupancy(
    service: Service,
    site_id: Id,
    room_id: Id,
    start: AwareDatetime,
    end: AwareDatetime,
    step: Annotated[int, Query(ge=MIN_STEP_S, le=366 * 86400, description="seconds")] = 900,
) -> list[BucketOut]:
    check_range(start, end, MAX_OCCUPANCY_SPAN)
    if (end - start).total_seconds() / step > MAX_BUCKETS:
        raise HTTPException(
            422, f"{start} to {end} in steps of {step} s is more than {MAX_BUCKETS} buckets"
        )
    buckets = service.store.occupancy(site_id, room_id, start, end, timedelta(seconds=step))
    return [
        BucketOut(
            start=b.start,
            max_count=b.max_count,
            mean_count=b.mean_count,
            entries=b.entries,
            exits=b.exits,
            samples=b.samples,
        )
        for b in buckets
    ]
