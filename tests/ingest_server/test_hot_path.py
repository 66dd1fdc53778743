"""The ingest hot path's shortcuts answer exactly what the general code answers."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards import LiveHub
from dashboards._live import reset_day
from ingest_server import ServerSettings
from ingest_server._consumer import _BATCH_BYTES, _GC_YOUNG_THRESHOLD, MqttConsumer
from ingest_server._metrics import Metrics
from ingest_server._model import fields_json, reading_fields
from ingest_server._pipeline import Inbound, Pipeline
from ingest_server._sinks import SinkRegistry
from ingest_server.store import SqliteStore
from protocol import (
    DoorReading,
    DoorRole,
    DoorState,
    HealthReading,
    OccupancyReading,
    OccupancySource,
    Reading,
    SmokeReading,
    SmokeSensor,
    SmokeState,
)
from tests.access import access_settings
from tests.ingest_server.factories import T0, minutes, occ, stored
from tests.services import free_port

_KEYS = {"id", "device", "ts", "kind"}
_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
_TS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_FLOATS = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.sampled_from([0.0, 1e-7, 5e-5, 100.0, 12.5, 1 / 3]),
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


_SMOKE = st.builds(
    SmokeReading,
    id=_IDS,
    device=_IDS,
    ts=_TS,
    sensor=st.sampled_from(SmokeSensor),
    state=st.sampled_from(SmokeState),
    obscuration=_FLOATS,
    temperature_c=_maybe(st.floats(min_value=-50, max_value=250, allow_nan=False)),
    battery_pct=_maybe(st.integers(0, 100)),
)
_DOOR = st.builds(
    DoorReading,
    id=_IDS,
    device=_IDS,
    ts=_TS,
    state=st.sampled_from(DoorState),
    role=st.sampled_from(DoorRole),
    fault=_maybe(st.booleans()),
)
_COUNTS = st.integers(0, 100_000)
_OCCUPANCY = st.one_of(
    st.builds(
        OccupancyReading,
        id=_IDS,
        device=_IDS,
        ts=_TS,
        source=st.sampled_from(OccupancySource),
        count=_COUNTS,
    ),
    st.builds(
        OccupancyReading,
        id=_IDS,
        device=_IDS,
        ts=_TS,
        source=st.sampled_from(OccupancySource),
        entries=_COUNTS,
        exits=_COUNTS,
    ),
    st.builds(
        OccupancyReading,
        id=_IDS,
        device=_IDS,
        ts=_TS,
        source=st.sampled_from(OccupancySource),
        occupied=st.booleans(),
    ),
)
_HEALTH = st.builds(
    HealthReading,
    id=_IDS,
    device=_IDS,
    ts=_TS,
    battery_pct=_maybe(st.integers(0, 100)),
    battery_low=_maybe(st.booleans()),
    signal_lqi=_maybe(st.integers(0, 255)),
    rssi_dbm=_maybe(st.integers(-150, 0)),
    tamper=_maybe(st.booleans()),
    # Plain text, quotes, backslashes, control characters, non-ASCII and lone surrogates.
    fault=_maybe(st.text(max_size=64)),
)
READINGS = st.one_of(_SMOKE, _DOOR, _OCCUPANCY, _HEALTH)


def _pydantic_json(reading: Reading) -> str:
    data: bytes = type(reading).__pydantic_serializer__.to_json(
        reading, exclude=set(_KEYS), exclude_none=True
    )
    return data.decode()


@settings(max_examples=400, deadline=None)
@given(READINGS)
def test_stored_fields_json_is_pydantics_byte_for_byte(reading: Reading) -> None:
    expected = _pydantic_json(reading)
    assert fields_json(reading) == expected
    assert fields_json(reading) == expected  # the second time from the cache


@settings(max_examples=200, deadline=None)
@given(READINGS)
def test_reading_fields_are_the_json_values(reading: Reading) -> None:
    fields = reading_fields(reading)
    assert fields == json.loads(_pydantic_json(reading))
    assert all(type(v) in (str, int, float, bool) for v in fields.values())


def test_equal_values_of_another_kind_do_not_share_a_cached_encoding() -> None:
    ts = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    low = HealthReading(id="h1", device="d", ts=ts, battery_pct=1)
    flag = HealthReading(id="h2", device="d", ts=ts, battery_low=True)
    assert fields_json(low) == '{"battery_pct":1}'
    assert fields_json(flag) == '{"battery_low":true}'


ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    steps=st.lists(st.integers(-3 * 3600, 26 * 3600), min_size=1, max_size=40),
)
def test_counting_day_of_the_live_hub_is_reset_day(
    zone: str, start: datetime, steps: list[int]
) -> None:
    hub = LiveHub()
    ts = start
    for step in steps:
        ts += timedelta(seconds=step)
        assert hub._counting_day(ts, zone) == reset_day(ts, zone), ts


def test_counting_day_across_daylight_saving_changes() -> None:
    hub = LiveHub()
    zone = "Europe/Berlin"
    # Every minute through the spring and autumn changes of 2026, in order and backwards.
    for day in (datetime(2026, 3, 28, 20, tzinfo=UTC), datetime(2026, 10, 24, 20, tzinfo=UTC)):
        minutes = [day + timedelta(minutes=m) for m in range(0, 36 * 60, 7)]
        for ts in [*minutes, *reversed(minutes)]:
            assert hub._counting_day(ts, zone) == reset_day(ts, zone), ts


# -- the consumer's writer batches ---------------------------------------------------------


@pytest.fixture
def consumer(tmp_path: Path) -> MqttConsumer:
    settings = ServerSettings(
        _env_file=None,
        mqtt_port=free_port(),  # nothing listens: these tests never connect
        records_url=f"sqlite:///{tmp_path / 'records.db'}",
        sqlite_path=tmp_path / "telemetry.db",
        **access_settings(),
    )
    pipeline = Pipeline(
        store=None,  # type: ignore[arg-type]
        records=None,  # type: ignore[arg-type]
        locate=lambda _device: None,
        metrics=Metrics(),
        now=lambda: datetime.now(UTC),
    )
    return MqttConsumer(settings, pipeline, SinkRegistry(), lambda: datetime.now(UTC))


def _inbound(size: int, topic: str = "linli/v1/s/g/up/readings") -> Inbound:
    return Inbound(topic, b"x" * size, datetime.now(UTC), 1, 1)


def test_a_batch_ends_once_it_holds_the_byte_budget(consumer: MqttConsumer) -> None:
    _, telemetry = consumer._lanes
    size = 7_500  # a message of 50 readings
    telemetry.pending.extend(_inbound(size) for _ in range(150))
    taken = consumer._take()
    assert taken is not None
    lane, batch = taken
    assert lane is telemetry
    per_batch = -(-_BATCH_BYTES // size)  # the message that crosses the budget is included
    assert len(batch) == per_batch
    assert len(telemetry.pending) == 150 - per_batch


def test_small_messages_still_batch_up_to_batch_max(consumer: MqttConsumer) -> None:
    _, telemetry = consumer._lanes
    telemetry.pending.extend(_inbound(150) for _ in range(consumer.settings.batch_max + 50))
    taken = consumer._take()
    assert taken is not None
    assert len(taken[1]) == consumer.settings.batch_max


def test_an_oversized_message_is_a_batch_of_its_own(consumer: MqttConsumer) -> None:
    _, telemetry = consumer._lanes
    telemetry.pending.extend([_inbound(_BATCH_BYTES + 1), _inbound(100)])
    taken = consumer._take()
    assert taken is not None
    assert len(taken[1]) == 1
    assert len(telemetry.pending) == 1


def test_alarms_are_taken_before_a_telemetry_batch(consumer: MqttConsumer) -> None:
    alarm, telemetry = consumer._lanes
    telemetry.pending.extend(_inbound(7_500) for _ in range(100))
    alarm.pending.append(_inbound(300, "linli/v1/s/g/up/alarm"))
    taken = consumer._take()
    assert taken is not None
    assert taken[0] is alarm
    assert len(taken[1]) == 1


def test_young_gc_threshold_is_raised_while_running_and_restored(
    consumer: MqttConsumer,
) -> None:
    before = gc.get_threshold()
    consumer.start()
    try:
        assert gc.get_threshold()[0] == max(before[0], _GC_YOUNG_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
    finally:
        consumer.stop()
    assert gc.get_threshold() == before


# -- the SQLite store's insert without a lookup ----------------------------------------------


def test_a_batch_with_replayed_ids_stores_and_counts_only_the_new_ones(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ts.db")
    try:
        first = stored(occ("e-1", "cnt-1", T0, entries=3, exits=1))
        assert store.write([first]) == [first]
        later = stored(occ("e-2", "cnt-1", T0 + minutes(1), entries=2, exits=0))
        newest = stored(occ("e-3", "cnt-1", T0 + minutes(2), entries=1, exits=1))
        # A replayed id, a new one, the new one again, a newer one: one insert fails, the
        # batch is rolled back to its savepoint and stored through the lookup.
        assert [s.id for s in store.write([first, later, later, newest])] == ["e-2", "e-3"]
        assert store.count() == 3
        [bucket] = store.occupancy("s1", "r1", T0, T0 + timedelta(hours=1), timedelta(hours=1))
        assert (bucket.entries, bucket.exits, bucket.samples) == (6, 2, 3)
        assert [s.id for s in store.latest(device="cnt-1")] == ["e-3"]
        # Nothing new at all; then an all-new batch takes the direct path again.
        assert store.write([later, first]) == []
        fresh = stored(occ("e-4", "cnt-1", T0 + minutes(3), entries=1, exits=0))
        assert store.write([fresh]) == [fresh]
        assert store.count() == 4
    finally:
        store.close()
