"""Dead letters and gateway statuses in the records database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ingest_server._model import StoredStatus
from ingest_server._tables import DeadLetterRow, GatewayStatusRow

__all__ = ["DEAD_LETTER_PAYLOAD_CAP", "DeadLetter", "Records"]

# Enough to see what a device sent and why it failed; a 10 MB payload must not fill the disk.
DEAD_LETTER_PAYLOAD_CAP = 4096


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be decoded. ``payload`` holds at most the first 4 KiB."""

    received_at: datetime
    topic: str
    reason: str
    detail: str
    size: int
    payload: bytes
    id: int | None = None


class Records:
    """Writes and reads of dead letters and gateway statuses."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write(self, dead: Sequence[DeadLetter], statuses: Sequence[StoredStatus]) -> None:
        """Store dead letters and statuses in one transaction (durable when it returns)."""
        if not dead and not statuses:
            return
        with Session(self._engine) as session, session.begin():
            session.add_all(
                DeadLetterRow(
                    received_at=d.received_at,
                    topic=d.topic[:1000],
                    reason=d.reason,
                    detail=d.detail[:1000],
                    size=d.size,
                    payload=d.payload[:DEAD_LETTER_PAYLOAD_CAP],
                )
                for d in dead
            )
            for s in statuses:
                current = session.get(GatewayStatusRow, s.gateway)
                # A late, older status (an outbox replay) must not overwrite a newer one.
                if current is not None and _older(s, current):
                    continue
                session.merge(
                    GatewayStatusRow(
                        gateway=s.gateway,
                        site=s.site,
                        state=s.status.state.value,
                        ts=s.status.ts,
                        received_at=s.received_at,
                        data=s.status.model_dump(mode="json", exclude_none=True),
                    )
                )

    def dead_letters(
        self,
        *,
        reason: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[int, list[DeadLetter]]:
        """The total matching and one page, newest first."""
        query = select(DeadLetterRow)
        if reason is not None:
            query = query.where(DeadLetterRow.reason == reason)
        if since is not None:
            query = query.where(DeadLetterRow.received_at >= since)
        if until is not None:
            query = query.where(DeadLetterRow.received_at < until)
        with Session(self._engine) as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(DeadLetterRow.id.desc()).offset(offset).limit(limit)
            ).all()
            return total, [
                DeadLetter(r.received_at, r.topic, r.reason, r.detail, r.size, r.payload, r.id)
                for r in rows
            ]

    def dead_letter_reasons(self) -> dict[str, int]:
        """Dead letters per reason code."""
        with Session(self._engine) as session:
            rows = session.execute(
                select(DeadLetterRow.reason, func.count()).group_by(DeadLetterRow.reason)
            ).all()
        return {reason: int(n) for reason, n in rows}

    def gateway_statuses(self, site: str | None = None) -> list[dict[str, Any]]:
        """The last status of each gateway (optionally of one site), by gateway id."""
        query = select(GatewayStatusRow).order_by(GatewayStatusRow.gateway)
        if site is not None:
            query = query.where(GatewayStatusRow.site == site)
        with Session(self._engine) as session:
            return [
                {
                    "gateway": r.gateway,
                    "site": r.site,
                    "state": r.state,
                    "ts": r.ts,
                    "received_at": r.received_at,
                    "status": r.data,
                }
                for r in session.scalars(query)
            ]

    def ping(self) -> bool:
        """Whether the records database answers."""
        with Session(self._engine) as session:
            return session.scalar(select(1)) == 1


def _older(new: StoredStatus, current: GatewayStatusRow) -> bool:
    if new.status.ts is not None and current.ts is not None:
        return new.status.ts < current.ts
    return False
