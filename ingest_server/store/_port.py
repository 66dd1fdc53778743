"""The time-series store port: what the consumer and the API need from any adapter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from ingest_server._model import OccupancyBucket, StoredReading

__all__ = ["MAX_SERIES_LIMIT", "TimeSeriesStore"]

# One API page of raw readings; bounds memory per request.
MAX_SERIES_LIMIT = 10_000


@runtime_checkable
class TimeSeriesStore(Protocol):
    """Where readings live. Every adapter answers the queries identically.

    ``write`` is durable when it returns (the consumer acks MQTT messages afterwards) and
    idempotent by reading id: it returns only the readings that were new.
    """

    name: str

    def write(self, readings: Sequence[StoredReading]) -> list[StoredReading]:
        """Store ``readings`` durably; return those not stored before (duplicates dropped)."""
        ...

    def series(
        self,
        device: str,
        start: datetime,
        end: datetime,
        *,
        kind: str | None = None,
        limit: int = 1000,
    ) -> list[StoredReading]:
        """Raw readings of ``device`` with ``start <= ts < end``, oldest first, by (ts, id)."""
        ...

    def occupancy(
        self, site: str, room: str, start: datetime, end: datetime, step: timedelta
    ) -> list[OccupancyBucket]:
        """Occupancy of a room in epoch-aligned buckets of ``step`` (empty buckets left out)."""
        ...

    def latest(self, *, site: str | None = None, device: str | None = None) -> list[StoredReading]:
        """The newest reading of each (device, kind), ordered by (device, kind)."""
        ...

    def count(self) -> int:
        """Readings held (an operational figure for tests, metrics and benchmarks)."""
        ...

    def ping(self) -> bool:
        """Whether the store answers right now."""
        ...

    def prune(self, now: datetime) -> int:
        """Apply retention relative to ``now``; return how many raw readings were removed."""
        ...

    def gauges(self) -> dict[str, float]:
        """Adapter-specific gauges for /metrics (e.g. spooled points)."""
        ...

    def close(self) -> None:
        """Flush what can be flushed and release connections and threads."""
        ...
