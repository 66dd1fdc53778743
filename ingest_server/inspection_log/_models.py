"""Entries, categories, typed payloads and the canonical serialisation the hash chain is built on.

Canonical form of an entry (what ``hash`` is the SHA-256 of)::

    json.dumps(
        {"actor", "category", "occurred_at", "payload", "prev_hash", "recorded_at", "seq", "site"},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
    ).encode("utf-8")

Timestamps (also inside payloads) are UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional
digits); ``seq`` is an integer; ``payload`` is the payload model dumped in JSON mode with ``None``
fields kept; floats are rounded to milliseconds before they are stored, and a number with no
fraction is written without one (``45``, not ``45.0``). ``prev_hash`` of a site's
first entry is 64 zeros. Hashes are lowercase hex.
"""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)

from protocol import Id

__all__ = [
    "GENESIS_HASH",
    "TEST_AND_MAINTENANCE",
    "AlarmAcknowledged",
    "AlarmRaised",
    "AlarmResolved",
    "Category",
    "Correction",
    "DetectorSelfTest",
    "DeviceBack",
    "DeviceSilent",
    "Drill",
    "Entry",
    "FireDoorDuringAlarm",
    "GatewayBack",
    "GatewaySilent",
    "InspectionOverdue",
    "JsonValue",
    "ManualPayload",
    "Outcome",
    "Payload",
    "RetentionPurge",
    "TestModeAlarm",
    "UtcTime",
    "canonical_bytes",
    "entry_hash",
    "format_ts",
    "parse_ts",
]

GENESIS_HASH = "0" * 64
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

JsonValue = Any


def format_ts(when: datetime) -> str:
    """The canonical text of a timestamp: UTC, microseconds, trailing ``Z``."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when.astimezone(UTC).strftime(_TS_FORMAT)


def parse_ts(text: str) -> datetime:
    """Inverse of :func:`format_ts`."""
    if len(text) != 27 or not text.endswith("Z"):
        raise ValueError(f"not a canonical timestamp: {text!r}")
    return datetime.fromisoformat(text)


def _to_utc(when: datetime) -> datetime:
    return when.astimezone(UTC)


UtcTime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(format_ts, return_type=str, when_used="json"),
]


def _ms(value: float) -> float:
    # Millisecond precision keeps float text identical across JSON implementations.
    return round(value, 3)


Seconds = Annotated[float, Field(ge=0, le=10 * 365 * 86_400), AfterValidator(_ms)]
Text = Annotated[str, Field(max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class Category(enum.StrEnum):
    """What an entry records."""

    ALARM_RAISED = "alarm_raised"
    ALARM_ACKNOWLEDGED = "alarm_acknowledged"
    ALARM_RESOLVED = "alarm_resolved"
    DETECTOR_SELF_TEST = "detector_self_test"
    TEST_MODE_ALARM = "test_mode_alarm"
    FIRE_DOOR_DURING_ALARM = "fire_door_during_alarm"
    DEVICE_SILENT = "device_silent"
    DEVICE_BACK = "device_back"
    GATEWAY_SILENT = "gateway_silent"
    GATEWAY_BACK = "gateway_back"
    INSPECTION_OVERDUE = "inspection_overdue"
    DRILL = "drill"
    PATROL = "patrol"  # manual
    PERIODIC_CHECK = "periodic_check"  # manual
    EQUIPMENT_TEST = "equipment_test"  # manual
    MAINTENANCE = "maintenance"  # manual
    CORRECTION = "correction"  # manual, references the corrected seq
    RETENTION_PURGE = "retention_purge"  # written by the retention purge itself

    @property
    def manual(self) -> bool:
        return self in _MANUAL


_MANUAL = frozenset(
    {Category.PATROL, Category.PERIODIC_CHECK, Category.EQUIPMENT_TEST, Category.MAINTENANCE}
)

# Records that GB 25201 wants kept at least five years (RULES.md C, system.annual_test).
TEST_AND_MAINTENANCE = frozenset(
    {
        Category.DETECTOR_SELF_TEST,
        Category.TEST_MODE_ALARM,
        Category.DRILL,
        Category.PERIODIC_CHECK,
        Category.EQUIPMENT_TEST,
        Category.MAINTENANCE,
        Category.CORRECTION,
    }
)

_PAYLOAD = ConfigDict(frozen=True, extra="forbid")


class AlarmRaised(BaseModel):
    model_config = _PAYLOAD
    alert_id: Name
    rule: Name
    severity: Literal["info", "warning", "minor", "major", "critical"]
    room: Id | None = None
    device: Id | None = None
    message: Text = ""


class AlarmAcknowledged(BaseModel):
    model_config = _PAYLOAD
    alert_id: Name
    by: Name
    raised_at: UtcTime | None = None
    response_seconds: Seconds | None = None


class AlarmResolved(BaseModel):
    model_config = _PAYLOAD
    alert_id: Name
    by: Name | None = None
    raised_at: UtcTime | None = None
    duration_seconds: Seconds | None = None
    resolution: Text = ""


class DetectorSelfTest(BaseModel):
    model_config = _PAYLOAD
    device: Id
    room: Id | None = None
    result: Literal["pass", "fail"]
    detail: Text = ""


class TestModeAlarm(BaseModel):
    model_config = _PAYLOAD
    device: Id
    room: Id | None = None
    started_by: Name | None = None


class FireDoorDuringAlarm(BaseModel):
    model_config = _PAYLOAD
    device: Id
    room: Id | None = None
    alert_id: Name | None = None
    state: Literal["open", "closed", "released", "not_released"]
    seconds_after_alarm: Seconds | None = None


class DeviceSilent(BaseModel):
    model_config = _PAYLOAD
    device: Id
    gateway: Id | None = None
    last_seen: UtcTime | None = None
    timeout_seconds: Seconds | None = None


class DeviceBack(BaseModel):
    model_config = _PAYLOAD
    device: Id
    gateway: Id | None = None
    silent_seconds: Seconds | None = None


class GatewaySilent(BaseModel):
    model_config = _PAYLOAD
    gateway: Id
    last_seen: UtcTime | None = None
    reason: Literal["last_will", "timeout"] = "timeout"


class GatewayBack(BaseModel):
    model_config = _PAYLOAD
    gateway: Id
    silent_seconds: Seconds | None = None


class InspectionOverdue(BaseModel):
    model_config = _PAYLOAD
    item: Name  # a schedule id of RULES.md C, e.g. "patrol.daily"
    subject: Name | None = None
    due_at: UtcTime
    last_done: UtcTime | None = None


class Drill(BaseModel):
    """Alarm → every room empty: the evacuation time of a drill."""

    model_config = _PAYLOAD
    alarm_at: UtcTime
    room_empty_at: UtcTime | None = None
    evacuation_seconds: Seconds | None = None
    rooms: tuple[Id, ...] = ()
    participants: int | None = Field(default=None, ge=0, le=100_000)
    remarks: Text = ""


class Outcome(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - 合格, not a password
    FAIL = "fail"  # 不合格
    NOT_APPLICABLE = "not_applicable"  # 不适用


class ManualPayload(BaseModel):
    """A patrol, periodic check, equipment test or maintenance record."""

    model_config = _PAYLOAD
    inspector: Name
    checklist: dict[str, Outcome]
    remarks: Text = ""
    subject: Name | None = None
    attachment: Annotated[str, Field(max_length=500)] | None = None


class Correction(BaseModel):
    model_config = _PAYLOAD
    corrects_seq: int = Field(ge=1)
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    amended: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class RetentionPurge(BaseModel):
    model_config = _PAYLOAD
    purged_through_seq: int = Field(ge=1)
    anchor_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    count: int = Field(ge=1)
    cutoff: UtcTime


Payload = (
    AlarmRaised
    | AlarmAcknowledged
    | AlarmResolved
    | DetectorSelfTest
    | TestModeAlarm
    | FireDoorDuringAlarm
    | DeviceSilent
    | DeviceBack
    | GatewaySilent
    | GatewayBack
    | InspectionOverdue
    | Drill
    | ManualPayload
    | Correction
    | RetentionPurge
)

PAYLOAD_TYPES: dict[Category, type[BaseModel]] = {
    Category.ALARM_RAISED: AlarmRaised,
    Category.ALARM_ACKNOWLEDGED: AlarmAcknowledged,
    Category.ALARM_RESOLVED: AlarmResolved,
    Category.DETECTOR_SELF_TEST: DetectorSelfTest,
    Category.TEST_MODE_ALARM: TestModeAlarm,
    Category.FIRE_DOOR_DURING_ALARM: FireDoorDuringAlarm,
    Category.DEVICE_SILENT: DeviceSilent,
    Category.DEVICE_BACK: DeviceBack,
    Category.GATEWAY_SILENT: GatewaySilent,
    Category.GATEWAY_BACK: GatewayBack,
    Category.INSPECTION_OVERDUE: InspectionOverdue,
    Category.DRILL: Drill,
    Category.PATROL: ManualPayload,
    Category.PERIODIC_CHECK: ManualPayload,
    Category.EQUIPMENT_TEST: ManualPayload,
    Category.MAINTENANCE: ManualPayload,
    Category.CORRECTION: Correction,
    Category.RETENTION_PURGE: RetentionPurge,
}


class Entry(BaseModel):
    """One stored entry, exactly as hashed. ``payload`` is the JSON form of the typed payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str
    seq: int
    recorded_at: str
    occurred_at: str
    category: str
    actor: str
    payload: dict[str, JsonValue]
    prev_hash: str
    hash: str

    def canonical(self) -> bytes:
        """The bytes ``hash`` is computed over."""
        return canonical_bytes(
            site=self.site,
            seq=self.seq,
            recorded_at=self.recorded_at,
            occurred_at=self.occurred_at,
            category=self.category,
            actor=self.actor,
            payload=self.payload,
            prev_hash=self.prev_hash,
        )

    def computed_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    def typed_payload(self) -> BaseModel:
        """The payload parsed into its category's model."""
        return PAYLOAD_TYPES[Category(self.category)].model_validate(self.payload)

    @property
    def occurred(self) -> datetime:
        return parse_ts(self.occurred_at)

    @property
    def recorded(self) -> datetime:
        return parse_ts(self.recorded_at)


def _integral(value: JsonValue) -> JsonValue:
    # 45.0 is written 45, as JavaScript and most JSON libraries write it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_integral(v) for v in value]
    return value


def canonical_json(value: JsonValue) -> str:
    """Sorted keys, no whitespace, raw UTF-8, no NaN, integral numbers without a fraction: the
    one text form of a JSON value."""
    return json.dumps(
        _integral(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_bytes(
    *,
    site: str,
    seq: int,
    recorded_at: str,
    occurred_at: str,
    category: str,
    actor: str,
    payload: dict[str, JsonValue],
    prev_hash: str,
) -> bytes:
    """The canonical serialisation of an entry (see the module docstring)."""
    return canonical_json(
        {
            "actor": actor,
            "category": category,
            "occurred_at": occurred_at,
            "payload": payload,
            "prev_hash": prev_hash,
            "recorded_at": recorded_at,
            "seq": seq,
            "site": site,
        }
    ).encode("utf-8")


def entry_hash(**fields: Any) -> str:
    """SHA-256 (lowercase hex) of :func:`canonical_bytes` of ``fields``."""
    return hashlib.sha256(canonical_bytes(**fields)).hexdigest()
