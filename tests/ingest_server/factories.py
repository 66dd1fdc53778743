"""Builders of stored readings and wire payloads for the ingest server's tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest_server import StoredReading
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

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def occ(
    rid: str, device: str, ts: datetime, *, count: int | None = None, **kw: Any
) -> OccupancyReading:
    if count is not None:
        return OccupancyReading(
            id=rid, device=device, ts=ts, source=OccupancySource.PRESENCE, count=count
        )
    return OccupancyReading(id=rid, device=device, ts=ts, source=OccupancySource.COUNTER, **kw)


def smoke(
    rid: str, device: str, ts: datetime, state: SmokeState = SmokeState.NORMAL
) -> SmokeReading:
    return SmokeReading(id=rid, device=device, ts=ts, state=state, obscuration=0.5, battery_pct=90)


def door(rid: str, device: str, ts: datetime, state: DoorState = DoorState.CLOSED) -> DoorReading:
    return DoorReading(id=rid, device=device, ts=ts, state=state, role=DoorRole.FIRE_DOOR)


def health(rid: str, device: str, ts: datetime) -> HealthReading:
    return HealthReading(id=rid, device=device, ts=ts, battery_pct=12, battery_low=True)


def stored(
    reading: Any, site: str = "s1", gateway: str = "gw1", room: str | None = "r1"
) -> StoredReading:
    return StoredReading(reading, site, gateway, room, unknown_device=room is None)


def batch_payload(
    gateway: str, readings: list[dict[str, Any]], *, seq: int = 1, sent_at: datetime | None = None
) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "gateway": gateway,
            "sent_at": (sent_at or readings_ts(readings)).isoformat(),
            "seq": seq,
            "readings": readings,
        }
    ).encode()


def readings_ts(readings: list[dict[str, Any]]) -> datetime:
    return datetime.fromisoformat(readings[0]["ts"]) if readings else T0


def occupancy_dict(rid: str, device: str, ts: datetime, count: int) -> dict[str, Any]:
    return {
        "kind": "occupancy",
        "id": rid,
        "device": device,
        "ts": ts.isoformat(),
        "source": "presence",
        "count": count,
    }


def smoke_dict(rid: str, device: str, ts: datetime, state: str = "normal") -> dict[str, Any]:
    return {"kind": "smoke", "id": rid, "device": device, "ts": ts.isoformat(), "state": state}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
