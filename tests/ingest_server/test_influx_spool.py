"""The InfluxDB adapter's spool and line protocol, against a real influxd: byte-identical lines
to influxdb-client's encoder, points (not rows) counted, full batches sent at once and partial
ones after the linger, spools of the older one-line-per-row layout still drained."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from ingest_server import StoredReading
from ingest_server.store import InfluxStore, to_line
from protocol import (
    DoorReading,
    DoorRole,
    DoorState,
    HealthReading,
    OccupancyReading,
    OccupancySource,
    SmokeReading,
    SmokeState,
)
from tests.ingest_server.factories import T0, minutes, occ, smoke, stored
from tests.services import InfluxDB, free_port


def point_line(s: StoredReading) -> str:
    """The reference encoding: influxdb-client's Point, as the adapter used to build lines."""
    point: Any = Point(s.kind)  # type: ignore[no-untyped-call]
    for tag in ("site", "gateway", "device", "room"):
        value = getattr(s, tag)
        if value:
            point = point.tag(tag, value)
    point = point.field("id", s.id).field("unknown_device", s.unknown_device)
    for name, value in s.fields().items():
        point = point.field(name, value)
    ns = int((s.ts - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000
    return str(point.time(ns, WritePrecision.NS).to_line_protocol())


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# Text with everything line protocol must escape: commas, spaces, equals signs, quotes,
# backslashes (also at the end), newlines, tabs, and non-ASCII.
_HOSTILE = st.text(
    alphabet=st.sampled_from(list('ab,= "\\\n\t\r\u6258\u80b2x')), min_size=1, max_size=12
)
_TS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
_INT = st.integers(min_value=0, max_value=100)
_FLOAT = st.floats(min_value=0, max_value=100, allow_nan=False)


@st.composite
def _readings(draw: st.DrawFn) -> Any:
    rid, device, ts = draw(_HOSTILE), draw(_HOSTILE), draw(_TS)
    kind = draw(st.sampled_from(["smoke", "door", "occupancy", "health"]))
    # model_construct: hostile ids and devices the protocol would refuse, to test the escaping.
    if kind == "smoke":
        return SmokeReading.model_construct(
            id=rid,
            device=device,
            ts=ts,
            state=draw(st.sampled_from(SmokeState)),
            obscuration=draw(st.none() | _FLOAT),
            temperature_c=draw(st.none() | _FLOAT),
            battery_pct=draw(st.none() | _INT),
        )
    if kind == "door":
        return DoorReading.model_construct(
            id=rid,
            device=device,
            ts=ts,
            state=draw(st.sampled_from(DoorState)),
            role=draw(st.sampled_from(DoorRole)),
            fault=draw(st.none() | st.booleans()),
        )
    if kind == "occupancy":
        return OccupancyReading.model_construct(
            id=rid,
            device=device,
            ts=ts,
            source=draw(st.sampled_from(OccupancySource)),
            count=draw(st.none() | _INT),
            entries=draw(st.none() | _INT),
            exits=draw(st.none() | _INT),
            occupied=draw(st.none() | st.booleans()),
        )
    return HealthReading.model_construct(
        id=rid,
        device=device,
        ts=ts,
        battery_pct=draw(st.none() | _INT),
        battery_low=draw(st.none() | st.booleans()),
        fault=draw(st.none() | _HOSTILE),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    reading=_readings(),
    site=_HOSTILE,
    gateway=_HOSTILE,
    room=st.none() | _HOSTILE,
)
def test_lines_are_byte_identical_to_influxdb_clients_encoder(
    reading: Any, site: str, gateway: str, room: str | None
) -> None:
    s = StoredReading(reading, site, gateway, room, unknown_device=room is None)
    assert to_line(s) == point_line(s)


def test_the_store_caches_series_keys_without_mixing_them_up(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    store = InfluxStore(influxdb.url, unique_id, spool_path=tmp_path / "spool.db")
    try:
        readings = [
            stored(occ(f"o-{i}", f"cnt-{i % 3}", T0 + minutes(i), entries=i, exits=0), room=room)
            for i, room in enumerate(["r1", "r2", None, "r1", "r2", None])
        ]
        assert store.write(readings) == readings
        assert store.wait_flushed(20)
        assert store.count() == 6
        got = store.series("cnt-2", T0, T0 + minutes(10))
        assert [(s.id, s.room, s.unknown_device) for s in got] == [
            ("o-2", None, True),
            ("o-5", None, True),
        ]
    finally:
        store.close()


def test_spool_depth_counts_points_and_survives_a_restart(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    spool = tmp_path / "spool.db"
    down = InfluxStore(f"http://127.0.0.1:{free_port()}", unique_id, spool_path=spool)
    try:
        for b in range(4):
            batch = [
                stored(smoke(f"s-{b}-{i}", "smk-1", T0 + minutes(b * 30 + i))) for i in range(25)
            ]
            assert len(down.write(batch)) == 25
        assert down.spool_depth() == 100
        assert down.gauges()["linli_influx_spool_points"] == 100
    finally:
        down.close()
    # Reopened on a reachable InfluxDB with a batch size smaller than what is spooled: the count
    # is read back from the file, and every point arrives over several POSTs.
    up = InfluxStore(influxdb.url, unique_id, spool_path=spool, batch_size=30)
    try:
        assert up.spool_depth() == 100
        assert up.wait_flushed(20)
        assert up.count() == 100
        assert up.gauges()["linli_influx_spool_points"] == 0
    finally:
        up.close()


def test_dedupe_holds_for_large_batches_and_within_one_batch(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    store = InfluxStore(influxdb.url, unique_id, spool_path=tmp_path / "spool.db")
    try:
        readings = [
            stored(occ(f"c-{i}", "cnt-1", T0 + timedelta(seconds=i), count=i % 7))
            for i in range(2500)
        ]
        # The same id twice in one batch is stored once.
        assert len(store.write([*readings[:1500], readings[0]])) == 1500
        assert [s.id for s in store.write(readings)] == [s.id for s in readings[1500:]]
        assert store.write(readings) == []
        assert store.wait_flushed(30)
        assert store.count() == 2500
    finally:
        store.close()


def test_a_full_batch_is_sent_without_waiting_for_the_linger(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    store = InfluxStore(
        influxdb.url, unique_id, spool_path=tmp_path / "spool.db", batch_size=20, linger_s=600
    )
    try:
        store.write([stored(smoke(f"s-{i}", "smk-1", T0 + minutes(i))) for i in range(20)])
        wait_until(lambda: store.count() == 20, 20, "a full batch in InfluxDB")
        assert store.spool_depth() == 0
    finally:
        store.close()


def test_a_partial_batch_is_sent_once_the_linger_is_over(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    store = InfluxStore(
        influxdb.url, unique_id, spool_path=tmp_path / "spool.db", batch_size=5000, linger_s=0.3
    )
    try:
        store.write([stored(smoke("s-1", "smk-1", T0))])
        store.write([stored(smoke("s-2", "smk-1", T0 + minutes(1)))])
        wait_until(lambda: store.count() == 2, 20, "the lingering points in InfluxDB")
        wait_until(lambda: store.spool_depth() == 0, 5, "the spool emptied")
    finally:
        store.close()


def test_a_refused_batch_is_counted_in_points(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    ts_ns = int(T0.timestamp()) * 10**9
    influxdb.write(unique_id, f'smoke,device=other battery_pct="low",id="x" {ts_ns}')
    spool = tmp_path / "spool.db"
    down = InfluxStore(f"http://127.0.0.1:{free_port()}", unique_id, spool_path=spool)
    try:
        down.write([stored(smoke(f"bad-{i}", "smk-1", T0 + minutes(i))) for i in range(5)])
    finally:
        down.close()
    store = InfluxStore(influxdb.url, unique_id, spool_path=spool)
    try:
        assert store.wait_flushed(20)
        assert store.gauges()["linli_influx_rejected_points"] == 5
    finally:
        store.close()


def test_a_spool_of_the_one_line_per_row_layout_is_drained(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    spool = tmp_path / "spool.db"
    old = [stored(smoke(f"old-{i}", "smk-1", T0 + minutes(i))) for i in range(30)]
    conn = sqlite3.connect(spool)
    conn.executescript(
        """
        CREATE TABLE seen (id TEXT PRIMARY KEY, ts_us INTEGER NOT NULL);
        CREATE INDEX seen_ts ON seen (ts_us);
        CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
        CREATE TABLE rejected (seq INTEGER PRIMARY KEY, line TEXT NOT NULL, reason TEXT NOT NULL);
        """
    )
    with conn:
        conn.executemany("INSERT INTO seen VALUES (?, 0)", [(s.id,) for s in old])
        conn.executemany("INSERT INTO spool (line) VALUES (?)", [(point_line(s),) for s in old])
    conn.close()
    store = InfluxStore(influxdb.url, unique_id, spool_path=spool)
    try:
        assert store.spool_depth() == 30
        # Old ids still drop replays; new writes go after the old rows.
        assert store.write(old[:5]) == []
        new = [stored(smoke(f"new-{i}", "smk-1", T0 + minutes(60 + i))) for i in range(10)]
        assert store.write(new) == new
        assert store.wait_flushed(20)
        assert store.count() == 40
        assert [s.id for s in store.latest(device="smk-1")] == ["new-9"]
    finally:
        store.close()


def test_close_sends_what_is_lingering(influxdb: InfluxDB, tmp_path: Path, unique_id: str) -> None:
    influxdb.create_database(unique_id)
    store = InfluxStore(
        influxdb.url, unique_id, spool_path=tmp_path / "spool.db", batch_size=5000, linger_s=600
    )
    store.write([stored(smoke(f"s-{i}", "smk-1", T0 + minutes(i))) for i in range(3)])
    store.close()
    result = influxdb.query('SELECT count("id") FROM "smoke"', unique_id)
    assert result["results"][0]["series"][0]["values"][0][1] == 3  # type: ignore[index]
