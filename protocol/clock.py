"""Injected time. Domain code asks a :class:`Clock`, never the wall clock, so simulations can run
a week in seconds and tests are exact.

- :class:`SystemClock` is the real time, for production.
- :class:`ManualClock` moves only when told to, for tests.
- :class:`ScaledClock` runs ``speed`` times faster than real time from a chosen start, for
  accelerated simulations; a server and a fleet given the same start and speed agree on "now".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time. ``now()`` is timezone-aware UTC; ``speed`` is clock seconds per real
    second, so a wait of ``s`` clock seconds is ``s / speed`` real seconds."""

    @property
    def speed(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    """The real time."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ManualClock:
    """A clock that moves only when a test moves it."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds) and return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("time does not run backwards")
        self.current += step
        return self.current

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("needs a timezone-aware time")
        self.current = when


class ScaledClock:
    """``speed`` times real time, starting at ``start`` when created."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start time")
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.start = start
        self._speed = float(speed)
        self._t0 = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self._speed)
