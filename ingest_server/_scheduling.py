"""Scheduler jobs that run in clock time (an accelerated clock runs them faster)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol import Clock

__all__ = ["add_clock_interval_job"]


def add_clock_interval_job(
    scheduler: Any, func: Callable[[], object], *, every_s: float, clock: Clock, job_id: str
) -> None:
    """Run ``func`` every ``every_s`` seconds of ``clock`` time on an APScheduler 3 scheduler;
    missed runs coalesce into one and never overlap."""
    scheduler.add_job(
        func,
        "interval",
        seconds=every_s / clock.speed,
        id=job_id,
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
