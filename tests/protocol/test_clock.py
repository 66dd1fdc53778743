from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from protocol import Clock, ManualClock, ScaledClock, SystemClock


def test_manual_clock_moves_only_forward_when_told() -> None:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert clock.now() == datetime(2026, 3, 1, tzinfo=UTC)
    assert clock.advance(90) == datetime(2026, 3, 1, 0, 1, 30, tzinfo=UTC)
    clock.advance(timedelta(hours=1))
    assert clock.now() == datetime(2026, 3, 1, 1, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="timezone"):
        ManualClock(datetime(2026, 3, 1))


def test_scaled_clock_runs_faster() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    clock = ScaledClock(start, speed=3600)
    time.sleep(0.05)
    elapsed = clock.now() - start
    assert timedelta(seconds=150) <= elapsed < timedelta(hours=1)
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(start, speed=0)


def test_all_clocks_satisfy_the_protocol() -> None:
    for clock in (SystemClock(), ManualClock(), ScaledClock(datetime.now(UTC))):
        assert isinstance(clock, Clock)
        assert clock.now().tzinfo is not None
