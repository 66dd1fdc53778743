"""Payloads that failed decoding, with the reason."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from ingest_server.api._common import Limit, Offset, Page, Service

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    size: int
    payload_text: str
    payload_base64: str
    truncated: bool


@router.get("", summary="Dead letters, newest first")
def list_dead_letters(
    service: Service,
    reason: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[DeadLetterOut]:
    total, letters = service.records.dead_letters(
        reason=reason, since=since, until=until, offset=offset, limit=limit
    )
    items = [
        DeadLetterOut(
            id=d.id or 0,
            received_at=d.received_at,
            topic=d.topic,
            reason=d.reason,
            detail=d.detail,
            size=d.size,
            payload_text=d.payload.decode("utf-8", errors="replace"),
            payload_base64=base64.b64encode(d.payload).decode(),
            truncated=len(d.payload) < d.size,
        )
        for d in letters
    ]
    return Page(total=total, offset=offset, limit=limit, items=items)


@router.get("/reasons", summary="Dead letters per reason code")
def reasons(service: Service) -> dict[str, int]:
    return service.records.dead_letter_reasons()
