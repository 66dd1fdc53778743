"""Seeding the live hub reads door-counter baselines straight from the SQLite store for many rooms
at once; whatever the readings (several counters per room, readings before the reset or ahead of
the clock, counts that would go below zero, presence sensors beside counters), the baselines and
the page data are what the store port gives, one device at a time."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards import LiveHub
from dashboards._seed import CounterRoom, counter_baselines
from dashboards._views import overview, site_view
from ingest_server import StoredReading
from ingest_server.store import SqliteStore
from protocol import OccupancyReading, OccupancySource
from rules import Device, DeviceKind, Gateway, Room, Site

NOW = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, 21:30 in New York


class PortOnly:
    """The store seen only through the port's ``series`` and ``latest`` (as an InfluxStore is)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def series(self, *args: Any, **kwargs: Any) -> list[StoredReading]:
        return self._store.series(*args, **kwargs)

    def latest(self, **kwargs: Any) -> list[StoredReading]:
        return self._store.latest(**kwargs)


def _site(sid: str, timezone: str) -> Site:
    devices = (
        Device(id=f"{sid}-c1", kind=DeviceKind.COUNTER, room="r1"),
        Device(id=f"{sid}-c2", kind=DeviceKind.COUNTER, room="r1"),
        Device(id=f"{sid}-c3", kind=DeviceKind.COUNTER, room="r2"),
        Device(id=f"{sid}-p1", kind=DeviceKind.PRESENCE, room="r2"),
        Device(id=f"{sid}-p2", kind=DeviceKind.PRESENCE, room="r3"),
    )
    return Site(
        id=sid,
        name=f"中心{sid}",
        timezone=timezone,
        rooms=tuple(Room(id=f"r{i}", name=f"房间{i}", floor=1) for i in (1, 2, 3, 4)),
        gateways=(Gateway(id=f"{sid}-gw", devices=devices),),
    )


SITES = (_site("sa", "Asia/Shanghai"), _site("sb", "America/New_York"))

READING = st.tuples(
    st.sampled_from(["c1", "c2", "c3", "p1", "p2"]),
    st.integers(min_value=-36 * 60, max_value=10),  # minutes from now: before resets, ahead
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=0, max_value=4),
)


def _stored(site: Site, i: int, reading: tuple[str, int, int, int]) -> StoredReading:
    name, minutes, a, b = reading
    device = f"{site.id}-{name}"
    ts = NOW + timedelta(minutes=minutes, seconds=i % 7)
    room = {"c1": "r1", "c2": "r1", "c3": "r2", "p1": "r2", "p2": "r3"}[name]
    if name.startswith("c"):
        occ = OccupancyReading(
            id=f"{device}-{i}",
            device=device,
            ts=ts,
            source=OccupancySource.COUNTER,
            entries=a,
            exits=b,
        )
    else:
        occ = OccupancyReading(
            id=f"{device}-{i}", device=device, ts=ts, source=OccupancySource.PRESENCE, count=a
        )
    return StoredReading(occ, site.id, f"{site.id}-gw", room, False)


def _fill(store: SqliteStore, readings: Sequence[tuple[str, int, int, int]]) -> None:
    store.write([_stored(site, i, r) for site in SITES for i, r in enumerate(readings)])


def _rooms() -> list[CounterRoom]:
    from zoneinfo import ZoneInfo

    from dashboards._live import RESET_AT, reset_day

    out = []
    for site in SITES:
        day: date = reset_day(NOW, site.timezone)
        start = datetime.combine(day, RESET_AT, tzinfo=ZoneInfo(site.timezone))
        end = NOW + timedelta(minutes=5)
        out.append(CounterRoom(site.id, "r1", (f"{site.id}-c1", f"{site.id}-c2"), start, end))
        out.append(CounterRoom(site.id, "r2", (f"{site.id}-c3",), start, end))
        out.append(CounterRoom(site.id, "r4", (f"{site.id}-none",), start, end))
    return out


@settings(max_examples=40, deadline=None)
@given(readings=st.lists(READING, max_size=60))
def test_baselines_from_sqlite_equal_the_port(readings: list[tuple[str, int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "t.db")
        try:
            _fill(store, readings)
            rooms = _rooms()
            direct = counter_baselines(store, rooms)
            assert direct == counter_baselines(PortOnly(store), rooms)
            assert set(direct) == {(r.site, r.room) for r in rooms}
        finally:
            store.close()


def test_a_room_counts_entries_minus_exits_in_time_order_never_below_zero(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    try:
        # In time order: +2, −5 (clamped to 0), +3 → 3; c2's reading is read with c1's.
        _fill(store, [("c1", -30, 2, 0), ("c2", -20, 0, 5), ("c1", -10, 3, 0), ("c1", 30, 9, 0)])
        baselines = counter_baselines(store, _rooms())
        value, ids = baselines[("sa", "r1")]
        assert value == 3
        assert ids == {"sa-c1-0", "sa-c2-1", "sa-c1-2"}
        assert baselines[("sa", "r4")] == (0, set())
    finally:
        store.close()


@settings(max_examples=15, deadline=None)
@given(readings=st.lists(READING, max_size=40))
def test_page_data_seeded_directly_equals_seeded_through_the_port(
    readings: list[tuple[str, int, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "t.db")
        try:
            _fill(store, readings)
            records = SimpleNamespace(gateway_statuses=lambda site=None: [])
            direct = SimpleNamespace(store=store, records=records)
            port = SimpleNamespace(store=PortOnly(store), records=records)
            a = overview(direct, LiveHub(), SITES, NOW)  # type: ignore[arg-type]
            b = overview(port, LiveHub(), SITES, NOW)  # type: ignore[arg-type]
            assert a == b
            c = site_view(direct, LiveHub(), SITES[1], NOW)  # type: ignore[arg-type]
            d = site_view(port, LiveHub(), SITES[1], NOW)  # type: ignore[arg-type]
            assert c == d
        finally:
            store.close()
