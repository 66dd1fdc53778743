"""Decode, validate, dedupe and store one batch of MQTT messages (no MQTT here)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ingest_server._metrics import Metrics
from ingest_server._model import StoredReading, StoredStatus
from ingest_server._records import DEAD_LETTER_PAYLOAD_CAP, DeadLetter, Records
from ingest_server._registry import DevicePlace
from ingest_server.store import TimeSeriesStore
from protocol import GatewayStatus, ProtocolError, decode_message, readings_of

__all__ = ["BatchResult", "DeviceMismatch", "Inbound", "Pipeline", "SiteMismatch"]

log = logging.getLogger(__name__)

# At most 20 log lines per dead-letter reason per minute: enough to diagnose, not a log flood.
_LOG_PER_WINDOW = 20
_LOG_WINDOW_S = 60.0


class SiteMismatch(ProtocolError):
    """A registered gateway published under another site's topic: its readings would be stored
    under a centre it does not belong to."""

    code = "site_mismatch"


class DeviceMismatch(ProtocolError):
    """A gateway reported a device the registry places on another gateway: the rules would act
    on it in that gateway's site (a forged alarm, or a masked one)."""

    code = "device_mismatch"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One MQTT message as received. ``mid``/``qos``/``generation`` are for acking it."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0
    generation: int = 0
    foreign: bool = False  # on a topic the server did not subscribe to: acked, otherwise ignored
    dup: bool = False  # MQTT DUP flag: a redelivery of a message sent before and not acked


@dataclass(slots=True)
class BatchResult:
    """What a batch produced: new readings (duplicates removed), statuses, dead letters.

    ``for_sinks`` is ``stored`` plus the duplicates that came in MQTT redeliveries (DUP flag):
    their first delivery may have been committed by a process that died before its sinks saw
    them, so sinks get them again (at least once across crashes, exactly once otherwise).
    """

    stored: list[StoredReading] = field(default_factory=list)
    for_sinks: list[StoredReading] = field(default_factory=list)
    statuses: list[StoredStatus] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0


class Pipeline:
    """Turns received messages into durable records; raises only when storing failed."""

    def __init__(
        self,
        store: TimeSeriesStore,
        records: Records,
        locate: Callable[[str], DevicePlace | None],
        metrics: Metrics,
        now: Callable[[], datetime],
        gateway_site: Callable[[str], str | None] | None = None,
    ) -> None:
        self.store = store
        self.records = records
        self.locate = locate
        # The registry's site of a gateway id (None: unknown gateway, taken at its word).
        self.gateway_site = gateway_site
        self.metrics = metrics
        self.now = now
        self._log_window: dict[str, tuple[float, int]] = {}

    def process(self, batch: Sequence[Inbound]) -> BatchResult:
        """Decode every message, then store readings, dead letters and statuses durably.

        Raises StoreError or a database error if a write failed; nothing of the batch may then
        be acked (a retry is safe: readings dedupe by id).
        """
        readings: list[StoredReading] = []
        redelivered: set[int] = set()
        result = BatchResult()
        ignored = 0
        for msg in batch:
            if msg.foreign:
                ignored += 1
                continue
            first = len(readings)
            self._decode(msg, readings, result)
            if msg.dup:
                redelivered.update(range(first, len(readings)))
        started = time.monotonic()
        result.stored = self.store.write(readings)
        self.records.write(result.dead, result.statuses)
        self.metrics.observe_write(time.monotonic() - started)
        result.duplicates = len(readings) - len(result.stored)
        if redelivered:
            fresh = {id(s) for s in result.stored}
            result.for_sinks = [
                r for i, r in enumerate(readings) if id(r) in fresh or i in redelivered
            ]
        else:
            result.for_sinks = result.stored
        self.metrics.add("ignored", ignored)
        self.metrics.add("messages", len(batch) - ignored)
        self.metrics.add("readings", len(readings))
        self.metrics.add("stored", len(result.stored))
        self.metrics.add("duplicates", result.duplicates)
        self.metrics.add("statuses", len(result.statuses))
        self.metrics.add("unknown_device", sum(s.unknown_device for s in result.stored))
        for dead in result.dead:
            self.metrics.dead_letter(dead.reason)
        return result

    def _log_dead_letter(self, msg: Inbound, err: ProtocolError) -> None:
        # A misbehaving fleet can send thousands of bad messages a second: log the first few of
        # each reason per window (the dead-letter store and the counters keep every one).
        now = time.monotonic()
        start, logged = self._log_window.get(err.code, (now, 0))
        if now - start > _LOG_WINDOW_S:
            if logged > _LOG_PER_WINDOW:
                log.warning(
                    "%d more dead letters with reason %s were not logged",
                    logged - _LOG_PER_WINDOW,
                    err.code,
                )
            start, logged = now, 0
        self._log_window[err.code] = (start, logged + 1)
        if logged >= _LOG_PER_WINDOW:
            return
        log.warning(
            "dead-lettered a message on %s (%s, %d bytes): %s; payload starts %r",
            msg.topic[:200],
            err.code,
            len(msg.payload),
            err,
            msg.payload[:120],
        )

    def _decode(self, msg: Inbound, readings: list[StoredReading], result: BatchResult) -> None:
        try:
            decoded = decode_message(msg.topic, msg.payload, now=self.now())
            site = decoded.topic.site
            gateway = decoded.topic.gateway or ""
            home = self.gateway_site(gateway) if self.gateway_site is not None else None
            if home is not None and home != site:
                raise SiteMismatch(
                    f"gateway {gateway!r} belongs to site {home!r} but published under "
                    f"site {site!r}",
                    where="topic",
                )
        except ProtocolError as err:
            self._dead_letter(msg, err, result)
            return
        if isinstance(decoded.message, GatewayStatus):
            result.statuses.append(StoredStatus(site, decoded.message, msg.received_at))
            return
        foreign: list[str] = []
        locate, append = self.locate, readings.append
        for reading in readings_of(decoded.message):
            place = locate(reading.device)
            if place is None:
                append(StoredReading(reading, site, gateway, None, True))
            elif place.gateway != gateway:
                foreign.append(f"{reading.device} (of {place.gateway})")
            else:
                append(StoredReading(reading, site, gateway, place.room, False))
        if foreign:
            # The gateway's own readings in the message are kept; the others never reach the
            # store or the rules, which would place them in another gateway's (site's) room.
            mismatch = DeviceMismatch(
                f"gateway {gateway!r} reported {len(foreign)} device(s) registered to another "
                f"gateway: {', '.join(foreign[:5])}",
                where="readings",
            )
            self._dead_letter(msg, mismatch, result)

    def _dead_letter(self, msg: Inbound, err: ProtocolError, result: BatchResult) -> None:
        self._log_dead_letter(msg, err)
        result.dead.append(
            DeadLetter(
                received_at=msg.received_at,
                topic=msg.topic,
                reason=err.code,
                detail=str(err),
                size=len(msg.payload),
                payload=msg.payload[:DEAD_LETTER_PAYLOAD_CAP],
            )
        )
