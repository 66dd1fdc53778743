"""The MQTT consumer: a paho network thread feeding a bounded queue, and a writer thread.

::

    broker ──▶ paho network thread ──put (blocks when full)──▶ queue ──▶ writer thread
                       ▲                                                  │ drain ≤ N messages
                       └─── PUBACK (client.ack) ◀── sinks ◀── committed ◀──┘ one transaction

The PUBACK of a message is sent only after its readings (or its dead letter) are committed and
handed to the sinks.
With a fixed client id and a persistent session, messages not acked when the process dies are
redelivered by the broker and dropped by the store's dedupe. When the queue is full the network
thread stops reading from the socket, so the broker (not this process) holds the backlog.
"""

from __future__ import annotations

import logging
import queue
import re
import ssl
import threading
from collections.abc import Callable
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
from protocol import server_subscriptions, shared

__all__ = ["MqttConsumer"]

log = logging.getLogger(__name__)

# How often blocked threads look up to see whether the consumer is stopping.
_POLL_S = 0.2
# Retrying a failed write: start fast (a locked database clears in ms), cap so a long outage of
# the records disk costs at most one attempt every 10 s.
_RETRY_START_S = 0.2
_RETRY_CAP_S = 10.0


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


class MqttConsumer:
    """Owns the paho client and the writer thread; ``start()`` and ``stop()`` them."""

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
        self.filters = [
            shared(f, settings.mqtt_share_group) if settings.mqtt_share_group else f
            for f in server_subscriptions(settings.mqtt_site)
        ]
        self._match = _filters_regex(server_subscriptions(settings.mqtt_site)).fullmatch
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=settings.queue_size)
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._generation = 0
        self._client = self._make_client()
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.mqtt_protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.mqtt_client_id,
            clean_session=None if v5 else False,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
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

    def start(self) -> None:
        """Connect (in the background, retrying) and start the writer."""
        s = self.settings
        if s.mqtt_protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.mqtt_session_expiry_s
            # The broker sends at most this many unacked messages: the queue never overflows.
            props.ReceiveMaximum = min(s.queue_size, 65535)
            self._client.connect_async(
                s.mqtt_host, s.mqtt_port, s.mqtt_keepalive_s, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(s.mqtt_host, s.mqtt_port, s.mqtt_keepalive_s)
        self._client.loop_start()
        self._writer.start()
        self._started = True
        log.info("MQTT consumer %s connecting to %s:%d", s.mqtt_client_id, s.mqtt_host, s.mqtt_port)

    def stop(self) -> None:
        """Finish the batch in hand (and ack it), then disconnect; unacked messages stay queued
        at the broker for the next start."""
        if not self._started:
            return
        self._stopping.set()
        self._writer.join(timeout=60)
        self._client.disconnect()
        self._client.loop_stop()
        self._started = False

    @property
    def connected(self) -> bool:
        """Connected and subscribed."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until subscribed to the broker."""
        return self._connected.wait(timeout)

    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- paho network thread -------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connection refused: %s", reason)
            return
        self._generation += 1
        client.subscribe([(f, 1) for f in self.filters])
        log.info(
            "MQTT connected (session present: %s), subscribing to %s",
            flags.session_present,
            ", ".join(self.filters),
        )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        refused = [f for f, r in zip(self.filters, reasons, strict=False) if r.is_failure]
        if refused:
            # Typically a broker ACL: the server would silently receive nothing; stay not ready.
            log.warning("the broker refused the subscriptions %s", ", ".join(refused))
            return
        self._connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("MQTT disconnected (%s); paho reconnects with backoff", reason)

    def _on_message(self, client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        # A broker may deliver retained messages of topics never subscribed to (amqtt does);
        # they still go through the queue so that PUBACKs leave in arrival order.
        foreign = self._match(msg.topic) is None
        item = Inbound(
            msg.topic,
            b"" if foreign else bytes(msg.payload),
            self.now(),
            msg.mid,
            msg.qos,
            generation=self._generation,
            foreign=foreign,
            dup=bool(msg.dup),
        )
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        # Stopping: not acked, so the broker redelivers it to the next session.

    # -- writer thread -------------------------------------------------------------------

    def _write_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.settings.batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            result = self._store(batch)
            if result is None:
                return
            # Sinks before the acks: if the process dies in between, the broker redelivers and
            # the sinks get the readings again (see BatchResult.for_sinks).
            self.sinks.dispatch(result.for_sinks, result.statuses, self.now())
            for item in batch:
                # A message received on an earlier connection is redelivered on this one with a
                # new packet id; acking the old id could ack an unrelated message.
                if item.qos > 0 and item.generation == self._generation:
                    self._client.ack(item.mid, item.qos)

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
