from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from firmware_sims.clock import AnchoredClock
from protocol import Clock, ManualClock

REAL = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
SIM = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def test_two_anchored_clocks_agree_whenever_they_were_made() -> None:
    wall = ManualClock(REAL + timedelta(seconds=3))  # the second process starts 3 s later
    a = AnchoredClock(SIM, REAL, 600, real=wall)
    b = AnchoredClock(SIM, REAL, 600, real=wall)
    assert isinstance(a, Clock)
    assert a.now() == b.now() == SIM + timedelta(minutes=30)
    wall.advance(60)
    assert a.now() == SIM + timedelta(minutes=630)
    assert a.speed == 600


def test_anchored_clock_refuses_naive_times_and_bad_speeds() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AnchoredClock(SIM.replace(tzinfo=None), REAL, 1)
    with pytest.raises(ValueError, match="positive"):
        AnchoredClock(SIM, REAL, 0)
