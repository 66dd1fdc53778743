"""One suite, run against both time-series adapters: they must answer identically."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ingest_server import StoredReading
from ingest_server.store import InfluxStore, SqliteStore, TimeSeriesStore
from protocol import DoorState, SmokeState
from tests.ingest_server.factories import T0, door, health, minutes, occ, smoke, stored
from tests.services import InfluxDB, free_port


@pytest.fixture(params=["sqlite", "influxdb"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_id: str
) -> Iterator[TimeSeriesStore]:
    if request.param == "sqlite":
        s: TimeSeriesStore = SqliteStore(tmp_path / "ts.db")
    else:
        influx: InfluxDB = request.getfixturevalue("influxdb")
        influx.create_database(unique_id)
        s = InfluxStore(influx.url, unique_id, spool_path=tmp_path / "spool.db")
    yield s
    s.close()


def write(store: TimeSeriesStore, readings: list[StoredReading]) -> list[StoredReading]:
    fresh = store.write(readings)
    if isinstance(store, InfluxStore):
        assert store.wait_flushed(20), "spool did not drain"
    return fresh


def test_write_is_idempotent_by_reading_id(store: TimeSeriesStore) -> None:
    a = stored(smoke("r-1", "smk-1", T0))
    b = stored(smoke("r-2", "smk-1", T0 + minutes(1)))
    assert [s.id for s in write(store, [a, b, a])] == ["r-1", "r-2"]
    assert write(store, [b, a]) == []
    assert store.count() == 2


def test_series_round_trips_every_kind_in_time_order(store: TimeSeriesStore) -> None:
    readings = [
        stored(health("h-1", "dev-1", T0 + minutes(2))),
        stored(smoke("s-1", "dev-1", T0, SmokeState.ALARM)),
        stored(door("d-1", "dev-1", T0 + minutes(1), DoorState.OPEN), room=None),
        stored(occ("o-1", "dev-1", T0 + minutes(3), entries=2, exits=1)),
        stored(smoke("s-other", "dev-2", T0)),
    ]
    write(store, readings)
    got = store.series("dev-1", T0, T0 + minutes(10))
    assert [s.id for s in got] == ["s-1", "d-1", "h-1", "o-1"]
    by_id = {r.id: r for r in readings}
    for s in got:
        assert s == by_id[s.id]
    assert got[1].unknown_device
    assert got[1].room is None
    assert [s.id for s in store.series("dev-1", T0, T0 + minutes(10), kind="smoke")] == ["s-1"]
    assert [s.id for s in store.series("dev-1", T0 + minutes(1), T0 + minutes(3))] == [
        "d-1",
        "h-1",
    ]
    assert [s.id for s in store.series("dev-1", T0, T0 + minutes(10), limit=2)] == ["s-1", "d-1"]


def test_occupancy_buckets_match(store: TimeSeriesStore) -> None:
    readings = [
        stored(occ(f"c-{i}", "pres-1", T0 + minutes(5 * i), count=i)) for i in range(12)
    ] + [
        stored(occ("e-1", "cnt-1", T0 + minutes(1), entries=3, exits=1)),
        stored(occ("e-2", "cnt-1", T0 + minutes(16), entries=2, exits=2)),
        stored(occ("other-room", "pres-9", T0, count=50), room="r2"),
    ]
    write(store, readings)
    got = store.occupancy("s1", "r1", T0, T0 + timedelta(hours=1), timedelta(minutes=15))
    assert [b.start for b in got] == [T0 + minutes(15 * i) for i in range(4)]
    first = got[0]
    assert (first.max_count, first.entries, first.exits, first.samples) == (2, 3, 1, 4)
    assert first.mean_count == pytest.approx(1.0)
    assert (got[1].entries, got[1].exits, got[1].max_count) == (2, 2, 5)
    assert got[2].entries is None
    assert got[2].mean_count == pytest.approx(7.0)
    hourly = store.occupancy("s1", "r1", T0, T0 + timedelta(hours=2), timedelta(hours=1))
    assert len(hourly) == 1
    assert (hourly[0].max_count, hourly[0].samples, hourly[0].entries) == (11, 14, 5)
    assert hourly[0].mean_count == pytest.approx(5.5)
    # A range that starts mid-bucket only counts readings inside the range.
    late = store.occupancy("s1", "r1", T0 + minutes(50), T0 + minutes(60), timedelta(hours=1))
    assert [(b.start, b.max_count, b.samples) for b in late] == [(T0, 11, 2)]


def test_latest_state_per_device_and_kind(store: TimeSeriesStore) -> None:
    write(
        store,
        [
            stored(smoke("s-1", "smk-1", T0)),
            stored(smoke("s-3", "smk-1", T0 + minutes(2), SmokeState.ALARM)),
            stored(smoke("s-2", "smk-1", T0 + minutes(1))),
            stored(health("h-1", "smk-1", T0)),
            stored(door("d-1", "door-1", T0, DoorState.OPEN), site="s2"),
        ],
    )
    latest = store.latest()
    assert [(s.device, s.kind, s.id) for s in latest] == [
        ("door-1", "door", "d-1"),
        ("smk-1", "health", "h-1"),
        ("smk-1", "smoke", "s-3"),
    ]
    assert [s.id for s in store.latest(site="s2")] == ["d-1"]
    assert [s.id for s in store.latest(device="smk-1")] == ["h-1", "s-3"]


def test_ping_and_empty_queries(store: TimeSeriesStore) -> None:
    assert store.ping()
    assert store.series("none", T0, T0 + minutes(1)) == []
    assert store.latest(device="none") == []
    assert store.occupancy("s1", "r1", T0, T0 + minutes(60), minutes(15)) == []


def test_sqlite_retention_keeps_rollups(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ts.db", retention=timedelta(days=1))
    try:
        store.write([stored(occ(f"c-{i}", "p", T0 + minutes(i), count=i)) for i in range(10)])
        assert store.prune(T0 + timedelta(days=2)) == 10
        assert store.count() == 0
        hourly = store.occupancy("s1", "r1", T0, T0 + timedelta(hours=1), timedelta(hours=1))
        assert [(b.max_count, b.samples) for b in hourly] == [(9, 10)]
        assert store.latest()[0].id == "c-9"
    finally:
        store.close()


def test_influx_spool_survives_a_restart_while_influxdb_is_down(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    spool = tmp_path / "spool.db"
    down = InfluxStore(f"http://127.0.0.1:{free_port()}", unique_id, spool_path=spool)
    readings = [stored(smoke(f"s-{i}", "smk-1", T0 + minutes(i))) for i in range(50)]
    assert len(down.write(readings)) == 50
    assert down.spool_depth() == 50
    assert not down.ping()
    down.close()
    # The same spool, InfluxDB reachable: everything arrives, and the replay filter persisted.
    up = InfluxStore(influxdb.url, unique_id, spool_path=spool)
    try:
        assert up.wait_flushed(20)
        assert up.write(readings[:10]) == []
        assert up.count() == 50
    finally:
        up.close()


def test_points_influxdb_refuses_do_not_block_the_spool(
    influxdb: InfluxDB, tmp_path: Path, unique_id: str
) -> None:
    influxdb.create_database(unique_id)
    # Someone else wrote battery_pct as a string in the same shard: our integer field conflicts.
    ts_ns = int(T0.timestamp()) * 10**9
    influxdb.write(unique_id, f'smoke,device=other battery_pct="low",id="x" {ts_ns}')
    store = InfluxStore(influxdb.url, unique_id, spool_path=tmp_path / "spool.db")
    try:
        store.write([stored(smoke("bad", "smk-1", T0))])
        assert store.wait_flushed(20)
        assert store.gauges()["linli_influx_rejected_points"] == 1
        store.write([stored(door("fine", "door-1", T0))])
        assert store.wait_flushed(20)
        assert [s.id for s in store.latest(device="door-1")] == ["fine"]
    finally:
        store.close()
