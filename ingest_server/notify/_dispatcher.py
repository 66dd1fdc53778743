"""Routing alert events to channels: by site and severity, in the route's language, with
reminders until acknowledged, escalation to a second route, and a resolution notice.

``submit`` and ``remind`` may be called from any thread and never wait: they only put
notifications on the channels' queues (on the dispatcher's event loop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType

from ingest_server.alerts import AlertEvent, AlertPublic, AlertState, EventKind
from ingest_server.notify._base import (
    ChannelStats,
    Notification,
    NotificationKind,
    Notifier,
    render,
)
from ingest_server.notify._settings import NotifySettings, Route
from ingest_server.notify._worker import ChannelWorker, RetryPolicy
from protocol import Clock

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)

_UPDATES = {
    EventKind.UPDATED: NotificationKind.UPDATED,
    EventKind.ACKNOWLEDGED: NotificationKind.ACKNOWLEDGED,
    EventKind.ASSIGNED: NotificationKind.ASSIGNED,
    EventKind.SILENCED: NotificationKind.SILENCED,
    EventKind.NOTE: NotificationKind.NOTE,
}


class Dispatcher:
    """Owns one :class:`ChannelWorker` task per channel. ``async with`` starts and stops it."""

    def __init__(
        self,
        settings: NotifySettings,
        channels: Mapping[str, Notifier],
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        missing = {c for r in settings.routes for c in r.channels} - set(channels)
        if missing:
            raise ValueError(f"routes name channels that were not built: {sorted(missing)}")
        self.settings = settings
        self.clock = clock
        self._routes = {r.name: r for r in settings.routes}
        policy = policy or RetryPolicy(
            timeout_s=settings.send_timeout_s,
            max_attempts=settings.max_attempts,
            backoff_base_s=settings.backoff_base_s,
            backoff_cap_s=settings.backoff_cap_s,
        )
        self._workers = {
            name: ChannelWorker(notifier, policy, settings.queue_size)
            for name, notifier in channels.items()
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._last_sent: dict[tuple[int, int, str], datetime] = {}
        self._escalated: dict[int, set[str]] = {}
        self.suppressed = 0  # notifications held back by a silence

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for name, worker in self._workers.items():
            await worker.notifier.start()
            self._tasks.append(asyncio.create_task(worker.run(), name=f"notify:{name}"))

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop the workers (after up to ``drain_s`` seconds of delivering what is queued)."""
        if drain_s > 0:
            try:
                await asyncio.wait_for(self.drain(), drain_s)
            except TimeoutError:
                log.warning("notify: stopped with notifications still queued")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for worker in self._workers.values():
            await worker.notifier.aclose()
        self._loop = None

    async def __aenter__(self) -> Dispatcher:
        await self.start()
        return self

    async def __aexit__(
        self,
        _t: type[BaseException] | None,
        _e: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def drain(self) -> None:
        """Wait until every queued notification was delivered or given up."""
        await asyncio.gather(*(w.join() for w in self._workers.values()))

    # -- inputs ------------------------------------------------------------------------------

    def submit(self, event: AlertEvent) -> None:
        """Route one alert event (the AlertService's sink). Any thread; never waits."""
        with self._lock:
            planned = self._plan(event)
        self._enqueue(planned)

    def remind(self, firing: Sequence[AlertPublic]) -> None:
        """Reminders and escalations for the firing alerts (the scheduler's reminder job)."""
        now = self.clock.now()
        planned: list[tuple[str, Notification]] = []
        with self._lock:
            live = {(a.id, a.occurrences) for a in firing}
            for key in [k for k in self._last_sent if (k[0], k[1]) not in live]:
                del self._last_sent[key]
            for alert in firing:
                if alert.state is not AlertState.FIRING or alert.fired_at is None:
                    continue
                silenced = alert.silenced_until is not None and alert.silenced_until > now
                for route in self._primary(alert):
                    if silenced and route.respect_silence:
                        continue
                    planned += self._remind_one(alert, route, now)
        self._enqueue(planned)

    def stats(self) -> dict[str, ChannelStats]:
        """Delivery counters per channel."""
        return {name: worker.stats() for name, worker in self._workers.items()}

    def prometheus(self) -> str:
        """The counters in Prometheus text format, for the app's /metrics."""
        lines: list[str] = []
        stats = self.stats()
        for metric, help_text, kind in (
            ("sent", "Notifications delivered", "counter"),
            ("failed_attempts", "Delivery attempts that failed", "counter"),
            ("given_up", "Notifications given up after retries", "counter"),
            ("dropped", "Notifications dropped from a full queue", "counter"),
            ("queued", "Notifications waiting", "gauge"),
        ):
            name = f"linli_notify_{metric}" + ("_total" if kind == "counter" else "")
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for channel, s in stats.items():
                lines.append(f'{name}{{channel="{channel}"}} {getattr(s, metric)}')
        lines.append("# HELP linli_notify_suppressed_total Notifications held back by a silence")
        lines.append("# TYPE linli_notify_suppressed_total counter")
        lines.append(f"linli_notify_suppressed_total {self.suppressed}")
        return "\n".join(lines) + "\n"

    # -- planning ----------------------------------------------------------------------------

    def _primary(self, alert: AlertPublic) -> list[Route]:
        return [r for r in self._routes.values() if not r.escalation_only and r.matches(alert)]

    def _plan(self, event: AlertEvent) -> list[tuple[str, Notification]]:
        alert = event.alert
        planned: list[tuple[str, Notification]] = []
        if event.kind is EventKind.FIRED:
            self._escalated.pop(alert.id, None)
        targets: list[tuple[Route, NotificationKind]] = []
        for route in self._primary(alert):
            match event.kind:
                case EventKind.FIRED | EventKind.ESCALATED:
                    kind = (
                        NotificationKind.FIRED
                        if event.kind is EventKind.FIRED
                        else NotificationKind.ESCALATED
                    )
                    targets.append((route, kind))
                    self._last_sent[(alert.id, alert.occurrences, route.name)] = event.at
                case EventKind.RESOLVED:
                    if route.notify_resolved:
                        targets.append((route, NotificationKind.RESOLVED))
                case _:
                    if route.include_updates:
                        targets.append((route, _UPDATES[event.kind]))
        if event.kind is EventKind.RESOLVED:
            for name in sorted(self._escalated.pop(alert.id, set())):
                route = self._routes[name]
                if route.notify_resolved:
                    targets.append((route, NotificationKind.RESOLVED))
        for route, kind in targets:
            if event.silenced and route.respect_silence:
                self.suppressed += 1
                continue
            planned += self._notifications(route, kind, alert, event.at)
        return planned

    def _remind_one(
        self, alert: AlertPublic, route: Route, now: datetime
    ) -> list[tuple[str, Notification]]:
        assert alert.fired_at is not None
        planned: list[tuple[str, Notification]] = []
        interval = route.remind_every_s(alert)
        if interval is not None:
            key = (alert.id, alert.occurrences, route.name)
            last = self._last_sent.get(key, alert.fired_at)
            if now - last >= timedelta(seconds=interval):
                self._last_sent[key] = now
                planned += self._notifications(route, NotificationKind.REMINDER, alert, now)
        target = self._routes.get(route.escalate_to) if route.escalate_to else None
        if (
            target is not None
            and route.escalate_after_min is not None
            and alert.severity.at_least(route.escalate_min_severity)
            and now - alert.fired_at >= timedelta(minutes=route.escalate_after_min)
            and target.name not in self._escalated.get(alert.id, set())
        ):
            self._escalated.setdefault(alert.id, set()).add(target.name)
            planned += self._notifications(target, NotificationKind.ESCALATION, alert, now)
        return planned

    def _notifications(
        self, route: Route, kind: NotificationKind, alert: AlertPublic, at: datetime
    ) -> list[tuple[str, Notification]]:
        title, text = render(kind, alert, route.language, route.timezone)
        notification = Notification(
            kind=kind,
            route=route.name,
            language=route.language,
            title=title,
            text=text,
            at=at,
            alert=alert,
        )
        return [(channel, notification) for channel in route.channels]

    def _enqueue(self, planned: list[tuple[str, Notification]]) -> None:
        if not planned:
            return
        loop = self._loop
        if loop is None:
            raise RuntimeError("the notification dispatcher is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._offer(planned)
        else:
            loop.call_soon_threadsafe(self._offer, planned)

    def _offer(self, planned: list[tuple[str, Notification]]) -> None:
        for channel, notification in planned:
            self._workers[channel].offer(notification)
