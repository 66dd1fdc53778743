"""Scheduler job functions (APScheduler 3.x): thin shells around the pipeline.

Jobs are plain functions, so APScheduler runs them in its thread pool and their database I/O
never blocks the event loop. Intervals are clock seconds, divided by the clock's speed.
"""

from __future__ import annotations

import logging
from typing import Any

from ingest_server.alerts._packs import PackLoader
from ingest_server.alerts._pipeline import AlertPipeline
from rules.facility import Site

__all__ = [
    "add_alert_jobs",
    "reload_packs_job",
    "remind_job",
    "snapshot_job",
    "tick_job",
]

log = logging.getLogger(__name__)

# 5 s: the door.not_released duration is 10 s, so a tick every 5 s fires it at most 5 s late.
TICK_S = 5.0
# 30 s: reminder intervals are minutes; half a minute of jitter on a reminder is harmless.
REMIND_S = 30.0
# 10 s: a restart loses at most 10 s of timer progress (conditions keep their start times).
SNAPSHOT_S = 10.0


def tick_job(pipeline: AlertPipeline) -> None:
    """Evaluate the time-driven rules at the clock's now."""
    pipeline.tick()


def remind_job(pipeline: AlertPipeline) -> None:
    """Reminders and escalation for firing, unacknowledged alerts."""
    pipeline.remind()


def snapshot_job(pipeline: AlertPipeline) -> None:
    """Persist the engine's timers."""
    pipeline.save_snapshot()


def reload_packs_job(pipeline: AlertPipeline, loader: PackLoader, sites: list[Site]) -> None:
    """Reload the rule packs; a refused file keeps its last good version in force."""
    report = loader.load(sites)
    pipeline.set_packs(report.packs)


def add_alert_jobs(
    scheduler: Any,
    pipeline: AlertPipeline,
    *,
    tick_s: float = TICK_S,
    remind_s: float = REMIND_S,
    snapshot_s: float = SNAPSHOT_S,
) -> list[Any]:
    """Add the alert jobs to an APScheduler 3 scheduler, one job per check."""
    speed = pipeline.clock.speed
    common: dict[str, Any] = {"coalesce": True, "max_instances": 1, "replace_existing": True}
    return [
        scheduler.add_job(
            tick_job,
            "interval",
            seconds=tick_s / speed,
            args=[pipeline],
            id="alerts.tick",
            **common,
        ),
        scheduler.add_job(
            remind_job,
            "interval",
            seconds=remind_s / speed,
            args=[pipeline],
            id="alerts.remind",
            **common,
        ),
        scheduler.add_job(
            snapshot_job,
            "interval",
            seconds=snapshot_s / speed,
            args=[pipeline],
            id="alerts.snapshot",
            **common,
        ),
    ]
