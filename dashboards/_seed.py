"""Door-counter baselines for seeding the live hub: entries − exits since today's reset per room,
for many rooms in one go.

The store port reads one device at a time and builds a full reading per row; a city overview
asks for hundreds of counter devices with a day of readings each. On the SQLite store this
module asks for plain columns instead (``SqliteStore.counter_columns``: one query per reset time
and batch of devices, no reading objects); any other store, or a read that fails, takes the
port (:meth:`series`), page by page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Types only: ingest_server includes this package's router, so no import at run time.
    from ingest_server import StoredReading
    from ingest_server.store import SqliteStore, TimeSeriesStore

__all__ = ["CounterRoom", "counter_baselines"]

log = logging.getLogger(__name__)

# Raw readings per port query; within the port's MAX_SERIES_LIMIT (10,000), so a full page
# means more may follow.
_PAGE = 5_000
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CounterRoom:
    """A room to seed: its counter devices and the window to count, ``[start, end)``."""

    site: str
    room: str
    devices: tuple[str, ...]
    start: datetime
    end: datetime


Baseline = tuple[int, set[str]]


def _us(when: datetime) -> int:
    # As ingest_server._model.to_us: exact microseconds since the epoch of an aware datetime.
    delta = when - _UTC_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _count(rows: Iterable[tuple[str, int, int, int | None]]) -> Baseline:
    """Entries − exits over ``rows`` (id, ts_us, entries, exits) in (time, id) order, never
    below zero, and the ids counted."""
    value = 0
    ids: set[str] = set()
    for reading_id, _ts, entries, exits in sorted(rows, key=lambda r: (r[1], r[0])):
        value = max(0, value + int(entries) - int(exits or 0))
        ids.add(reading_id)
    return value, ids


def _from_port(store: TimeSeriesStore, room: CounterRoom) -> Baseline:
    readings: dict[str, StoredReading] = {}
    for device in room.devices:
        since = room.start
        while True:
            page = store.series(device, since, room.end, kind="occupancy", limit=_PAGE)
            fresh = [r for r in page if r.id not in readings]
            readings.update((r.id, r) for r in fresh)
            if len(page) < _PAGE or not fresh:
                break
            since = page[-1].ts
    rows: list[tuple[str, int, int, int | None]] = []
    for reading in readings.values():
        fields = reading.fields()
        if "entries" in fields:
            rows.append(
                (reading.id, _us(reading.ts), int(fields["entries"]), int(fields.get("exits", 0)))
            )
    return _count(rows)


def _from_sqlite(
    store: SqliteStore, rooms: Sequence[CounterRoom]
) -> dict[tuple[str, str], Baseline]:
    found: dict[tuple[str, str], dict[str, tuple[str, int, int, int | None]]] = {}
    # (window) -> device -> the rooms counting it over that window.
    windows: dict[tuple[datetime, datetime], dict[str, list[tuple[str, str]]]] = {}
    for room in rooms:
        key = (room.site, room.room)
        found[key] = {}
        devices = windows.setdefault((room.start, room.end), {})
        for device in room.devices:
            devices.setdefault(device, []).append(key)
    for (start, end), devices in windows.items():
        for device, reading_id, ts_us, entries, exits in store.counter_columns(
            sorted(devices), start, end
        ):
            for key in devices[device]:
                found[key][reading_id] = (reading_id, ts_us, entries, exits)
    return {key: _count(rows.values()) for key, rows in found.items()}


def counter_baselines(
    store: TimeSeriesStore | Any, rooms: Sequence[CounterRoom]
) -> dict[tuple[str, str], Baseline]:
    """Per (site, room): entries − exits of its counter devices' readings in its window, in
    (time, id) order and never below zero, and the ids of the readings counted."""
    if not rooms:
        return {}
    from ingest_server import StoreError
    from ingest_server.store import SqliteStore

    if isinstance(store, SqliteStore):
        try:
            return _from_sqlite(store, rooms)
        except StoreError as exc:
            log.warning("counter baselines: column read failed (%s); using the port", exc)
    return {(room.site, room.room): _from_port(store, room) for room in rooms}
