from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from protocol import (
    MAX_PAYLOAD_BYTES,
    AlarmEvent,
    DoorReading,
    DoorRole,
    DoorState,
    FieldOutOfRange,
    GatewayMismatch,
    GatewayState,
    GatewayStatus,
    HealthReading,
    InvalidField,
    NotJson,
    OccupancyReading,
    OccupancySource,
    PayloadTooLarge,
    ProtocolError,
    ReadingBatch,
    SmokeReading,
    SmokeState,
    TimeBounds,
    TimestampOutOfBounds,
    TooManyReadings,
    UnknownKind,
    UnsupportedVersion,
    decode,
    decode_message,
    encode,
    is_alarm_class,
    readings_of,
)
from tests.protocol.factories import NOW, batch, door, dumps, health, occupancy, smoke


def test_a_realistic_batch_decodes_to_typed_frozen_readings() -> None:
    msg = decode(dumps(batch()), ReadingBatch, now=NOW)
    assert [type(r) for r in msg.readings] == [
        SmokeReading,
        DoorReading,
        OccupancyReading,
        HealthReading,
    ]
    first = msg.readings[0]
    assert isinstance(first, SmokeReading)
    assert first.state is SmokeState.NORMAL
    assert first.obscuration == 0.4
    assert first.ts == datetime(2026, 11, 22, 9, 29, 58, tzinfo=UTC)
    with pytest.raises(ValueError, match="frozen"):
        first.state = SmokeState.ALARM  # type: ignore[misc]


def test_encode_decode_round_trip_keeps_ids_and_timestamps() -> None:
    original = ReadingBatch(
        gateway="gw01",
        seq=7,
        sent_at=NOW,
        readings=[
            DoorReading(
                id="r-1",
                device="d1",
                ts=NOW - timedelta(seconds=3),
                state=DoorState.OPEN,
                role=DoorRole.FIRE_DOOR_HOLD_OPEN,
            ),
            OccupancyReading(
                id="r-2", device="c1", ts=NOW, source=OccupancySource.PRESENCE, count=4
            ),
        ],
    )
    assert decode(encode(original), ReadingBatch, now=NOW) == original


def test_decode_message_checks_topic_against_payload() -> None:
    payload = dumps(batch())
    decoded = decode_message("linli/v1/site1/gw01/up/readings", payload, now=NOW)
    assert decoded.topic.site == "site1"
    assert len(list(readings_of(decoded.message))) == 4
    with pytest.raises(GatewayMismatch, match=r"gw01.*gw02"):
        decode_message("linli/v1/site1/gw02/up/readings", payload, now=NOW)


def test_alarm_event_and_status() -> None:
    alarm = dumps(
        {
            "v": 1,
            "gateway": "gw01",
            "seq": 3,
            "sent_at": "2026-11-22T09:30:00Z",
            "reading": smoke(state="alarm", obscuration=12.5),
            "actions": ["sounder"],
        }
    )
    decoded = decode_message("linli/v1/s1/gw01/up/alarm", alarm, now=NOW)
    assert isinstance(decoded.message, AlarmEvent)
    assert is_alarm_class(decoded.message.reading)
    assert [r.id for r in readings_of(decoded.message)] == ["gw01-000001"]
    will = decode_message(
        "linli/v1/s1/gw01/status", b'{"v":1,"gateway":"gw01","state":"offline"}', now=NOW
    )
    assert isinstance(will.message, GatewayStatus)
    assert will.message.state is GatewayState.OFFLINE


def test_alarm_class() -> None:
    def parse(reading: dict[str, object]) -> bool:
        msg = decode(dumps(batch([reading])), ReadingBatch, now=NOW)
        return is_alarm_class(msg.readings[0])

    assert parse(smoke(state="alarm"))
    assert parse(smoke(state="alarm", sensor="heat"))
    assert parse(smoke(state="fault"))
    assert not parse(smoke(state="test"))  # a test is never a fire alarm
    assert not parse(smoke(state="normal"))
    assert parse(health(tamper=True))
    assert parse(door(fault=True))
    assert not parse(door(fault=True, role="entrance"))
    assert not parse(door(state="open"))


# One test per error class, each with a realistic bad payload.


def test_not_json() -> None:
    with pytest.raises(NotJson, match="not valid UTF-8 JSON"):
        decode(b'{"v":1,"gateway":"gw01",', ReadingBatch, now=NOW)
    with pytest.raises(NotJson, match="expected a JSON object, got list"):
        decode(b"[1, 2]", ReadingBatch, now=NOW)
    with pytest.raises(NotJson):
        decode("温度".encode("gb18030"), ReadingBatch, now=NOW)


def test_wrong_version() -> None:
    with pytest.raises(UnsupportedVersion, match=r"version 2 is not supported.*v=1") as info:
        decode(dumps(batch(v=2, readings=[{"whatever": 1}])), ReadingBatch, now=NOW)
    assert info.value.code == "unsupported_version"


def test_missing_version_is_refused_on_the_wire_but_defaults_in_code() -> None:
    payload = batch()
    del payload["v"]
    with pytest.raises(UnsupportedVersion, match="version missing"):
        decode(dumps(payload), ReadingBatch, now=NOW)
    with pytest.raises(UnsupportedVersion):
        decode(b'{"gateway":"gw01","state":"offline"}', GatewayStatus, now=NOW)
    assert GatewayStatus(gateway="gw01", state=GatewayState.OFFLINE).v == 1


def test_unknown_kind() -> None:
    with pytest.raises(UnknownKind, match=r"readings\[1\]\.kind.*'co2'"):
        decode(dumps(batch([smoke(), {**door(), "kind": "co2"}])), ReadingBatch, now=NOW)


@pytest.mark.parametrize(
    ("reading", "where"),
    [
        (smoke(battery_pct=140), r"readings\[0\]\.battery_pct"),
        (smoke(obscuration=-1), r"readings\[0\]\.obscuration"),
        (occupancy(entries=-3), r"readings\[0\]\.entries"),
        (health(signal_lqi=300), r"readings\[0\]\.signal_lqi"),
    ],
)
def test_field_out_of_range(reading: dict[str, object], where: str) -> None:
    with pytest.raises(FieldOutOfRange, match=where):
        decode(dumps(batch([reading])), ReadingBatch, now=NOW)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (batch([smoke(state="smouldering")]), r"readings\[0\]\.state"),
        (batch([door(role="window")]), r"readings\[0\]\.role"),
        (batch([smoke(device="smk/1")]), r"readings\[0\]\.device"),
        (batch([smoke(ts="2026-11-22T09:29:58")]), "timezone"),
        (batch([occupancy(count=3)]), "exactly one of"),
        (batch([occupancy(entries=2, exits=None)]), "come together"),
        (batch(seq="x"), "seq"),
        ({"v": 1, "gateway": "gw01", "seq": 1, "readings": [smoke()]}, "sent_at.*missing"),
    ],
)
def test_invalid_field(payload: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidField, match=match) as info:
        decode(dumps(payload), ReadingBatch, now=NOW)
    assert not isinstance(info.value, FieldOutOfRange) or "readings" in match


def test_too_large() -> None:
    payload = dumps(batch([smoke(id=f"r{i}") for i in range(400)])) + b" " * MAX_PAYLOAD_BYTES
    with pytest.raises(PayloadTooLarge, match=f"limit is {MAX_PAYLOAD_BYTES}") as info:
        decode(payload, ReadingBatch, now=NOW)
    assert info.value.size == len(payload)
    with pytest.raises(PayloadTooLarge):
        decode(b"x" * (10 * 1024 * 1024), ReadingBatch, now=NOW)


def test_too_many_readings() -> None:
    with pytest.raises(TooManyReadings, match="501 readings, at most 500"):
        decode(dumps(batch([smoke(id=f"r{i}") for i in range(501)])), ReadingBatch, now=NOW)
    with pytest.raises(FieldOutOfRange, match="readings"):
        decode(dumps(batch([])), ReadingBatch, now=NOW)


def test_timestamp_out_of_bounds() -> None:
    future = batch([smoke(), smoke(ts="2036-11-22T09:29:58Z")])
    with pytest.raises(TimestampOutOfBounds, match=r"readings\[1\]\.ts.*ahead"):
        decode(dumps(future), ReadingBatch, now=NOW)
    with pytest.raises(TimestampOutOfBounds, match=r"sent_at.*before"):
        decode(dumps(batch(sent_at="1970-01-02T00:00:00Z")), ReadingBatch, now=NOW)
    # within the configured bounds a skewed clock is accepted
    skewed = batch([smoke(ts="2026-11-22T10:00:00Z")])
    decode(dumps(skewed), ReadingBatch, now=NOW)
    with pytest.raises(TimestampOutOfBounds):
        decode(
            dumps(skewed), ReadingBatch, now=NOW, bounds=TimeBounds(max_future=timedelta(minutes=5))
        )


def test_every_error_is_a_protocol_error_and_a_value_error() -> None:
    for cls in (
        NotJson,
        UnsupportedVersion,
        UnknownKind,
        InvalidField,
        FieldOutOfRange,
        TooManyReadings,
        TimestampOutOfBounds,
        GatewayMismatch,
        PayloadTooLarge,
    ):
        assert issubclass(cls, ProtocolError)
        assert issubclass(cls, ValueError)
        assert cls.code != ProtocolError.code


def test_the_largest_valid_batch_fits_the_payload_limit() -> None:
    """Any batch the models accept can be sent: the limits on ids and counts are consistent."""
    big = ReadingBatch(
        gateway="gw01",
        seq=1,
        sent_at=NOW,
        readings=[
            HealthReading(
                id=f"r{i:063d}",
                device="d" * 64,
                ts=NOW,
                fault="f" * 64,
                battery_pct=100,
                battery_low=True,
                signal_lqi=255,
                rssi_dbm=-150,
                tamper=True,
            )
            for i in range(500)
        ],
    )
    data = encode(big)
    assert MAX_PAYLOAD_BYTES // 2 < len(data) <= MAX_PAYLOAD_BYTES
    assert decode(data, ReadingBatch, now=NOW) == big


def test_encoded_json_is_compact_and_omits_unknowns() -> None:
    reading = SmokeReading(id="r1", device="d1", ts=NOW, state=SmokeState.NORMAL)
    data = json.loads(encode(AlarmEvent(gateway="g", seq=1, sent_at=NOW, reading=reading)))
    assert "battery_pct" not in data["reading"]  # unknown stays unknown, never a default
    assert data["v"] == 1
