"""Where stored readings go next: the rules engine and the alert lifecycle plug in here."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from ingest_server._metrics import Metrics
from ingest_server._model import StoredReading, StoredStatus

__all__ = ["ReadingSink", "SinkRegistry"]

log = logging.getLogger(__name__)


@runtime_checkable
class ReadingSink(Protocol):
    """Receives what was durably stored, in MQTT arrival order, on the consumer's writer thread.

    Called after the write committed and before the messages are acked, so a sink must be quick
    (the next batch, and the acks, wait for it); a sink that raises loses nothing (the error is
    logged and counted). Each reading reaches the sinks once, except after a crash or a
    connection loss between commit and ack: the broker then redelivers the message and its
    readings are handed over again (never stored again). Dedupe by ``reading.id`` if that matters.
    """

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None: ...

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None: ...


class SinkRegistry:
    """The registered sinks; safe to add to or remove from while the consumer runs."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._lock = threading.Lock()
        self._sinks: tuple[ReadingSink, ...] = ()
        self.metrics = metrics

    def add(self, sink: ReadingSink) -> None:
        """Register ``sink``; it receives every batch stored from now on."""
        with self._lock:
            self._sinks = (*self._sinks, sink)

    def remove(self, sink: ReadingSink) -> None:
        with self._lock:
            self._sinks = tuple(s for s in self._sinks if s is not sink)

    def __len__(self) -> int:
        return len(self._sinks)

    def dispatch(
        self, stored: Sequence[StoredReading], statuses: Sequence[StoredStatus], now: datetime
    ) -> None:
        """Hand a stored batch to every sink; a failing sink is logged and the others still run."""
        for sink in self._sinks:
            try:
                if stored:
                    sink.on_readings(stored, now)
                if statuses:
                    sink.on_status(statuses, now)
            except Exception:
                log.exception("reading sink %r failed on a batch of %d readings", sink, len(stored))
                if self.metrics is not None:
                    self.metrics.add("sink_errors")
