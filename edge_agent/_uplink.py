"""The MQTT session to the uplink broker, and the publisher that drains the outbox through it.

One thread owns the paho client and does everything that touches it: connect with capped,
jittered backoff; on CONNACK, subscribe ``down/config`` and ``down/cmd`` and publish the retained
``online`` status; then, whenever it wakes, publish pending alarms first, then telemetry batches
within the in-flight window and the replay rate; delete rows when their PUBACK arrives;
heartbeat.

The thread sleeps in its own ``select`` on the broker socket and a wake-up socket (paho's
external-loop API): :meth:`Uplink.notify` (called after each outbox commit) wakes it at once, so
an alarm is published as soon as it is committed, and an idle gateway does not poll.

Each connection uses a fresh paho client with the same client id and ``clean_session=False``:
the broker keeps the gateway's subscriptions and queued commands across cuts, while the outbox,
not paho's memory, is the record of what is unacknowledged. After a reconnect the publisher sends
again everything still in the outbox, alarms first, in order; the server dedupes by id.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from pydantic import TypeAdapter, ValidationError

from edge_agent._config import GatewayConfig
from edge_agent._errors import OutboxError
from edge_agent._outbox import Lane, Outbox, Row
from protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    AlarmEvent,
    Channel,
    Clock,
    GatewayState,
    GatewayStatus,
    ProtocolError,
    Reading,
    ReadingBatch,
    channel_topic,
    encode,
)

__all__ = ["Uplink", "UplinkStats"]

log = logging.getLogger(__name__)

# The longest the uplink thread sleeps with nothing to do: commits, PUBACKs and stop() wake it
# sooner; this bounds how late a missed wake-up, the CONNACK timeout or the stop flag is noticed
# and is well inside the shortest keepalive (5 s) paho's loop_misc must keep.
IDLE_S = 1.0
# How long one network wait lasts while saying goodbye (a few round trips on a LAN).
_GOODBYE_POLL_S = 0.02
# Window slots only alarms may use, so a new alarm never queues behind backlog telemetry.
ALARM_RESERVE = 16
# Batches stay this far under MAX_PAYLOAD_BYTES: room for the envelope.
_BATCH_BYTES = MAX_PAYLOAD_BYTES - 16 * 1024
_READING: TypeAdapter[Reading] = TypeAdapter(Reading)


@dataclass
class UplinkStats:
    """Counters, written by the uplink thread only."""

    connects: int = 0
    failed_attempts: int = 0
    alarms_sent: int = 0
    batches_sent: int = 0
    readings_acked: int = 0
    corrupt_rows: int = 0
    ack_timeouts: int = 0
    max_inflight: int = 0
    unexpected_messages: int = 0
    connected_since: float | None = None


@dataclass
class _InFlight:
    lane: Lane
    seqs: tuple[int, ...]
    sent: float


@dataclass
class _Session:
    """Per-connection publisher state; a new connection starts from the outbox again."""

    inflight: dict[int, _InFlight] = field(default_factory=dict)
    alarm_cursor: int = 0
    telemetry_cursor: int = 0
    acked: list[int] = field(default_factory=list)
    tokens: float = 1.0
    refilled: float = field(default_factory=time.monotonic)
    last_telemetry: float = 0.0
    heartbeat_due: float = 0.0
    # While live telemetry lingers: (outbox.added(TELEMETRY) before the last query, rows it
    # found). Until enough rows were added since to fill a batch, querying again is useless.
    lingering: tuple[int, int] | None = None


class Uplink:
    """The gateway's connection to its broker; start() spawns the thread, stop() joins it."""

    def __init__(
        self,
        config: GatewayConfig,
        outbox: Outbox,
        clock: Clock,
        *,
        password: str | None,
        status: Callable[[], GatewayStatus],
        on_config: Callable[[bytes], None],
        on_command: Callable[[bytes], None],
    ) -> None:
        self._config = config
        self._outbox = outbox
        self._clock = clock
        self._password = password
        self._status = status
        self._on_config = on_config
        self._on_command = on_command
        self._topics = {
            channel: channel_topic(config.site, config.gateway, channel) for channel in Channel
        }
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._session = _Session()
        self.stats = UplinkStats()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="linli-uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish the retained offline status if connected, disconnect, join the thread."""
        self._stop.set()
        self.notify()
        if self._thread is not None:
            self._thread.join(timeout + 5)
            self._thread = None

    def close(self) -> None:
        """Release the wake-up socket (after :meth:`stop`)."""
        self._wake_r.close()
        self._wake_w.close()

    def notify(self) -> None:
        """Wake the uplink thread: the outbox has new rows (or it should stop). Any thread."""
        # BlockingIOError: a wake-up is already pending; OSError: the uplink is closed.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # --- the thread -------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        up = self._config.uplink
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._config.gateway,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        client.username_pw_set(self._config.gateway, self._password)
        if up.tls is not None:
            client.tls_set(
                ca_certs=str(up.tls.ca_file) if up.tls.ca_file else None,
                certfile=str(up.tls.cert_file) if up.tls.cert_file else None,
                keyfile=str(up.tls.key_file) if up.tls.key_file else None,
            )
        will = GatewayStatus(gateway=self._config.gateway, state=GatewayState.OFFLINE)
        client.will_set(self._topics[Channel.STATUS], encode(will), qos=1, retain=True)
        # Our own window bounds what is unacknowledged; paho must not hold any back (the extra
        # slots are for status messages, which are not counted in the window).
        client.max_inflight_messages_set(self._config.outbox.window + ALARM_RESERVE + 8)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        return client

    def _backoff(self, attempt: int) -> float:
        up = self._config.uplink
        ceiling = min(up.reconnect_max_s, up.reconnect_min_s * 2 ** min(attempt, 16))
        return random.uniform(up.reconnect_min_s, ceiling)  # noqa: S311 - jitter, not secrets

    def _run(self) -> None:
        up = self._config.uplink
        attempt = 0
        while not self._stop.is_set():
            try:
                # TLS files are read here: a missing or bad one is retried like a dead broker.
                client = self._make_client()
                client.connect(up.host, up.port, keepalive=up.keepalive_s)
            except (OSError, ValueError) as exc:
                attempt += 1
                self.stats.failed_attempts += 1
                delay = self._backoff(attempt)
                log.warning(
                    "uplink: connection attempt %d to %s:%d failed (%s); next in %.1f s",
                    attempt,
                    up.host,
                    up.port,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                continue
            started = time.monotonic()
            try:
                self._serve(client, started)
            except Exception:
                # A bug must not end the uplink for good: log it, drop the client, reconnect.
                log.exception("uplink: unexpected error; reconnecting")
                client.disconnect()
            finally:
                was_connected = self._connected.is_set()
                self._connected.clear()
                self.stats.connected_since = None
            if self._stop.is_set():
                break
            attempt = 0 if was_connected else attempt + 1
            delay = self._backoff(attempt)
            log.warning(
                "uplink: disconnected from %s:%d; reconnecting in %.1f s",
                *(up.host, up.port, delay),
            )
            self._stop.wait(delay)
        log.info("uplink stopped")

    def _poll(self, client: mqtt.Client, timeout: float) -> MQTTErrorCode:
        """Wait up to ``timeout`` for the broker socket or a wake-up, then let paho read, write
        and keep the connection alive (what ``client.loop`` does, plus our wake-up socket)."""
        sock = client.socket()
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        # Bytes already decrypted inside an SSL socket do not make it readable for select.
        pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
        writers = [sock] if client.want_write() else []
        try:
            readable, writable, _ = select.select(
                [sock, self._wake_r], writers, [], 0.0 if pending else max(0.0, timeout)
            )
        except (OSError, TypeError, ValueError):
            return MQTTErrorCode.MQTT_ERR_CONN_LOST  # the socket was closed under us
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)
        if sock in readable or pending:
            rc = client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
            if client.socket() is None:
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if sock in writable or client.want_write():
            rc = client.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        return client.loop_misc()

    def _serve(self, client: mqtt.Client, started: float) -> None:
        """Run one connection until it fails, times out or the uplink is stopped."""
        connack_timeout = self._config.uplink.keepalive_s
        ack_timeout = self._config.outbox.ack_timeout_s
        wait = 0.0
        while not self._stop.is_set():
            rc = self._poll(client, wait)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                log.warning("uplink: connection lost (%s)", mqtt.error_string(rc))
                return
            if not self._connected.is_set():
                if time.monotonic() - started > connack_timeout:
                    log.warning("uplink: no CONNACK within %d s", connack_timeout)
                    client.disconnect()
                    return
                wait = IDLE_S
                continue
            try:
                wait = self._pump(client)
            except OutboxError as exc:
                log.warning("uplink: outbox unavailable (%s); retrying", exc)
                self._stop.wait(1.0)
                wait = 0.0
            if self._session.inflight:
                oldest = self._oldest_inflight()
                wait = min(wait, max(0.0, ack_timeout - oldest) + 0.01)
            if self._session.inflight and self._oldest_inflight() > ack_timeout:
                self.stats.ack_timeouts += 1
                log.warning(
                    "uplink: no PUBACK within %.0f s; reconnecting to send again",
                    self._config.outbox.ack_timeout_s,
                )
                client.disconnect()
                return
        if self._connected.is_set():
            self._say_goodbye(client)

    def _oldest_inflight(self) -> float:
        now = time.monotonic()
        return max(now - f.sent for f in self._session.inflight.values())

    def _say_goodbye(self, client: mqtt.Client) -> None:
        status = GatewayStatus(
            gateway=self._config.gateway, state=GatewayState.OFFLINE, ts=self._clock.now()
        )
        info = client.publish(self._topics[Channel.STATUS], encode(status), qos=1, retain=True)
        deadline = time.monotonic() + 2.0
        while not info.is_published() and time.monotonic() < deadline:
            if self._poll(client, _GOODBYE_POLL_S) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        self._flush_acks()
        client.disconnect()
        self._poll(client, _GOODBYE_POLL_S)

    # --- paho callbacks (in this thread) -------------------------------------------------

    def _handle_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            self.stats.failed_attempts += 1
            log.warning("uplink: broker refused the connection: %s", reason)
            client.disconnect()
            return
        # The birth message goes after the pending alarms: the first publish is an alarm.
        self._session = _Session(heartbeat_due=time.monotonic() + self._config.heartbeat_s)
        self.stats.connects += 1
        self.stats.connected_since = time.monotonic()
        client.subscribe([(self._topics[Channel.CONFIG], 1), (self._topics[Channel.CMD], 1)])
        self._connected.set()
        log.info(
            "uplink: connected to %s:%d as %s",
            self._config.uplink.host,
            self._config.uplink.port,
            self._config.gateway,
        )
        # Alarms go out before the birth message and before any backlog.
        self._pump(client)
        self._publish_status(client)

    def _handle_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._connected.clear()
        if reason.is_failure:
            log.info("uplink: disconnected (%s)", reason)

    def _handle_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any
    ) -> None:
        done = self._session.inflight.pop(mid, None)
        if done is None:
            return  # a status message, or a publish of an earlier session
        self._session.acked.extend(done.seqs)

    def _handle_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self._topics[Channel.CONFIG]:
            self._on_config(bytes(msg.payload))
        elif msg.topic == self._topics[Channel.CMD]:
            self._on_command(bytes(msg.payload))
        else:
            # Some brokers (amqtt) deliver retained messages nobody subscribed to.
            self.stats.unexpected_messages += 1
            log.debug("uplink: message on unexpected topic %r ignored", msg.topic[:200])

    # --- publishing ------------------------------------------------------------------------

    def _publish_status(self, client: mqtt.Client) -> None:
        client.publish(self._topics[Channel.STATUS], encode(self._status()), qos=1, retain=True)
        self._session.heartbeat_due = time.monotonic() + self._config.heartbeat_s

    def _flush_acks(self) -> None:
        session = self._session
        if session.acked:
            acked, session.acked = session.acked, []
            self.stats.readings_acked += self._outbox.delete(acked)

    def _pump(self, client: mqtt.Client) -> float:
        """Publish what is due; return how long the thread may sleep unless woken (by a
        commit, a PUBACK or stop)."""
        session = self._session
        self._flush_acks()
        now = time.monotonic()
        if now >= session.heartbeat_due:
            self._publish_status(client)
        idle = max(0.0, min(IDLE_S, session.heartbeat_due - now))
        window = self._config.outbox.window
        room = window + ALARM_RESERVE - len(session.inflight)
        if room > 0 and self._outbox.last_seq(Lane.ALARM) > session.alarm_cursor:
            rows = self._outbox.pending(Lane.ALARM, session.alarm_cursor, room)
            for row in rows:
                self._send_alarm(client, row, now)
            if len(rows) == room:
                return idle  # more alarms wait for PUBACKs; telemetry waits for them
        rate = self._config.outbox.replay_rate
        session.tokens = min(max(rate, 1.0), session.tokens + (now - session.refilled) * rate)
        session.refilled = now
        linger = self._config.outbox.batch_linger_s
        while len(session.inflight) < window:
            if self._outbox.last_seq(Lane.TELEMETRY) <= session.telemetry_cursor:
                return idle
            if session.tokens < 1.0:
                return min(idle, (1.0 - session.tokens) / rate)
            added = self._outbox.added(Lane.TELEMETRY)
            lingering = now - session.last_telemetry < linger
            if lingering and session.lingering is not None:
                before, found = session.lingering
                if found + added - before < MAX_READINGS_PER_BATCH:
                    return min(idle, session.last_telemetry + linger - now)
            rows = self._outbox.pending(
                Lane.TELEMETRY, session.telemetry_cursor, MAX_READINGS_PER_BATCH
            )
            if not rows:
                return idle
            if len(rows) < MAX_READINGS_PER_BATCH and lingering:
                session.lingering = (added, len(rows))
                return min(idle, session.last_telemetry + linger - now)
            session.lingering = None
            self._send_batch(client, rows, now)
            session.tokens -= 1.0
            session.last_telemetry = now
        return idle  # the window is full: PUBACKs wake the thread

    def _decode_rows(self, rows: list[Row]) -> list[tuple[Row, Reading]]:
        good: list[tuple[Row, Reading]] = []
        bad: list[int] = []
        for row in rows:
            try:
                good.append((row, _READING.validate_json(row.payload)))
            except ValidationError as exc:
                self.stats.corrupt_rows += 1
                bad.append(row.seq)
                log.warning(
                    "outbox row %d (device %s) is not a valid reading, dropped: %s; payload %r",
                    row.seq,
                    row.device,
                    exc.errors(include_url=False)[0]["msg"],
                    row.payload[:200],
                )
        if bad:
            self._outbox.delete(bad)
        return good

    def _send_alarm(self, client: mqtt.Client, row: Row, now: float) -> None:
        session = self._session
        session.alarm_cursor = row.seq
        decoded = self._decode_rows([row])
        if not decoded:
            return
        payload: bytes | None = None
        # Should the recorded actions not fit the message, the alarm still goes, without them.
        for actions in (list(row.actions), []):
            try:
                payload = encode(
                    AlarmEvent(
                        gateway=self._config.gateway,
                        sent_at=self._clock.now(),
                        seq=row.seq,
                        reading=decoded[0][1],
                        actions=actions,
                    )
                )
                break
            except (ValidationError, ProtocolError) as exc:
                log.warning(
                    "alarm row %d with actions %s cannot be sent: %s", row.seq, actions, exc
                )
        if payload is None:
            self.stats.corrupt_rows += 1
            self._outbox.delete([row.seq])
            return
        info = client.publish(self._topics[Channel.ALARM], payload, qos=1)
        session.inflight[info.mid] = _InFlight(Lane.ALARM, (row.seq,), now)
        self.stats.alarms_sent += 1
        self.stats.max_inflight = max(self.stats.max_inflight, len(session.inflight))

    def _send_batch(self, client: mqtt.Client, rows: list[Row], now: float) -> None:
        session = self._session
        session.telemetry_cursor = rows[-1].seq
        picked: list[tuple[Row, Reading]] = []
        size = 0
        for row, reading in self._decode_rows(rows):
            if picked and size + len(row.payload) + 1 > _BATCH_BYTES:
                session.telemetry_cursor = picked[-1][0].seq
                break
            picked.append((row, reading))
            size += len(row.payload) + 1
        if not picked:
            return
        batch = ReadingBatch(
            gateway=self._config.gateway,
            sent_at=self._clock.now(),
            seq=picked[0][0].seq,
            readings=[reading for _, reading in picked],
        )
        info = client.publish(self._topics[Channel.READINGS], encode(batch), qos=1)
        session.inflight[info.mid] = _InFlight(
            Lane.TELEMETRY, tuple(row.seq for row, _ in picked), now
        )
        self.stats.batches_sent += 1
        self.stats.max_inflight = max(self.stats.max_inflight, len(session.inflight))
