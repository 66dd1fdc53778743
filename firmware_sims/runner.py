"""The fleet runner: advances a fleet with a clock and hands its events to a sink.

- ``run()`` follows a real or accelerated clock (``protocol.SystemClock``, ``ScaledClock``): every
  tick it advances the fleet to ``clock.now()``. Give the server the same ScaledClock (same start
  and speed) and both agree on "now".
- ``run_stepped()`` moves a ``ManualClock`` itself, step by step, as fast as the sink allows: for
  tests and for replaying a week exactly.

Scenarios may be scheduled from another thread while it runs (``schedule``); they are applied
between ticks.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from firmware_sims.events import Publish, Raw, Sink
from firmware_sims.fleet import Fleet
from firmware_sims.scenarios import Scenario
from protocol import Clock, ManualClock

__all__ = ["DEFAULT_TICK_S", "FleetRunner", "Progress", "RunStats"]

log = logging.getLogger(__name__)

# Real seconds between ticks: fine enough that a 10 s alarm rule sees prompt readings at speed
# 1-50, coarse enough that a tick's overhead stays small for 10,000 devices.
DEFAULT_TICK_S = 0.2


@dataclass
class RunStats:
    """What a run did so far."""

    sim_start: datetime
    sim_now: datetime
    readings: int = 0
    raw_payloads: int = 0
    events: int = 0
    real_s: float = 0.0
    lag_s: float = 0.0  # how far the fleet was behind the clock at the last tick (clock seconds)
    scenarios: list[str] = field(default_factory=list)

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.real_s if self.real_s > 0 else 0.0


class Progress:
    """One status line: simulated time, devices, readings, readings/s, lag."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        # Without a terminal a line every 10 s is enough for a log file.
        self.every_s = every_s if self.tty else max(every_s, 10.0)
        self._next = 0.0

    def update(self, fleet: Fleet, stats: RunStats, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now < self._next:
            return
        self._next = now + self.every_s
        tz = next(iter(fleet.sites.values())).tz if fleet.sites else None
        when = stats.sim_now.astimezone(tz) if tz else stats.sim_now
        line = (
            f"sim {when:%Y-%m-%d %a %H:%M:%S} | {len(fleet.devices):,} devices | "
            f"{stats.readings:,} readings | {stats.readings_per_s:,.0f}/s | "
            f"behind {stats.lag_s:,.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + line.ljust(100) + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class FleetRunner:
    """Drives ``fleet`` with ``clock`` into ``sink``."""

    def __init__(
        self,
        fleet: Fleet,
        sink: Sink,
        clock: Clock,
        *,
        tick_s: float = DEFAULT_TICK_S,
        progress: Progress | None = None,
    ) -> None:
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.fleet = fleet
        self.sink = sink
        self.clock = clock
        self.tick_s = tick_s
        self.progress = progress
        self.stats = RunStats(fleet.now, fleet.now)
        self._scenarios: queue.SimpleQueue[tuple[Scenario, datetime | None]] = queue.SimpleQueue()

    def schedule(self, scenario: Scenario, start: datetime | None = None) -> None:
        """Schedule ``scenario`` (checked at once) to start at ``start`` (default: next tick)."""
        scenario.check(self.fleet)
        self._scenarios.put((scenario, start))

    def _take_scenarios(self) -> None:
        while True:
            try:
                scenario, start = self._scenarios.get_nowait()
            except queue.Empty:
                return
            begin = self.fleet.schedule(scenario, start)
            self.stats.scenarios.append(scenario.name)
            log.info("scenario %s scheduled at %s", scenario.name, begin.isoformat())

    def _tick(self, to: datetime, started: float, *, partial: bool = True) -> None:
        self._take_scenarios()
        events = self.fleet.advance(to, partial=partial)
        self.sink.handle(events)
        stats = self.stats
        stats.events += len(events)
        for event in events:
            if isinstance(event, Publish):
                stats.readings += len(event.readings)
            elif isinstance(event, Raw):
                stats.raw_payloads += 1
        stats.sim_now = self.fleet.now
        stats.real_s = time.monotonic() - started
        if self.progress is not None:
            self.progress.update(self.fleet, stats)

    def run(
        self, *, until: datetime | None = None, stop: threading.Event | None = None
    ) -> RunStats:
        """Follow the clock until ``until`` (simulated) or until ``stop`` is set."""
        stop = stop or threading.Event()
        started = time.monotonic()
        while not stop.is_set():
            tick_started = time.monotonic()
            target = self.clock.now()
            if until is not None:
                target = min(target, until)
            # Whole steps only, so the readings do not depend on how the ticks fell; the last
            # step to ``until`` may be short.
            self._tick(target, started, partial=target == until)
            self.stats.lag_s = max(0.0, (self.clock.now() - self.fleet.now).total_seconds())
            if until is not None and self.fleet.now >= until:
                break
            stop.wait(max(0.0, self.tick_s - (time.monotonic() - tick_started)))
        self._finish()
        return self.stats

    def run_stepped(
        self,
        clock: ManualClock,
        until: datetime,
        step: timedelta,
        *,
        after_step: Callable[[datetime], None] | None = None,
    ) -> RunStats:
        """Move ``clock`` by ``step`` until ``until``, delivering after every step.

        ``after_step(now)`` runs after each step's events were handed to the sink: a test can
        wait there until the server has caught up (and evaluate its timers at ``now``) before
        the clock moves on.
        """
        if step <= timedelta(0):
            raise ValueError("step must be positive")
        started = time.monotonic()
        self._tick(clock.now(), started)
        if after_step is not None:
            after_step(clock.now())
        while clock.now() < until:
            clock.advance(min(step, until - clock.now()))
            self._tick(clock.now(), started)
            if after_step is not None:
                after_step(clock.now())
        self._finish()
        return self.stats

    def _finish(self) -> None:
        if self.progress is not None:
            self.progress.update(self.fleet, self.stats, final=True)
