"""Room occupancy series for utilization read straight from the SQLite store equal what the store
port's five-minute buckets give, for any mix of count and door-counter readings, and a room
without readings has no series either way."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_server import OccupancyBucket, StoredReading
from ingest_server._occupancy import room_series
from ingest_server.store import SqliteStore
from protocol import OccupancyReading, OccupancySource
from rules import OccupancySeries, Room, Site

START = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai
END = START + timedelta(days=2)
SITE = Site(
    id="s1",
    name="中心",
    timezone="Asia/Shanghai",
    rooms=tuple(Room(id=f"r{i}", name=f"房间{i}", floor=1) for i in range(4)),
)


class PortOnly:
    """The store through the port's ``occupancy`` only (as an InfluxStore is used)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def occupancy(self, *args: Any) -> list[OccupancyBucket]:
        return self._store.occupancy(*args)


def _same(a: dict[str, OccupancySeries], b: dict[str, OccupancySeries]) -> None:
    assert a.keys() == b.keys()
    for room in a:
        x, y = a[room], b[room]
        for name in ("times", "values", "arrival_times", "arrivals"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert x.corrections == y.corrections
        assert x.derived_from == y.derived_from


READING = st.tuples(
    st.sampled_from(["r0", "r1", "r2"]),
    st.integers(min_value=-120, max_value=60 * 49),  # minutes from START, some outside
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0, max_value=59_999_999),
)


@settings(max_examples=40, deadline=None)
@given(readings=st.lists(READING, max_size=80), counters_in_r1=st.booleans())
def test_direct_series_equal_the_ports(
    readings: list[tuple[str, int, int, int, int]], counters_in_r1: bool
) -> None:
    stored = []
    for i, (room, minute, a, b, us) in enumerate(readings):
        ts = START + timedelta(minutes=minute, microseconds=us)
        if room == "r2" or (room == "r1" and counters_in_r1):
            reading = OccupancyReading(
                id=f"x{i}",
                device=f"{room}-c",
                ts=ts,
                source=OccupancySource.COUNTER,
                entries=a % 6,
                exits=b,
            )
        else:
            reading = OccupancyReading(
                id=f"x{i}", device=f"{room}-p", ts=ts, source=OccupancySource.PRESENCE, count=a
            )
        stored.append(StoredReading(reading, "s1", "gw", room, False))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "t.db")
        try:
            store.write(stored)
            direct = room_series(store, SITE, START, END)
            _same(direct, room_series(PortOnly(store), SITE, START, END))  # type: ignore[arg-type]
            assert "r3" not in direct
            wanted = {"r1", "r3"}
            _same(
                room_series(store, SITE, START, END, wanted),
                room_series(PortOnly(store), SITE, START, END, wanted),  # type: ignore[arg-type]
            )
        finally:
            store.close()
