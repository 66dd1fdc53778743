"""Sign-in throttling: failed attempts per user name and per client address in a window."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from protocol import Clock

__all__ = ["SignInLimiter"]


class SignInLimiter:
    """At most ``max_failures`` failed sign-ins per key within ``window``; success clears
    the user name's count. Keys are ``user:<name>`` and ``client:<address>``, so guessing one
    account's password and spraying one password over many accounts are both slowed."""

    def __init__(self, clock: Clock, max_failures: int, window: timedelta) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self._window:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> float | None:
        """Seconds until another attempt is allowed, or None when allowed now."""
        now = self._clock.now()
        waits: list[float] = []
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self._max:
                    waits.append((times[0] + self._window - now).total_seconds())
        return max(waits) if waits else None

    def failed(self, *keys: str) -> None:
        now = self._clock.now()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            # Forget keys that went quiet, so a scan of random names cannot grow this forever.
            if len(self._failures) > 10_000:
                for stale in [k for k, v in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[stale]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
