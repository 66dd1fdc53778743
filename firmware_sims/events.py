"""What a fleet step produces for a transport: the sink interface's vocabulary.

The fleet knows nothing of MQTT; a :class:`Sink` turns these events into messages (MQTT
publishes, or calls on a simulated edge driver, or a list in a test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protocol import Channel, ProtocolError, Reading

__all__ = [
    "BrokerRestart",
    "Event",
    "GatewayRef",
    "Heartbeat",
    "Offline",
    "Online",
    "Publish",
    "Raw",
    "Sink",
    "published_readings",
]


@dataclass(frozen=True, slots=True)
class GatewayRef:
    """A gateway and the site it belongs to (the two parts of its topics)."""

    site: str
    gateway: str


@dataclass(frozen=True, slots=True)
class Online:
    """The gateway is (again) connected: publish its retained "online" status."""

    gateway: GatewayRef
    ts: datetime  # the gateway's clock


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The gateway's periodic status; ``held`` readings wait for the uplink."""

    gateway: GatewayRef
    ts: datetime
    held: int = 0


@dataclass(frozen=True, slots=True)
class Offline:
    """The uplink is lost without a clean disconnect: the broker publishes the Last Will."""

    gateway: GatewayRef
    ts: datetime


@dataclass(frozen=True, slots=True)
class Publish:
    """Readings the gateway sends; alarm-class ones go first, one per ``up/alarm`` message."""

    gateway: GatewayRef
    readings: tuple[Reading, ...]
    sent_at: datetime  # the gateway's clock


@dataclass(frozen=True, slots=True)
class Raw:
    """Bytes a hostile or broken gateway publishes as they are, and the error the server's
    decoder must answer them with."""

    gateway: GatewayRef
    channel: Channel
    payload: bytes
    label: str
    expect: type[ProtocolError]


@dataclass(frozen=True, slots=True)
class BrokerRestart:
    """The broker restarts now; clients reconnect and resend what was not acknowledged."""

    at: datetime


Event = Online | Heartbeat | Offline | Publish | Raw | BrokerRestart


class Sink(Protocol):
    """Where a fleet's events go. Implementations: ``MemorySink``, ``MqttSink``."""

    def handle(self, events: Sequence[Event]) -> None:
        """Deliver ``events`` in order. May block for backpressure; must not drop readings."""

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything handed over is delivered; False if ``timeout_s`` ran out."""

    def close(self) -> None:
        """Release connections and threads."""


def published_readings(events: Sequence[Event], gateway: str | None = None) -> list[Reading]:
    """The readings the ``Publish`` events carry (of ``gateway`` only, if given), in order."""
    return [
        reading
        for event in events
        if isinstance(event, Publish) and (gateway is None or event.gateway.gateway == gateway)
        for reading in event.readings
    ]
