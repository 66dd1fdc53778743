"""The seam between ingest and alerts: readings → engine → lifecycle → notifications."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from ingest_server.alerts._models import AlertEvent, AlertPublic
from ingest_server.alerts._service import AlertService
from protocol import Clock, GatewayStatus, Reading
from rules.facility import Site
from rules.live import Decision, EngineSnapshot, LiveEngine, RulePack, TimerState

__all__ = ["AlertPipeline", "Reminder"]

log = logging.getLogger(__name__)

# Decisions kept while the database is down: hours of a city's alert traffic; beyond that the
# oldest go (the engine re-raises anything still true on its next evaluation after restart).
_MAX_BACKLOG = 10_000

Reminder = Callable[[Sequence[AlertPublic]], None]
"""Called by :meth:`AlertPipeline.remind` with the firing alerts (the dispatcher's remind)."""


class AlertPipeline:
    """Owns the engine and feeds its decisions to the alert service.

    Thread-safe (one lock around the engine). Every method does database I/O: call it from the
    consumer's worker thread, a scheduler thread or ``asyncio.to_thread``.
    """

    def __init__(
        self,
        engine: LiveEngine,
        service: AlertService,
        clock: Clock,
        *,
        reminder: Reminder | None = None,
    ) -> None:
        self.engine = engine
        self.service = service
        self.clock = clock
        self.reminder = reminder
        self._lock = threading.Lock()
        self._backlog: list[Decision] = []

    def set_sites(self, sites: Iterable[Site]) -> list[AlertEvent]:
        """The registry changed; alerts of removed sites resolve."""
        return self._run(lambda now: self.engine.set_sites(sites, now))

    def set_packs(self, packs: Mapping[str, RulePack]) -> None:
        """New validated packs (from :class:`PackLoader`, which keeps the last good ones)."""
        with self._lock:
            self.engine.set_packs(packs)

    def set_capacities(self, capacities: Mapping[str, Mapping[str, int]]) -> None:
        """Room capacities per site (``rules.room_capacity`` under each site's pack)."""
        with self._lock:
            self.engine.set_capacities(capacities)

    def on_readings(self, readings: Iterable[Reading]) -> list[AlertEvent]:
        """Readings stored by the consumer (alarm events too), in arrival order."""
        return self._run(lambda now: self.engine.on_readings(readings, now))

    def on_reading(self, reading: Reading) -> list[AlertEvent]:
        return self.on_readings([reading])

    def on_status(self, status: GatewayStatus) -> list[AlertEvent]:
        """A gateway status message (birth, heartbeat or Last Will)."""
        return self._run(lambda now: self.engine.on_status(status, now))

    def on_occupancy(self, site: str, room: str, count: int) -> list[AlertEvent]:
        """A room's occupancy computed elsewhere (e.g. drift-corrected counters)."""
        return self._run(lambda now: self.engine.on_occupancy(site, room, count, now))

    def tick(self) -> list[AlertEvent]:
        """Time-driven checks: durations, silent devices, missed heartbeats."""
        return self._run(self.engine.tick)

    def remind(self) -> None:
        """Hand the firing alerts to the reminder (reminders and escalation)."""
        if self.reminder is not None:
            self.reminder(self.service.firing())

    def active(self) -> list[TimerState]:
        """The engine's pending and firing timers (for the dashboard and tests)."""
        with self._lock:
            return self.engine.active()

    def save_snapshot(self) -> None:
        """Persist the engine's timers and facts."""
        with self._lock:
            now = self.clock.now()
            data = self.engine.snapshot(now).model_dump_json()
        self.service.save_snapshot(data, now)

    def restore(self) -> bool:
        """Continue from the stored snapshot, if there is a usable one."""
        data = self.service.load_snapshot()
        if data is None:
            return False
        try:
            snapshot = EngineSnapshot.model_validate_json(data)
            with self._lock:
                self.engine.restore(snapshot, self.clock.now())
        except (ValidationError, ValueError) as exc:
            log.warning("engine snapshot not restored, starting afresh: %s", str(exc)[:300])
            return False
        return True

    def reconcile(self) -> list[AlertEvent]:
        """Resolve stored open alerts the engine no longer holds (after a start without a usable
        snapshot, once a first tick has rebuilt what is true now). Call once at start-up."""
        with self._lock:
            held = {(t.rule, t.subject) for t in self.engine.active()}
            return self.service.resolve_absent(held, self.clock.now())

    @property
    def backlog(self) -> int:
        """Decisions waiting for the database to take them."""
        return len(self._backlog)

    def _run(self, step: Callable[..., list[Decision]]) -> list[AlertEvent]:
        with self._lock:
            decisions = [*self._backlog, *step(self.clock.now())]
            self._backlog = []
            try:
                return self.service.apply(decisions)
            except SQLAlchemyError as exc:
                # The engine has moved on; keep its decisions and apply them with the next call,
                # so a database hiccup delays an alert instead of losing it.
                self._backlog = decisions[-_MAX_BACKLOG:]
                log.warning(
                    "alert database unavailable, %d decisions kept for retry: %s",
                    len(self._backlog),
                    str(exc)[:300],
                )
                return []
