"""Errors raised while decoding a payload or a topic.

Hierarchy::

    ProtocolError (ValueError)
    ├── BadTopic                 topic does not match the layout, or holds an unsafe id
    ├── PayloadTooLarge          more bytes than MAX_PAYLOAD_BYTES
    ├── NotJson                  bytes are not UTF-8 JSON, or not a JSON object
    ├── UnsupportedVersion       "v" missing or a version this code does not speak
    ├── UnknownKind              a reading whose "kind" is not one we know
    ├── InvalidField             a field missing, of the wrong type, or malformed
    │   └── FieldOutOfRange      a number or length outside its allowed range
    ├── TooManyReadings          a batch with more than MAX_READINGS_PER_BATCH readings
    ├── TimestampOutOfBounds     a timestamp absurdly far in the future or the past
    └── GatewayMismatch          the payload names another gateway than its topic

Every error carries a short machine-readable ``code`` (used as the dead-letter reason) and a
message that says what was wrong and where.
"""

from __future__ import annotations

__all__ = [
    "BadTopic",
    "FieldOutOfRange",
    "GatewayMismatch",
    "InvalidField",
    "NotJson",
    "PayloadTooLarge",
    "ProtocolError",
    "TimestampOutOfBounds",
    "TooManyReadings",
    "UnknownKind",
    "UnsupportedVersion",
]


class ProtocolError(ValueError):
    """A payload or topic that does not follow the Linli wire protocol."""

    code = "protocol"

    def __init__(self, message: str, *, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class BadTopic(ProtocolError):
    code = "bad_topic"


class PayloadTooLarge(ProtocolError):
    code = "too_large"

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"payload is {size} bytes, the limit is {limit}")


class NotJson(ProtocolError):
    code = "not_json"


class UnsupportedVersion(ProtocolError):
    code = "unsupported_version"


class UnknownKind(ProtocolError):
    code = "unknown_kind"


class InvalidField(ProtocolError):
    code = "invalid_field"


class FieldOutOfRange(InvalidField):
    code = "out_of_range"


class TooManyReadings(ProtocolError):
    code = "too_many_readings"


class TimestampOutOfBounds(ProtocolError):
    code = "timestamp_out_of_bounds"


class GatewayMismatch(ProtocolError):
    code = "gateway_mismatch"
