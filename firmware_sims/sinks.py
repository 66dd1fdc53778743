"""Sinks that keep events in memory: for tests, and for a simulated edge driver that pulls one
gateway's readings out of a shared fleet."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Sequence

from firmware_sims.events import Event, Publish, published_readings
from protocol import Reading

__all__ = ["MemorySink"]


class MemorySink:
    """Records every event; ``drain(gateway)`` hands out a gateway's readings once each."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._pending: dict[str, deque[Reading]] = defaultdict(deque)
        self._lock = threading.Lock()

    def handle(self, events: Sequence[Event]) -> None:
        with self._lock:
            self.events.extend(events)
            for event in events:
                if isinstance(event, Publish):
                    self._pending[event.gateway.gateway].extend(event.readings)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        pass

    def readings(self, gateway: str | None = None) -> list[Reading]:
        """Every reading published so far (by ``gateway`` if given), in order."""
        with self._lock:
            return published_readings(self.events, gateway)

    def drain(self, gateway: str) -> list[Reading]:
        """The gateway's readings not drained before, oldest first."""
        with self._lock:
            queue = self._pending[gateway]
            out = list(queue)
            queue.clear()
            return out
