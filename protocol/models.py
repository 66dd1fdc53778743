"""Versioned message models of the wire protocol (version 1).

Every reading carries a stable ``id`` (assigned once, at the edge, so replays dedupe) and the
gateway's timestamp ``ts``. Readings travel in a :class:`ReadingBatch` on ``up/readings``;
alarm-class readings travel one at a time as an :class:`AlarmEvent` on ``up/alarm``; a gateway
announces itself with a retained :class:`GatewayStatus`.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from protocol._ids import Id

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_READINGS_PER_BATCH",
    "PROTOCOL_VERSION",
    "AlarmEvent",
    "Command",
    "CommandName",
    "DoorReading",
    "DoorRole",
    "DoorState",
    "GatewayState",
    "GatewayStatus",
    "HealthReading",
    "OccupancyReading",
    "OccupancySource",
    "Reading",
    "ReadingBatch",
    "SmokeReading",
    "SmokeSensor",
    "SmokeState",
    "is_alarm_class",
]

PROTOCOL_VERSION = 1
# A batch of 500 readings is about 75 kB of JSON; 256 KiB leaves room for long ids while keeping
# one message small enough for a Pi's memory and Mosquitto's default message_size_limit.
MAX_PAYLOAD_BYTES = 256 * 1024
# Bounds the work (and the transaction) one message can cause on the server.
MAX_READINGS_PER_BATCH = 500
# Upper bound for counters, far above any room yet small enough to catch garbage.
_MAX_COUNT = 100_000
_MAX_SEQ = 2**63 - 1

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SmokeSensor(enum.StrEnum):
    SMOKE = "smoke"
    HEAT = "heat"
    MULTI = "multi"  # combined smoke and heat


class SmokeState(enum.StrEnum):
    NORMAL = "normal"
    ALARM = "alarm"  # a fire alarm
    FAULT = "fault"  # detector trouble: dirty chamber, sensor failure
    TEST = "test"  # test button or self-test sounding: never a fire alarm


class DoorState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DoorRole(enum.StrEnum):
    FIRE_DOOR = "fire_door"  # normally-closed fire door (常闭式防火门)
    FIRE_DOOR_HOLD_OPEN = "fire_door_hold_open"  # fire door on a magnetic hold-open device
    ENTRANCE = "entrance"
    EMERGENCY_EXIT = "emergency_exit"


class OccupancySource(enum.StrEnum):
    COUNTER = "counter"  # a people counter at a door
    PRESENCE = "presence"  # a presence or people-count sensor in the room


class _ReadingBase(BaseModel):
    model_config = _FROZEN

    id: Id = Field(description="Stable reading id, assigned once at the edge; replays reuse it")
    device: Id
    ts: AwareDatetime = Field(description="The gateway's time of the observation")


class SmokeReading(_ReadingBase):
    """A smoke or heat detector's state."""

    kind: Literal["smoke"] = "smoke"
    sensor: SmokeSensor = SmokeSensor.SMOKE
    state: SmokeState
    obscuration: float | None = Field(
        default=None, ge=0, le=100, description="Smoke obscuration, % per metre"
    )
    temperature_c: float | None = Field(default=None, ge=-50, le=250)
    battery_pct: int | None = Field(default=None, ge=0, le=100)


class DoorReading(_ReadingBase):
    """A door contact."""

    kind: Literal["door"] = "door"
    state: DoorState
    role: DoorRole
    fault: bool | None = Field(
        default=None, description="Door closer or hold-open release reports a fault"
    )


class OccupancyReading(_ReadingBase):
    """People in a room: an absolute count, entries/exits since the last reading, or presence."""

    kind: Literal["occupancy"] = "occupancy"
    source: OccupancySource
    count: int | None = Field(default=None, ge=0, le=_MAX_COUNT)
    entries: int | None = Field(default=None, ge=0, le=_MAX_COUNT)
    exits: int | None = Field(default=None, ge=0, le=_MAX_COUNT)
    occupied: bool | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [
            self.count is not None,
            self.entries is not None or self.exits is not None,
            self.occupied is not None,
        ]
        if sum(forms) != 1:
            raise ValueError("give exactly one of: count, entries/exits, occupied")
        if (self.entries is None) != (self.exits is None):
            raise ValueError("entries and exits come together")
        return self


class HealthReading(_ReadingBase):
    """A device's health: battery, radio signal, tamper, faults."""

    kind: Literal["health"] = "health"
    battery_pct: int | None = Field(default=None, ge=0, le=100)
    battery_low: bool | None = None
    signal_lqi: int | None = Field(default=None, ge=0, le=255, description="Zigbee link quality")
    rssi_dbm: int | None = Field(default=None, ge=-150, le=0)
    tamper: bool | None = None
    fault: str | None = Field(
        default=None, max_length=64, description="Fault code, e.g. dirty_chamber, self_test_failed"
    )


Reading = Annotated[
    SmokeReading | DoorReading | OccupancyReading | HealthReading,
    Field(discriminator="kind"),
]


def is_alarm_class(reading: Reading) -> bool:
    """Alarm-class readings (smoke, heat, tamper, fire-door fault) take the priority lane."""
    match reading:
        case SmokeReading(state=SmokeState.ALARM | SmokeState.FAULT):
            return True
        case HealthReading(tamper=True):
            return True
        case DoorReading(fault=True, role=DoorRole.FIRE_DOOR | DoorRole.FIRE_DOOR_HOLD_OPEN):
            return True
    return False


class _Versioned(BaseModel):
    """A top-level message. Built in code, ``v`` defaults to the current version; decoded from the
    wire (``context={"wire": True}``), a message without ``v`` is refused."""

    model_config = _FROZEN

    v: Literal[1] = Field(default=1, description="Protocol version (required on the wire)")

    @model_validator(mode="before")
    @classmethod
    def _version_on_the_wire(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("wire") and isinstance(data, dict) and "v" not in data:
            raise ValueError("version missing")
        return data


class _Envelope(_Versioned):
    gateway: Id
    sent_at: AwareDatetime


class ReadingBatch(_Envelope):
    """Readings from a gateway's outbox, on ``up/readings``."""

    seq: int = Field(ge=0, le=_MAX_SEQ, description="Per-gateway message sequence number")
    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)


class AlarmEvent(_Envelope):
    """One alarm-class reading, sent through the priority lane on ``up/alarm``."""

    seq: int = Field(ge=0, le=_MAX_SEQ)
    reading: Reading
    actions: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=16,
        description="Local safety actions the gateway took, e.g. sounder, display",
    )


class GatewayState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class GatewayStatus(_Versioned):
    """Retained gateway status: a birth/heartbeat message, or the Last Will."""

    gateway: Id
    state: GatewayState
    ts: AwareDatetime | None = Field(
        default=None, description="Gateway time; absent in a Last Will set at connect time"
    )
    outbox_depth: int | None = Field(default=None, ge=0)
    alarm_depth: int | None = Field(default=None, ge=0)
    dropped: int | None = Field(default=None, ge=0, description="Telemetry dropped on overflow")
    uptime_s: float | None = Field(default=None, ge=0)
    software: str | None = Field(default=None, max_length=64)


class CommandName(enum.StrEnum):
    SELF_TEST = "self_test"  # trigger a detector self-test
    SILENCE_SOUNDER = "silence_sounder"  # silence the local sounder; never the alarm record


class Command(_Versioned):
    """A command to a gateway, on ``down/cmd``."""

    id: Id
    cmd: CommandName
    device: Id | None = None
    issued_at: AwareDatetime
    by: str | None = Field(default=None, max_length=64)
