"""An accelerated clock that several processes can share.

``protocol.ScaledClock`` counts from the moment it is created, so two processes that build one
each disagree by their start-up delay × speed. An :class:`AnchoredClock` instead ties simulated
``start`` to a wall-clock ``anchor``: every process given the same (start, anchor, speed) reads
the same simulated time, e.g. ``linli sim`` and a server started separately.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from protocol import Clock, SystemClock

__all__ = ["AnchoredClock"]


class AnchoredClock:
    """Simulated time ``start + (real now − anchor) × speed``."""

    def __init__(
        self, start: datetime, anchor: datetime, speed: float, real: Clock | None = None
    ) -> None:
        if start.tzinfo is None or anchor.tzinfo is None:
            raise ValueError("start and anchor must be timezone-aware")
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.anchor = anchor
        self._speed = float(speed)
        self._real = real or SystemClock()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        elapsed = (self._real.now() - self.anchor).total_seconds()
        return self.start + timedelta(seconds=elapsed * self._speed)
