"""Builders of realistic protocol payloads for tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
TS = "2026-11-22T09:29:58+08:00"


def smoke(**over: Any) -> dict[str, Any]:
    return {
        "kind": "smoke",
        "id": "gw01-000001",
        "device": "smk-101",
        "ts": "2026-11-22T09:29:58Z",
        "state": "normal",
        "obscuration": 0.4,
        "battery_pct": 87,
    } | over


def door(**over: Any) -> dict[str, Any]:
    return {
        "kind": "door",
        "id": "gw01-000002",
        "device": "door-fd1",
        "ts": "2026-11-22T09:29:58Z",
        "state": "closed",
        "role": "fire_door",
    } | over


def occupancy(**over: Any) -> dict[str, Any]:
    return {
        "kind": "occupancy",
        "id": "gw01-000003",
        "device": "cnt-101",
        "ts": "2026-11-22T09:29:58Z",
        "source": "counter",
        "entries": 3,
        "exits": 1,
    } | over


def health(**over: Any) -> dict[str, Any]:
    return {
        "kind": "health",
        "id": "gw01-000004",
        "device": "smk-101",
        "ts": "2026-11-22T09:29:58Z",
        "battery_pct": 12,
        "battery_low": True,
        "signal_lqi": 120,
    } | over


def batch(readings: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "gateway": "gw01",
        "seq": 42,
        "sent_at": "2026-11-22T09:30:00Z",
        "readings": readings if readings is not None else [smoke(), door(), occupancy(), health()],
    } | over


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()
