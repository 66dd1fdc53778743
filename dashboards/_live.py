"""Live state for the dashboards: a reading sink that keeps each room's current occupancy and
each device's last state, and pushes changes to server-sent-event subscribers.

The consumer calls :meth:`LiveHub.on_readings` on its writer thread after a batch is stored, so
the sink only updates a few dictionaries under a lock and hands events to each subscriber's
asyncio loop with ``call_soon_threadsafe``; it never queries a store.

Occupancy of a room: the sum of the latest counts of its count-form sensors; else, for door
counters, entries − exits since the daily reset (03:00 local, as in ``rules.utilization``),
never below zero. A counter room's baseline comes from the store the first time a page asks
for the room (:meth:`LiveHub.seed`, with the ids of the readings it counted); until then its
events carry ``occupancy: null`` and its readings wait in a small pending list. Counter readings
are counted once by id (MQTT redeliveries hand the same reading to sinks again, and a reading
can be both in the seed and handed to the sink after it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from protocol import OccupancyReading

if TYPE_CHECKING:
    # Types only: ingest_server includes this package's router, so no import at run time.
    from ingest_server import StoredReading, StoredStatus


__all__ = ["RESET_AT", "LiveEvent", "LiveHub", "RoomLive", "Subscription", "reset_day"]

log = logging.getLogger(__name__)

# The daily counter reset of rules.utilization: a time every room is empty.
RESET_AT = time(3, 0)
# Events a slow browser may lag behind before it is told to reload its snapshot; a site page
# receives a few events per second, so this is minutes of slack.
QUEUE_SIZE = 1000
# Counter reading ids remembered per room to count each once: redeliveries and the overlap with
# a seed concern the last seconds to minutes, and a busy door counter reports about once a
# minute, so 1024 ids is hours of margin at ~40 kB per room.
SEEN_IDS = 1024
# Counter readings held per unseeded room until a page asks for it; beyond this the oldest
# are dropped (the seed counts them from the store anyway: only the overlap needs them).
PENDING_MAX = 1024


def reset_day(ts: datetime, timezone: str) -> date:
    """The counting day of ``ts``: the local date of the last daily reset at or before it."""
    local = ts.astimezone(ZoneInfo(timezone))
    shifted = local - timedelta(hours=RESET_AT.hour, minutes=RESET_AT.minute)
    return shifted.date()


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One server-sent event: ``type`` is the SSE event name, ``data`` its JSON body."""

    type: str
    site: str
    data: dict[str, Any]

    def encode(self) -> str:
        body = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"), default=str)
        return f"event: {self.type}\ndata: {body}\n\n"


@dataclass(slots=True)
class RoomLive:
    """What the hub knows of one room."""

    counts: dict[str, int] = field(default_factory=dict)
    counter: int | None = None
    counter_day: date | None = None
    occupied: dict[str, bool] = field(default_factory=dict)
    ts: datetime | None = None
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    pending: OrderedDict[str, tuple[date, int]] = field(default_factory=OrderedDict)

    def remember(self, reading_id: str) -> None:
        self.seen[reading_id] = None
        while len(self.seen) > SEEN_IDS:
            self.seen.popitem(last=False)

    @property
    def has_counter(self) -> bool:
        return self.counter_day is not None

    def value(self) -> int | None:
        if self.counts:
            return sum(self.counts.values())
        return self.counter

    def is_occupied(self) -> bool | None:
        value = self.value()
        if value is not None:
            return value > 0
        if self.occupied:
            return any(self.occupied.values())
        return None


class Subscription:
    """One SSE client: a bounded queue on its own event loop."""

    def __init__(
        self,
        site: str | None,
        loop: asyncio.AbstractEventLoop,
        allowed: frozenset[str] | None = None,
    ) -> None:
        self.site = site
        # The sites the subscriber may see (None: every site), whatever ``site`` asks for.
        self.allowed = allowed
        self.loop = loop
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def offer(self, event: LiveEvent | None) -> None:
        """Runs on the subscriber's loop. A full queue drops the event and flags a resync."""
        if event is None:
            while self.queue.full():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        if self.queue.full():
            self.overflowed = True
            return
        self.queue.put_nowait(event)


class LiveHub:
    """A :class:`ingest_server.ReadingSink` with per-room live state and SSE fan-out."""

    def __init__(self, timezones: dict[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[tuple[str, str], RoomLive] = {}
        self._subs: set[Subscription] = set()
        self._timezones: dict[str, str] = dict(timezones or {})
        # Per timezone: the UTC bounds of the last counting day computed, and that day.
        self._days: dict[str, tuple[datetime, datetime, date]] = {}
        self._closed = False

    # --- state ---------------------------------------------------------------------------

    def set_timezone(self, site: str, timezone: str) -> None:
        with self._lock:
            self._timezones[site] = timezone

    def room(self, site: str, room: str) -> RoomLive | None:
        """A copy of what the hub knows of a room (its values, not its id memory)."""
        with self._lock:
            state = self._rooms.get((site, room))
            if state is None:
                return None
            return RoomLive(
                dict(state.counts), state.counter, state.counter_day, dict(state.occupied), state.ts
            )

    def seed(
        self,
        site: str,
        room: str,
        counts: dict[str, int],
        counter: int | None,
        counter_day: date | None,
        occupied: dict[str, bool],
        ts: datetime | None,
        counter_ids: Collection[str] = (),
    ) -> None:
        """Set what the store says of a room, keeping anything the hub learnt meanwhile.

        ``counter`` is entries − exits since the reset of ``counter_day``, counted from the
        readings ``counter_ids``; pending readings not among them are added on top.
        """
        with self._lock:
            state = self._rooms.setdefault((site, room), RoomLive())
            for device, count in counts.items():
                state.counts.setdefault(device, count)
            for device, flag in occupied.items():
                state.occupied.setdefault(device, flag)
            if state.counter is None and counter is not None:
                value = counter
                for reading_id, (day, delta) in state.pending.items():
                    if day == counter_day and reading_id not in counter_ids:
                        value = max(0, value + delta)
                state.counter = value
                state.counter_day = counter_day
                for reading_id in (*counter_ids, *state.pending):
                    state.remember(reading_id)
                state.pending.clear()
            if state.ts is None or (ts is not None and ts > state.ts):
                state.ts = ts

    # --- ReadingSink ---------------------------------------------------------------------

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        events: list[LiveEvent] = []
        with self._lock:
            touched: dict[tuple[str, str], RoomLive] = {}
            for s in stored:
                reading = s.reading
                if reading.kind == "occupancy":
                    if s.room is not None:
                        key = (s.site, s.room)
                        state = touched.get(key)
                        if state is None:
                            state = self._rooms.get(key)
                            if state is None:
                                state = self._rooms[key] = RoomLive()
                            touched[key] = state
                        self._apply_occupancy(state, s, reading)
                    continue
                events.append(
                    LiveEvent(
                        "device",
                        s.site,
                        {
                            "site": s.site,
                            "room": s.room,
                            "device": s.device,
                            "kind": s.kind,
                            "ts": s.ts.isoformat(),
                            "fields": s.fields(),
                        },
                    )
                )
            for key in touched:
                events.append(self._room_event(*key))
        self._publish(events)

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None:
        self._publish(
            [
                LiveEvent(
                    "gateway",
                    st.site,
                    {
                        "site": st.site,
                        "gateway": st.gateway,
                        "state": st.status.state.value,
                        "ts": (st.status.ts or st.received_at).isoformat(),
                    },
                )
                for st in statuses
            ]
        )

    def _apply_occupancy(
        self, state: RoomLive, s: StoredReading, reading: OccupancyReading
    ) -> None:
        ts = reading.ts
        if state.ts is None or ts > state.ts:
            state.ts = ts
        if reading.count is not None:
            state.counts[reading.device] = int(reading.count)
        elif reading.entries is not None:
            day = self._counting_day(ts, self._timezones.get(s.site, "Asia/Shanghai"))
            delta = int(reading.entries) - int(reading.exits or 0)
            if state.counter is not None and state.counter_day is not None:
                if day > state.counter_day:
                    state.counter, state.counter_day = 0, day
                if day == state.counter_day and reading.id not in state.seen:
                    state.remember(reading.id)
                    state.counter = max(0, state.counter + delta)
            else:
                state.counter_day = day
                state.pending[reading.id] = (day, delta)
                while len(state.pending) > PENDING_MAX:
                    state.pending.popitem(last=False)
        elif reading.occupied is not None:
            state.occupied[reading.device] = bool(reading.occupied)

    def _counting_day(self, ts: datetime, timezone: str) -> date:
        """:func:`reset_day`, answered from the last day seen in ``timezone`` when ``ts`` falls
        inside it (a batch's readings are seconds apart; a zone lookup per reading is not)."""
        cached = self._days.get(timezone)
        if cached is not None and cached[0] <= ts < cached[1]:
            return cached[2]
        day = reset_day(ts, timezone)
        zone = ZoneInfo(timezone)
        start = datetime.combine(day, RESET_AT, zone)
        end = datetime.combine(day + timedelta(days=1), RESET_AT, zone)
        # Cached only with one UTC offset all day: local time is then ts + offset, so every
        # instant in [start, end) has this counting day. A DST day is computed per reading.
        if start.utcoffset() == end.utcoffset():
            self._days[timezone] = (start.astimezone(UTC), end.astimezone(UTC), day)
        return day

    def _room_event(self, site: str, room: str) -> LiveEvent:
        state = self._rooms[(site, room)]
        return LiveEvent(
            "room",
            site,
            {
                "site": site,
                "room": room,
                "occupancy": state.value(),
                "occupied": state.is_occupied(),
                "ts": state.ts.isoformat() if state.ts else None,
            },
        )

    # --- subscribers ---------------------------------------------------------------------

    def subscribe(
        self,
        site: str | None,
        loop: asyncio.AbstractEventLoop,
        allowed: frozenset[str] | None = None,
    ) -> Subscription:
        """A new subscriber to one site's events (``None``: every site it may see)."""
        sub = Subscription(site, loop, allowed)
        with self._lock:
            if self._closed:
                sub.offer(None)
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def _publish(self, events: Sequence[LiveEvent]) -> None:
        if not events:
            return
        with self._lock:
            subs = tuple(self._subs)
        for sub in subs:
            for event in events:
                if (sub.site is None or sub.site == event.site) and (
                    sub.allowed is None or event.site in sub.allowed
                ):
                    self._call(sub, event)

    @staticmethod
    def _call(sub: Subscription, event: LiveEvent | None) -> None:
        try:
            sub.loop.call_soon_threadsafe(sub.offer, event)
        except RuntimeError:
            # The subscriber's loop closed (server stopping); its stream is gone anyway.
            log.debug("live subscriber's event loop is closed; event dropped")

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        with self._lock:
            self._closed = True
            subs = tuple(self._subs)
        for sub in subs:
            self._call(sub, None)
