"""What the routers share: access to the service on ``app.state``, pages, range checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

from ingest_server._model import StoredReading
from ingest_server._service import IngestService
from protocol import ID_PATTERN, MAX_ID_LENGTH

__all__ = [
    "IdPath",
    "Limit",
    "Offset",
    "Page",
    "ReadingOut",
    "Service",
    "check_range",
    "get_service",
]

T = TypeVar("T")

# A page of 500 keeps a response under a few hundred kB for every resource here.
MAX_PAGE = 500

Offset = Annotated[int, Query(ge=0, description="Items to skip")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items per page, at most {MAX_PAGE}")]
IdPath = Annotated[str, Query(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH)]


def get_service(request: Request) -> IngestService:
    service: IngestService = request.app.state.service
    return service


Service = Annotated[IngestService, Depends(get_service)]


class Page(BaseModel, Generic[T]):
    """One page of a listing."""

    total: int
    offset: int
    limit: int
    items: list[T]


class ReadingOut(BaseModel):
    """A stored reading as the API shows it."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    device: str
    ts: datetime
    site: str
    gateway: str
    room: str | None
    unknown_device: bool
    fields: dict[str, Any]

    @classmethod
    def of(cls, s: StoredReading) -> ReadingOut:
        return cls(
            id=s.id,
            kind=s.kind,
            device=s.device,
            ts=s.ts,
            site=s.site,
            gateway=s.gateway,
            room=s.room,
            unknown_device=s.unknown_device,
            fields=s.fields(),
        )


def check_range(start: datetime, end: datetime, max_span: timedelta) -> None:
    """Refuse an empty, inverted or too long range with a 422 that says why."""
    if end <= start:
        raise HTTPException(422, f"end ({end.isoformat()}) must be after start")
    if end - start > max_span:
        raise HTTPException(
            422, f"range of {end - start} is longer than the {max_span} allowed here"
        )
