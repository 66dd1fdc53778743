"""Manual records (patrols, periodic checks, equipment tests, maintenance), checked at the boundary.

Every refusal is an :class:`InvalidRecord` whose ``field`` names the offending field, e.g.
``inspector``, ``occurred_at`` or ``checklist.fire_exit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest_server.inspection_log._checklists import CHECKLISTS
from ingest_server.inspection_log._errors import InvalidRecord
from ingest_server.inspection_log._models import Category, ManualPayload, Name, Outcome, UtcTime

__all__ = ["FUTURE_TOLERANCE", "ManualRecord", "parse_manual_record"]

# A handheld's clock may run a little ahead of the server's; more than this is a typo or a lie.
FUTURE_TOLERANCE = timedelta(seconds=60)


class ManualRecord(BaseModel):
    """The body of a manual record as an inspector or operator submits it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: Literal["patrol", "periodic_check", "equipment_test", "maintenance"]
    occurred_at: UtcTime
    inspector: Name
    checklist: dict[str, Outcome] = Field(min_length=1)
    remarks: str = Field(default="", max_length=2000)
    subject: Name | None = None
    attachment: str | None = Field(default=None, max_length=500)

    def payload(self) -> ManualPayload:
        return ManualPayload(
            inspector=self.inspector,
            checklist=self.checklist,
            remarks=self.remarks,
            subject=self.subject,
            attachment=self.attachment,
        )


def _field_of(error: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in error["loc"]) or "record"


def parse_manual_record(data: Mapping[str, Any] | ManualRecord, now: datetime) -> ManualRecord:
    """Validate a manual record; raise :class:`InvalidRecord` naming the first bad field."""
    if isinstance(data, ManualRecord):
        record = data
    else:
        try:
            record = ManualRecord.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidRecord(_field_of(first), first["msg"]) from exc
    if record.occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidRecord("occurred_at", f"{record.occurred_at.isoformat()} is in the future")
    known = CHECKLISTS[Category(record.category)]
    for item in record.checklist:
        if item not in known:
            raise InvalidRecord(
                f"checklist.{item}",
                f"unknown item for {record.category}; known: {', '.join(sorted(known))}",
            )
    return record
