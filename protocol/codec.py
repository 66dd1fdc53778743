"""Encode messages to bytes and decode bytes to validated messages.

Decoding is the only way a payload enters the system: it either returns a frozen, validated
model or raises one of the errors in :mod:`protocol._errors`, never anything else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from protocol._errors import (
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
from protocol.models import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    PROTOCOL_VERSION,
    AlarmEvent,
    Command,
    GatewayStatus,
    Reading,
    ReadingBatch,
)
from protocol.topics import Channel, TopicInfo, parse_topic

__all__ = [
    "DEFAULT_BOUNDS",
    "Decoded",
    "Message",
    "TimeBounds",
    "decode",
    "decode_message",
    "encode",
    "json_schema",
    "readings_of",
]

Message = ReadingBatch | AlarmEvent | GatewayStatus | Command
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far from the receiver's clock a timestamp may be before it is refused."""

    # Gateway clocks drift and NTP may be unreachable for a while; an hour covers that, and
    # anything further ahead is a broken clock whose readings would corrupt "latest state".
    max_future: timedelta = timedelta(hours=1)
    # An outbox may hold weeks of readings after a long outage; a year is absurd.
    max_past: timedelta = timedelta(days=365)


DEFAULT_BOUNDS = TimeBounds()

_CHANNEL_MODEL: dict[Channel, type[BaseModel]] = {
    Channel.READINGS: ReadingBatch,
    Channel.ALARM: AlarmEvent,
    Channel.STATUS: GatewayStatus,
    Channel.CMD: Command,
}

_WIRE = {"wire": True}

_RANGE_ERRORS = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "too_long",
        "too_short",
        "string_too_long",
        "string_too_short",
        "int_too_big",
    }
)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message and the topic it came on."""

    topic: TopicInfo
    message: Message


def encode(message: BaseModel) -> bytes:
    """Serialise a message to compact JSON, refusing one over the size limit."""
    data = message.model_dump_json(exclude_none=True).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(data), MAX_PAYLOAD_BYTES)
    return data


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"smoke", "door", "occupancy", "health"}:
            continue  # the discriminator's branch name says nothing to a device maker
        else:
            out += f".{part}" if out else str(part)
    return out or "payload"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _classify(exc: ValidationError, model: type[BaseModel]) -> ProtocolError:
    errors = exc.errors(include_url=False)
    for err in errors:
        if err["type"] in {"json_invalid", "json_type"}:
            return NotJson(f"not valid UTF-8 JSON ({err['msg']})", where="payload")
        if err["type"] == "model_type" and not err["loc"]:
            return NotJson(
                f"expected a JSON object, got {type(err['input']).__name__}", where="payload"
            )
    for err in errors:
        if not err["loc"] and err["type"] == "value_error" and "version missing" in err["msg"]:
            return UnsupportedVersion(
                f"protocol version missing; this server speaks v={PROTOCOL_VERSION}", where="v"
            )
        if err["loc"][:1] == ("v",):
            given = err["input"] if err["type"] != "missing" else "nothing"
            return UnsupportedVersion(
                f"protocol version {_short(given)} is not supported; this server speaks "
                f"v={PROTOCOL_VERSION}",
                where="v",
            )
    for err in errors:
        if err["type"] == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", err["input"])
            return UnknownKind(
                f"unknown reading kind {_short(tag)}; expected smoke, door, occupancy or health",
                where=_where(err["loc"]) + ".kind",
            )
        if err["type"] == "too_long" and err["loc"] == ("readings",):
            return TooManyReadings(
                f"{err.get('ctx', {}).get('actual_length', '?')} readings, "
                f"at most {MAX_READINGS_PER_BATCH} in one batch",
                where="readings",
            )
    err = errors[0]
    where = _where(err["loc"])
    message = (
        f"{err['msg']} (got {_short(err['input'])})"
        if err["type"] != "missing"
        else (f"required field is missing in {model.__name__}")
    )
    if err["type"] in _RANGE_ERRORS:
        return FieldOutOfRange(message, where=where)
    return InvalidField(message, where=where)


def _out_of_bounds(value: datetime, where: str, now: datetime, bounds: TimeBounds) -> None:
    if value > now + bounds.max_future:
        raise TimestampOutOfBounds(
            f"{value.isoformat()} is more than {bounds.max_future} ahead of {now.isoformat()}",
            where=where,
        )
    raise TimestampOutOfBounds(
        f"{value.isoformat()} is more than {bounds.max_past} before {now.isoformat()}",
        where=where,
    )


def _check_times(message: BaseModel, now: datetime, bounds: TimeBounds) -> None:
    # The window is computed once per message and the error location only on failure: this runs
    # for every reading of every message the server receives.
    lo, hi = now - bounds.max_past, now + bounds.max_future
    match message:
        case ReadingBatch():
            if not lo <= message.sent_at <= hi:
                _out_of_bounds(message.sent_at, "sent_at", now, bounds)
            for i, reading in enumerate(message.readings):
                if not lo <= reading.ts <= hi:
                    _out_of_bounds(reading.ts, f"readings[{i}].ts", now, bounds)
        case AlarmEvent():
            if not lo <= message.sent_at <= hi:
                _out_of_bounds(message.sent_at, "sent_at", now, bounds)
            if not lo <= message.reading.ts <= hi:
                _out_of_bounds(message.reading.ts, "reading.ts", now, bounds)
        case GatewayStatus():
            if message.ts is not None and not lo <= message.ts <= hi:
                _out_of_bounds(message.ts, "ts", now, bounds)
        case Command():
            if not lo <= message.issued_at <= hi:
                _out_of_bounds(message.issued_at, "issued_at", now, bounds)


def decode(
    payload: bytes,
    model: type[M],
    *,
    now: datetime,
    bounds: TimeBounds = DEFAULT_BOUNDS,
) -> M:
    """Decode ``payload`` as ``model``, checking size, JSON, version, fields and timestamps."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(payload), MAX_PAYLOAD_BYTES)
    try:
        message = model.model_validate_json(payload, context=_WIRE)
    except ValidationError as exc:
        raise _classify(exc, model) from None
    except (ValueError, TypeError, RecursionError) as exc:  # pragma: no cover - defensive
        raise NotJson(f"cannot be decoded ({exc.__class__.__name__})", where="payload") from None
    _check_times(message, now, bounds)
    return message


# A server sees the same few thousand topics (gateways × channels) over and over; parsing is
# pure and TopicInfo is frozen, so valid topics are parsed once (bad ones raise, never cached).
# 16,384 covers 4,000 gateways' channels and costs about 2 MB at most.
_parse_topic = functools.lru_cache(maxsize=16_384)(parse_topic)


def decode_message(
    topic: str,
    payload: bytes,
    *,
    now: datetime,
    bounds: TimeBounds = DEFAULT_BOUNDS,
) -> Decoded:
    """Decode a message received on ``topic``; the payload's gateway must match the topic's."""
    info = _parse_topic(topic)
    model = _CHANNEL_MODEL.get(info.channel) if info.channel is not None else None
    if model is None:
        raise ProtocolError(f"{topic[:200]!r} carries no message this decoder reads", where="topic")
    message = decode(payload, model, now=now, bounds=bounds)
    gateway = getattr(message, "gateway", None)
    if gateway is not None and gateway != info.gateway:
        raise GatewayMismatch(
            f"payload names gateway {gateway!r} but arrived on {info.gateway!r}'s topic",
            where="gateway",
        )
    assert isinstance(message, ReadingBatch | AlarmEvent | GatewayStatus | Command)
    return Decoded(info, message)


def readings_of(message: Message) -> Iterable[Reading]:
    """The readings a message carries (none for status and commands)."""
    match message:
        case ReadingBatch():
            return message.readings
        case AlarmEvent():
            return (message.reading,)
    return ()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every message, for device makers."""
    _, top = models_json_schema(
        [
            (ReadingBatch, "validation"),
            (AlarmEvent, "validation"),
            (GatewayStatus, "validation"),
            (Command, "validation"),
        ],
        title=f"Linli MQTT protocol v{PROTOCOL_VERSION}",
        description=(
            "Messages on linli/v1/{site}/{gateway}/up/readings (ReadingBatch), up/alarm "
            "(AlarmEvent), status (GatewayStatus, retained) and down/cmd (Command). "
            f"Payloads are UTF-8 JSON of at most {MAX_PAYLOAD_BYTES} bytes."
        ),
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **top}
