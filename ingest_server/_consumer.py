"""The MQTT consumer: two broker sessions (lanes) feeding bounded queues, and one writer thread.

::

    broker ─▶ alarm session (up/alarm) ─────────────put─▶ alarm queue ─┐ first, always
    broker ─▶ telemetry session (readings, status) ─put─▶ queue ───────┴▶ writer thread
                       ▲                                                  │ drain ≤ N messages
                       └─── PUBACK (client.ack) ◀── sinks ◀── committed ◀──┘ one transaction

A batch is at most ``batch_max`` messages and ends early once it holds 256 KiB of payload.

The PUBACK of a message is sent only after its readings (or its dead letter) are committed and
handed to the sinks. With fixed client ids and persistent sessions, messages not acked when the
process dies are redelivered by the broker and dropped by the store's dedupe. When a queue is
full its network thread stops reading from the socket, so the broker (not this process) holds
the backlog.

Alarms have their own session because a broker delivers one session's messages in order: under
a telemetry backlog an alarm would otherwise wait behind every reading queued before it. The
writer takes the alarm queue before each batch, so an alarm waits for at most the batch in hand.
"""

from __future__ import annotations

import gc
import logging
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import OperationalError

from ingest_server._errors import StoreError
from ingest_server._pipeline import BatchResult, Inbound, Pipeline
from ingest_server._settings import ServerSettings
from ingest_server._sinks import SinkRegistry
from protocol import Channel, server_subscriptions, shared

__all__ = ["MqttConsumer"]

log = logging.getLogger(__name__)

# How often blocked threads look up to see whether the consumer is stopping.
_POLL_S = 0.2
# Retrying a failed write: start fast (a locked database clears in ms), cap so a long outage of
# the records disk costs at most one attempt every 10 s.
_RETRY_START_S = 0.2
_RETRY_CAP_S = 10.0
# A batch also ends once it holds this much payload (always at least one message). ``batch_max``
# messages of one reading each are ~40 kB; of 50 readings each they would be 10,000 readings
# (~0.25 s of work) that an alarm arriving meanwhile waits behind. 256 KiB is ~1,700 readings:
# still hundreds per fsync, and the batch in hand is done in tens of milliseconds.
_BATCH_BYTES = 256 * 1024
# While the consumer runs, the cyclic GC's youngest generation is collected every this many
# allocations instead of CPython's 700. A batch allocates a few objects per reading that all
# live until its sinks ran; with 700 they outlive two young collections, are promoted to the
# oldest generation and trigger a full collection of the whole heap about once per batch (a
# quarter of the writer's CPU at 50 readings per message). 20,000 lets a batch's objects die
# young; a young collection stays a fraction of a millisecond.
_GC_YOUNG_THRESHOLD = 20_000


def _filters_regex(filters: list[str]) -> re.Pattern[str]:
    """One compiled pattern matching what any of ``filters`` matches (MQTT wildcard rules).

    paho's ``topic_matches_sub`` builds a matcher tree on every call: at thousands of messages
    a second that was a sixth of the server's CPU.
    """
    alternatives = []
    for f in filters:
        levels = f.split("/")
        parts = []
        for i, level in enumerate(levels):
            sep = "/" if i else ""
            if level == "#":
                parts.append(f"(?:{sep}.*)?" if i else ".*")
            else:
                parts.append(sep + ("[^/]*" if level == "+" else re.escape(level)))
        # Wildcards in the first level never match topics starting with '$' (MQTT 4.7.2).
        guard = "(?!\\$)" if levels[0] in ("+", "#") else ""
        alternatives.append(guard + "".join(parts))
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


@dataclass(eq=False)
class _Lane:
    """One broker session: its client, filters, queue and connection generation."""

    name: str
    client_id: str
    raw_filters: list[str]
    filters: list[str]
    match: Callable[[str], re.Match[str] | None]
    pending: deque[Inbound] = field(default_factory=deque)
    subscribed: threading.Event = field(default_factory=threading.Event)
    generation: int = 0
    client: mqtt.Client | None = None


class MqttConsumer:
    """Owns the paho clients and the writer thread; ``start()`` and ``stop()`` them."""

    def __init__(
        self,
        settings: ServerSettings,
        pipeline: Pipeline,
        sinks: SinkRegistry,
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.sinks = sinks
        self.now = now
        every = server_subscriptions(settings.mqtt_site)
        alarm_suffix = "/" + Channel.ALARM.value
        alarms = [f for f in every if f.endswith(alarm_suffix)]
        rest = [f for f in every if not f.endswith(alarm_suffix)]
        # Alarms first: the writer serves lanes in this order.
        self._lanes = [
            self._lane("alarm", f"{settings.mqtt_client_id}-alarm", alarms),
            self._lane("telemetry", settings.mqtt_client_id, rest),
        ]
        self.filters = [f for lane in self._lanes for f in lane.filters]
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        for lane in self._lanes:
            lane.client = self._make_client(lane)
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._started = False
        self._gc_before = gc.get_threshold()

    def _lane(self, name: str, client_id: str, raw: list[str]) -> _Lane:
        group = self.settings.mqtt_share_group
        return _Lane(
            name=name,
            client_id=client_id,
            raw_filters=raw,
            filters=[shared(f, group) if group else f for f in raw],
            match=_filters_regex(raw).fullmatch,
        )

    # -- lifecycle -----------------------------------------------------------------------

    def _make_client(self, lane: _Lane) -> mqtt.Client:
        s = self.settings
        v5 = s.mqtt_protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=lane.client_id,
            clean_session=None if v5 else False,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
            userdata=lane,
        )
        if s.mqtt_username is not None:
            password = s.mqtt_password.get_secret_value() if s.mqtt_password else None
            client.username_pw_set(s.mqtt_username, password)
        if s.mqtt_tls:
            client.tls_set(
                ca_certs=str(s.mqtt_ca_file) if s.mqtt_ca_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        # 1 s after a drop (a broker restart takes about that), doubling to 30 s.
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _clients(self) -> list[tuple[_Lane, mqtt.Client]]:
        return [(lane, lane.client) for lane in self._lanes if lane.client is not None]

    def start(self) -> None:
        """Connect (in the background, retrying) and start the writer."""
        s = self.settings
        for _lane, client in self._clients():
            if s.mqtt_protocol == "5":
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = s.mqtt_session_expiry_s
                # The broker sends at most this many unacked messages: the queue never overflows.
                props.ReceiveMaximum = min(s.queue_size, 65535)
                client.connect_async(
                    s.mqtt_host,
                    s.mqtt_port,
                    s.mqtt_keepalive_s,
                    clean_start=False,
                    properties=props,
                )
            else:
                client.connect_async(s.mqtt_host, s.mqtt_port, s.mqtt_keepalive_s)
            client.loop_start()
        self._gc_before = gc.get_threshold()
        if self._gc_before[0] < _GC_YOUNG_THRESHOLD:
            gc.set_threshold(_GC_YOUNG_THRESHOLD, *self._gc_before[1:])
        self._writer.start()
        self._started = True
        log.info("MQTT consumer %s connecting to %s:%d", s.mqtt_client_id, s.mqtt_host, s.mqtt_port)

    def stop(self) -> None:
        """Finish the batch in hand (and ack it), then disconnect; unacked messages stay queued
        at the broker for the next start."""
        if not self._started:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._writer.join(timeout=60)
        for _lane, client in self._clients():
            client.disconnect()
            client.loop_stop()
        if gc.get_threshold()[0] == _GC_YOUNG_THRESHOLD:
            gc.set_threshold(*self._gc_before)
        self._started = False

    @property
    def connected(self) -> bool:
        """Both sessions connected and subscribed."""
        return all(lane.subscribed.is_set() for lane in self._lanes)

    def wait_connected(self, timeout: float) -> bool:
        """Wait until subscribed to the broker."""
        deadline = time.monotonic() + timeout
        return all(
            lane.subscribed.wait(max(0.0, deadline - time.monotonic())) for lane in self._lanes
        )

    def queue_depth(self) -> int:
        with self._cond:
            return sum(len(lane.pending) for lane in self._lanes)

    # -- paho network threads ------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        lane: _Lane,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connection (%s) refused: %s", lane.name, reason)
            return
        with self._cond:
            lane.generation += 1
        client.subscribe([(f, 1) for f in lane.filters])
        log.info(
            "MQTT %s session connected (session present: %s), subscribing to %s",
            lane.name,
            flags.session_present,
            ", ".join(lane.filters),
        )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        lane: _Lane,
        _mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        refused = [f for f, r in zip(lane.filters, reasons, strict=False) if r.is_failure]
        if refused:
            # Typically a broker ACL: the server would silently receive nothing; stay not ready.
            log.warning("the broker refused the subscriptions %s", ", ".join(refused))
            return
        lane.subscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        lane: _Lane,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        lane.subscribed.clear()
        if not self._stopping.is_set():
            log.warning("MQTT %s session disconnected (%s); paho reconnects", lane.name, reason)

    def _on_message(self, _client: mqtt.Client, lane: _Lane, msg: mqtt.MQTTMessage) -> None:
        # A broker may deliver retained messages of topics never subscribed to (amqtt does);
        # they still go through the queue so that PUBACKs leave in arrival order.
        foreign = lane.match(msg.topic) is None
        item = Inbound(
            msg.topic,
            b"" if foreign else bytes(msg.payload),
            self.now(),
            msg.mid,
            msg.qos,
            generation=lane.generation,
            foreign=foreign,
            dup=bool(msg.dup),
        )
        with self._cond:
            while len(lane.pending) >= self.settings.queue_size:
                if self._stopping.is_set():
                    # Not acked, so the broker redelivers it to the next session.
                    return
                self._cond.wait(_POLL_S)
            lane.pending.append(item)
            self._cond.notify_all()

    # -- writer thread -------------------------------------------------------------------

    def _take(self) -> tuple[_Lane, list[Inbound]] | None:
        """The next batch: from the alarm lane whenever it has anything, one lane at a time
        (each lane's acks stay in its arrival order)."""
        with self._cond:
            while not self._stopping.is_set():
                for lane in self._lanes:
                    if lane.pending:
                        pending = lane.pending
                        n = min(len(pending), self.settings.batch_max)
                        batch = [pending.popleft()]
                        size = len(batch[0].payload)
                        while len(batch) < n and size < _BATCH_BYTES:
                            item = pending.popleft()
                            batch.append(item)
                            size += len(item.payload)
                        self._cond.notify_all()
                        return lane, batch
                self._cond.wait(_POLL_S)
        return None

    def _write_loop(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            lane, batch = taken
            result = self._store(batch)
            if result is None:
                return
            # Sinks before the acks: if the process dies in between, the broker redelivers and
            # the sinks get the readings again (see BatchResult.for_sinks).
            self.sinks.dispatch(result.for_sinks, result.statuses, self.now())
            client = lane.client
            assert client is not None
            for item in batch:
                # A message received on an earlier connection is redelivered on this one with a
                # new packet id; acking the old id could ack an unrelated message.
                if item.qos > 0 and item.generation == lane.generation:
                    client.ack(item.mid, item.qos)

    def _store(self, batch: list[Inbound]) -> BatchResult | None:
        delay = _RETRY_START_S
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.pipeline.process(batch)
            except (StoreError, OperationalError) as exc:
                self.pipeline.metrics.add("write_errors")
                log.warning(
                    "storing a batch of %d messages failed (attempt %d); not acked, retrying in "
                    "%.1f s: %s",
                    len(batch),
                    attempt,
                    delay,
                    exc,
                )
            except Exception:
                self.pipeline.metrics.add("write_errors")
                log.exception(
                    "storing a batch of %d messages failed (attempt %d); not acked, retrying in "
                    "%.1f s",
                    len(batch),
                    attempt,
                    delay,
                )
            if self._stopping.wait(delay):
                return None
            delay = min(delay * 2, _RETRY_CAP_S)
