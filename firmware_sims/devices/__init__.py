"""Simulated device models, one module per device type."""

from __future__ import annotations

from datetime import datetime

from firmware_sims._world import GatewaySim, RoomSim
from firmware_sims.devices._base import HEALTH_INTERVAL, LOW_BATTERY_PCT, SimDevice
from firmware_sims.devices.door import DoorContact
from firmware_sims.devices.occupancy import DoorCounter, PresenceSensor
from firmware_sims.devices.smoke import SmokeDetector
from rules import Device, DeviceKind

__all__ = [
    "HEALTH_INTERVAL",
    "LOW_BATTERY_PCT",
    "DoorContact",
    "DoorCounter",
    "PresenceSensor",
    "SimDevice",
    "SmokeDetector",
    "make_device",
]

_MODELS: dict[DeviceKind, type[SimDevice]] = {
    DeviceKind.SMOKE: SmokeDetector,
    DeviceKind.HEAT: SmokeDetector,
    DeviceKind.DOOR: DoorContact,
    DeviceKind.COUNTER: DoorCounter,
    DeviceKind.PRESENCE: PresenceSensor,
}


def make_device(
    spec: Device, gateway: GatewaySim, room: RoomSim | None, seed: int, start: datetime
) -> SimDevice:
    """The behaviour model of a registry device."""
    return _MODELS[spec.kind](spec, gateway, room, seed, start)
