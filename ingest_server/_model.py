"""Frozen values that flow through the server: stored readings, statuses, query results."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, TypeAdapter

from protocol import GatewayStatus, Reading

__all__ = [
    "FieldValue",
    "OccupancyBucket",
    "StoredReading",
    "StoredStatus",
    "fields_json",
    "from_us",
    "reading_fields",
    "rebuild_reading",
    "to_us",
]

FieldValue = str | int | float | bool

_READING = TypeAdapter[Reading](Reading)
_KEYS = frozenset({"id", "device", "ts", "kind"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Measured field names per reading class, in declaration order (pydantic's serialisation order).
_MEASURED: dict[type[BaseModel], tuple[str, ...]] = {}
_FLOATS: dict[type[BaseModel], frozenset[str]] = {}
# Printable ASCII without '"' or '\\': written into JSON as is, exactly as any serialiser does.
# The measured values of most readings repeat (a door's two states, a counter's small deltas):
# their JSON is kept per (class, values). 4,096 entries is a few hundred kB; cleared when full.
_JSON_CACHE: dict[tuple[Any, ...], str] = {}
_JSON_CACHE_SIZE = 4096
_PLAIN = re.compile(r"[ !#-\[\]-~]*").fullmatch


def to_us(when: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """The aware UTC datetime ``us`` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=us)


def _measured(cls: type[BaseModel]) -> tuple[str, ...]:
    names = _MEASURED.get(cls)
    if names is None:
        names = tuple(n for n in cls.model_fields if n not in _KEYS)
        # _FLOATS first: another thread that finds the names also finds the float fields.
        _FLOATS[cls] = frozenset(n for n in names if "float" in str(cls.model_fields[n].annotation))
        _MEASURED[cls] = names
    return names


def reading_fields(reading: Reading) -> dict[str, FieldValue]:
    """A reading's measured values: every set field but id, device, ts and kind; enums as text."""
    out: dict[str, FieldValue] = {}
    values = reading.__dict__
    for name in _measured(type(reading)):
        value = values[name]
        if value is None:
            continue
        # ``_value_`` is the member's plain attribute; ``.value`` goes through a descriptor.
        out[name] = value._value_ if isinstance(value, enum.Enum) else value
    return out


def rebuild_reading(
    kind: str, reading_id: str, device: str, ts: datetime, fields: Mapping[str, Any]
) -> Reading:
    """The protocol reading back from its stored parts."""
    data = {k: v for k, v in fields.items() if v is not None}
    return _READING.validate_python(
        {**data, "kind": kind, "id": reading_id, "device": device, "ts": ts}
    )


def _pydantic_fields_json(reading: Reading) -> str:
    data: bytes = type(reading).__pydantic_serializer__.to_json(
        reading, exclude=set(_KEYS), exclude_none=True
    )
    return data.decode()


def fields_json(reading: Reading) -> str:
    """:func:`reading_fields` as compact JSON, byte for byte what pydantic's serialiser writes.

    Readings hold ints, bools, enums and short strings; those are written here directly, which
    is several times cheaper per reading than a serialiser call. A float, or a string that would
    need escaping, goes to pydantic (whose float and escape formatting is the reference).
    """
    values = reading.__dict__
    cls = type(reading)
    names = _measured(cls)
    key = (cls, *[values[name] for name in names])
    cached = _JSON_CACHE.get(key)
    if cached is not None:
        return cached
    encoded = _fields_json(values, names, _FLOATS[cls])
    if encoded is None:
        return _pydantic_fields_json(reading)
    if len(_JSON_CACHE) >= _JSON_CACHE_SIZE:
        _JSON_CACHE.clear()
    _JSON_CACHE[key] = encoded
    return encoded


def _fields_json(
    values: dict[str, Any], names: tuple[str, ...], floats: frozenset[str]
) -> str | None:
    parts = []
    for name in names:
        value = values[name]
        if value is None:
            continue
        kind = type(value)
        if name in floats:
            return None
        if kind is int:
            parts.append(f'"{name}":{value}')
        elif kind is bool:
            parts.append(f'"{name}":true' if value else f'"{name}":false')
        elif isinstance(value, enum.Enum):
            parts.append(f'"{name}":"{value._value_}"')  # protocol enum values are plain ASCII
        elif kind is str and _PLAIN(value):
            parts.append(f'"{name}":"{value}"')
        else:
            return None
    return "{" + ",".join(parts) + "}"


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading as stored: the protocol reading plus where it came from.

    ``site`` and ``gateway`` come from the MQTT topic; ``room`` from the facility registry at
    ingest time (None when the device is unknown or not placed in a room); ``unknown_device`` is
    True when the registry did not know the device.
    """

    reading: Reading
    site: str
    gateway: str
    room: str | None
    unknown_device: bool

    @property
    def id(self) -> str:
        return self.reading.id

    @property
    def device(self) -> str:
        return self.reading.device

    @property
    def kind(self) -> str:
        return self.reading.kind

    @property
    def ts(self) -> datetime:
        return self.reading.ts

    def fields(self) -> dict[str, FieldValue]:
        """The reading's measured values (see :func:`reading_fields`)."""
        return reading_fields(self.reading)


@dataclass(frozen=True, slots=True)
class StoredStatus:
    """A gateway status message as recorded, with the site from its topic."""

    site: str
    status: GatewayStatus
    received_at: datetime

    @property
    def gateway(self) -> str:
        return self.status.gateway


@dataclass(frozen=True, slots=True)
class OccupancyBucket:
    """Occupancy of one room over ``[start, start + step)``.

    ``max_count`` / ``mean_count`` over count-form readings (absolute people counts),
    ``entries`` / ``exits`` summed over counter readings, ``samples`` = occupancy readings of any
    form. A statistic is None when no reading of its form fell in the bucket. Buckets are aligned
    to the Unix epoch (as InfluxQL's ``GROUP BY time()``); empty buckets are left out.
    """

    start: datetime
    max_count: int | None
    mean_count: float | None
    entries: int | None
    exits: int | None
    samples: int
