"""Hand-built sites, packs and readings for the live rule tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from protocol import (
    DoorReading,
    DoorRole,
    DoorState,
    GatewayState,
    GatewayStatus,
    HealthReading,
    OccupancyReading,
    OccupancySource,
    SmokeReading,
    SmokeState,
)
from rules.facility import Site
from rules.live import Decision, LiveEngine, RulePack, parse_pack

PACKS = Path(__file__).resolve().parents[3] / "rules" / "packs" / "live"
# Monday 2026-01-05 10:00 in Shanghai: inside opening hours.
T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
_ids = itertools.count(1)

SITE: dict[str, Any] = {
    "id": "s1",
    "name": "幸福里社区服务中心",
    "name_en": "Xingfuli Community Centre",
    "opening_hours": [{"days": [0, 1, 2, 3, 4], "open": "08:00", "close": "18:00"}],
    "rooms": [
        {
            "id": "r1",
            "name": "日间照料室",
            "name_en": "Day-care room",
            "floor": 1,
            "licensed_capacity": 10,
        },
        {
            "id": "r2",
            "name": "托育室",
            "name_en": "Infant room",
            "floor": 2,
            "area_m2": 65,
            "function": "infant_care",
        },
    ],
    "gateways": [
        {
            "id": "gw1",
            "heartbeat_s": 60,
            "devices": [
                {"id": "smk1", "kind": "smoke", "room": "r1"},
                {"id": "smk2", "kind": "smoke", "room": "r1"},
                {"id": "smk3", "kind": "smoke", "room": "r2"},
                {"id": "door1", "kind": "door", "role": "fire_door", "room": "r1"},
                {"id": "door2", "kind": "door", "role": "fire_door_hold_open", "room": "r2"},
                {"id": "cnt1", "kind": "counter", "room": "r1", "reporting_interval_s": 60},
                {"id": "pres2", "kind": "presence", "room": "r2", "reporting_interval_s": 60},
            ],
        }
    ],
}


def site(**over: Any) -> Site:
    return Site.model_validate(SITE | over)


def national() -> RulePack:
    return parse_pack((PACKS / "national.yaml").read_text(), "national.yaml")


def engine(s: Site | None = None, start: datetime = T0, **caps: int) -> LiveEngine:
    s = s or site()
    return LiveEngine([s], {"national": national()}, {s.id: caps or {"r1": 10}}, start=start)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _id() -> str:
    return f"rd-{next(_ids)}"


def smoke(device: str, state: SmokeState, t: datetime) -> SmokeReading:
    return SmokeReading(id=_id(), device=device, ts=t, state=state)


def door(
    device: str,
    state: DoorState,
    t: datetime,
    role: DoorRole = DoorRole.FIRE_DOOR,
    fault: bool | None = None,
) -> DoorReading:
    return DoorReading(id=_id(), device=device, ts=t, state=state, role=role, fault=fault)


def count(device: str, n: int, t: datetime) -> OccupancyReading:
    return OccupancyReading(id=_id(), device=device, ts=t, source=OccupancySource.PRESENCE, count=n)


def flow(
    device: str, entries: int, exits: int, t: datetime, rid: str | None = None
) -> OccupancyReading:
    return OccupancyReading(
        id=rid or _id(),
        device=device,
        ts=t,
        source=OccupancySource.COUNTER,
        entries=entries,
        exits=exits,
    )


def health(device: str, t: datetime, **fields: Any) -> HealthReading:
    return HealthReading(id=_id(), device=device, ts=t, **fields)


def status(state: GatewayState, gateway: str = "gw1") -> GatewayStatus:
    return GatewayStatus(gateway=gateway, state=state)


def only(decisions: list[Decision], rule: str) -> list[Decision]:
    return [d for d in decisions if d.rule == rule]


def changes(decisions: list[Decision], rule: str) -> list[str]:
    return [d.change.value for d in decisions if d.rule == rule]
