"""Malformed and hostile payloads a broken or malicious gateway might publish, each with the
``protocol`` error the server's decoder must answer it with (and dead-letter it under that code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    Channel,
    FieldOutOfRange,
    GatewayMismatch,
    InvalidField,
    NotJson,
    PayloadTooLarge,
    ProtocolError,
    TimestampOutOfBounds,
    TooManyReadings,
    UnknownKind,
    UnsupportedVersion,
)

__all__ = ["HOSTILE_LABELS", "HostilePayload", "hostile_payloads"]


@dataclass(frozen=True, slots=True)
class HostilePayload:
    label: str
    channel: Channel
    payload: bytes
    expect: type[ProtocolError]


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def _reading(device: str, n: int, ts: datetime, **over: Any) -> dict[str, Any]:
    return {
        "kind": "smoke",
        "id": f"hostile-{device}-{n}"[:64],
        "device": device,
        "ts": _iso(ts),
        "state": "normal",
        "obscuration": 0.3,
        "battery_pct": 80,
    } | over


def _batch(gateway: str, ts: datetime, readings: list[dict[str, Any]], **over: Any) -> bytes:
    body = {"v": 1, "gateway": gateway, "sent_at": _iso(ts), "seq": 1, "readings": readings} | over
    return json.dumps(body, ensure_ascii=False).encode()


def hostile_payloads(
    gateway: str, now: datetime, device: str = "hostile-dev"
) -> list[HostilePayload]:
    """The catalogue, with timestamps relative to ``now`` (the gateway's clock)."""
    ok = [_reading(device, 1, now)]
    # Far deeper than any JSON parser's recursion limit.
    deep = "[" * 100_000 + "]" * 100_000
    return [
        HostilePayload("not_json", Channel.READINGS, b'{"v": 1, "gateway": ', NotJson),
        HostilePayload("not_utf8", Channel.READINGS, b"\xff\xfe\x00{garbage", NotJson),
        HostilePayload("json_array", Channel.READINGS, b"[1, 2, 3]", NotJson),
        HostilePayload("json_null_alarm", Channel.ALARM, b"null", NotJson),
        HostilePayload(
            "deep_nesting",
            Channel.READINGS,
            f'{{"v": 1, "gateway": "{gateway}", "readings": {deep}}}'.encode(),
            NotJson,
        ),
        HostilePayload(
            "wrong_version", Channel.READINGS, _batch(gateway, now, ok, v=2), UnsupportedVersion
        ),
        HostilePayload(
            "unknown_kind",
            Channel.READINGS,
            _batch(gateway, now, [_reading(device, 2, now, kind="co2", ppm=900)]),
            UnknownKind,
        ),
        HostilePayload(
            "battery_out_of_range",
            Channel.READINGS,
            _batch(gateway, now, [_reading(device, 3, now, battery_pct=150)]),
            FieldOutOfRange,
        ),
        HostilePayload(
            "negative_count",
            Channel.READINGS,
            _batch(
                gateway,
                now,
                [
                    {
                        "kind": "occupancy",
                        "id": f"hostile-{device}-4"[:64],
                        "device": device,
                        "ts": _iso(now),
                        "source": "presence",
                        "count": -5,
                    }
                ],
            ),
            FieldOutOfRange,
        ),
        HostilePayload(
            "missing_state",
            Channel.READINGS,
            _batch(
                gateway,
                now,
                [{k: v for k, v in _reading(device, 5, now).items() if k != "state"}],
            ),
            InvalidField,
        ),
        HostilePayload(
            "unsafe_device_id",
            Channel.READINGS,
            _batch(gateway, now, [_reading("../../etc/passwd", 6, now, id="x-6")]),
            InvalidField,
        ),
        HostilePayload(
            "extra_field",
            Channel.READINGS,
            _batch(gateway, now, ok, admin=True),
            InvalidField,
        ),
        HostilePayload(
            "huge",
            Channel.READINGS,
            _batch(gateway, now, ok, padding="x" * (MAX_PAYLOAD_BYTES + 1024)),
            PayloadTooLarge,
        ),
        HostilePayload(
            "too_many_readings",
            Channel.READINGS,
            _batch(
                gateway,
                now,
                [_reading(device, 100 + i, now) for i in range(MAX_READINGS_PER_BATCH + 1)],
            ),
            TooManyReadings,
        ),
        HostilePayload(
            "future_timestamp",
            Channel.READINGS,
            _batch(gateway, now, [_reading(device, 7, now + timedelta(days=2))]),
            TimestampOutOfBounds,
        ),
        HostilePayload(
            "ancient_timestamp",
            Channel.ALARM,
            json.dumps(
                {
                    "v": 1,
                    "gateway": gateway,
                    "sent_at": _iso(now),
                    "seq": 2,
                    "reading": _reading(
                        device, 8, now - timedelta(days=800), state="alarm", obscuration=12.0
                    ),
                }
            ).encode(),
            TimestampOutOfBounds,
        ),
        HostilePayload(
            "gateway_mismatch",
            Channel.READINGS,
            _batch("someone-else-gw", now, [_reading(device, 9, now)]),
            GatewayMismatch,
        ),
        HostilePayload(
            "status_bad_state",
            Channel.STATUS,
            json.dumps({"v": 1, "gateway": gateway, "state": "exploded"}).encode(),
            InvalidField,
        ),
    ]


HOSTILE_LABELS = (
    "not_json",
    "not_utf8",
    "json_array",
    "json_null_alarm",
    "deep_nesting",
    "wrong_version",
    "unknown_kind",
    "battery_out_of_range",
    "negative_count",
    "missing_state",
    "unsafe_device_id",
    "extra_field",
    "huge",
    "too_many_readings",
    "future_timestamp",
    "ancient_timestamp",
    "gateway_mismatch",
    "status_bad_state",
)
