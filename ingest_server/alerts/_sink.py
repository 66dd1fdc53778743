"""The alert pipeline as a consumer sink: stored readings and gateway statuses go to the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ingest_server._model import StoredReading, StoredStatus
from ingest_server.alerts._pipeline import AlertPipeline

__all__ = ["AlertSink"]


class AlertSink:
    """Feeds the live rules with what the consumer durably stored (in arrival order).

    Readings of devices the registry does not know have no room and no rule to apply; they are
    stored and flagged by the consumer, and skipped here.
    """

    def __init__(self, pipeline: AlertPipeline) -> None:
        self.pipeline = pipeline

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        known = [s.reading for s in stored if not s.unknown_device]
        if known:
            self.pipeline.on_readings(known)

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None:
        for status in statuses:
            self.pipeline.on_status(status.status)
