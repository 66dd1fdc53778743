"""A sink that drives whole gateways straight to MQTT, for load and for the scenario tests.

One paho client per gateway (its id is the MQTT username, so a broker ACL can pin it to its own
subtree), MQTT 5 by default (3.1.1 for brokers such as amqtt), QoS 1, a retained ``GatewayStatus``
with an "offline" Last Will. Topics come only from ``protocol.channel_topic`` and payloads only
from ``protocol.encode``. Each client holds at most ``max_unacked`` unacknowledged messages — far
below paho's 16-bit message ids — and ``handle`` blocks (backpressure) when that is reached, so a
slow broker slows the simulation instead of losing readings.
"""

from __future__ import annotations

import contextlib
import logging
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from firmware_sims._errors import TransportError
from firmware_sims.events import (
    BrokerRestart,
    Event,
    GatewayRef,
    Heartbeat,
    Offline,
    Online,
    Publish,
    Raw,
)
from protocol import (
    MAX_READINGS_PER_BATCH,
    AlarmEvent,
    Channel,
    DoorReading,
    GatewayState,
    GatewayStatus,
    HealthReading,
    PayloadTooLarge,
    Reading,
    ReadingBatch,
    SmokeReading,
    SmokeState,
    channel_topic,
    encode,
    is_alarm_class,
)

__all__ = ["MAX_GATEWAY_CLIENTS", "MqttOptions", "MqttSink"]

log = logging.getLogger(__name__)
# Reconnect jitter only; nothing to do with the fleet's seeded randomness.
_JITTER = random.Random()  # noqa: S311

# Unacknowledged QoS 1 messages one gateway client may hold: enough to keep a loopback pipe full
# (Mosquitto lets 100 be in flight per client), 65x below paho's 65,535 message ids.
DEFAULT_MAX_UNACKED = 1000
# paho sends at most this many at once and queues the rest; matches the broker's
# max_inflight_messages in deploy/mosquitto.
_INFLIGHT = 100
# How long to wait for a CONNACK, and for the broker to take a message once the client is full
# (a broker restart takes seconds; two minutes means the broker is really gone).
DEFAULT_CONNECT_TIMEOUT_S = 20.0
DEFAULT_ACK_TIMEOUT_S = 120.0
# Reconnect backoff bounds, seconds: quick after a broker restart, gentle if it stays away.
_RECONNECT_MIN_S, _RECONNECT_MAX_S = 1, 8
# A gateway's keepalive; the broker publishes the Last Will 1.5x this after the link dies.
_KEEPALIVE_S = 30
SOFTWARE = "linli-sim/0.1"
# Gateway connections one process may open: one descriptor each, far below the usual 20,000
# open files, and a broker's per-listener limits.
MAX_GATEWAY_CLIENTS = 5000
# The I/O loop's select timeout and housekeeping period (keepalive, reconnects), seconds.
_IO_TICK_S = 0.2
# How long an uplink loss waits for outstanding acknowledgements before cutting the link.
_DRAIN_BEFORE_DROP_S = 5.0


@dataclass(frozen=True)
class MqttOptions:
    """Where and how gateways connect."""

    host: str
    port: int
    protocol: Literal["5", "3.1.1"] = "5"
    max_unacked: int = DEFAULT_MAX_UNACKED
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S
    client_id_prefix: str = "linli-sim-"
    # The gateway's password, by gateway id (None: no password).
    password: Callable[[str], str | None] | None = None
    # Restarts the broker for the broker_restart scenario; without it every connection is
    # dropped instead, which exercises the same reconnect-and-resend path.
    restart_broker: Callable[[], None] | None = None
    # On close, publish a retained "offline" status (a gateway shut down on purpose).
    announce_offline_on_close: bool = True


def _actions(reading: Reading) -> list[str]:
    """The local safety actions a gateway takes for an alarm-class reading."""
    match reading:
        case SmokeReading(state=SmokeState.ALARM):
            return ["sounder", "release_hold_open", "display"]
        case DoorReading() | HealthReading() | SmokeReading():
            return ["display"]
    return []


class _IoLoop:
    """One thread serving every gateway client's socket through an epoll selector.

    paho's own loop_start() costs a thread and three descriptors per client and waits with
    select(), which stops at descriptor 1024 (about 330 clients). Here clients are driven with
    paho's external-loop API (loop_read / loop_write / loop_misc), and reconnects after a lost
    connection are this loop's job, with capped, jittered backoff.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._clients: list[_GatewayClient] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="linli-sim-mqtt-io", daemon=True)
        self._thread.start()

    def attach(self, gateway: _GatewayClient) -> None:
        client = gateway.client
        client.on_socket_open = self._on_open
        client.on_socket_close = self._on_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        with self._lock:
            self._clients.append(gateway)

    def _set(self, sock: Any, events: int, client: Any) -> None:
        with self._lock:
            try:
                self._selector.modify(sock, events, client)
            except KeyError:
                self._selector.register(sock, events, client)
            except (ValueError, OSError):
                pass  # the socket was closed meanwhile

    def _on_open(self, client: Any, userdata: Any, sock: Any) -> None:
        self._set(sock, selectors.EVENT_READ, client)

    def _on_close(self, client: Any, userdata: Any, sock: Any) -> None:
        with self._lock, contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(sock)

    def _on_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self._set(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _on_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self._set(sock, selectors.EVENT_READ, client)

    def _run(self) -> None:
        next_misc = 0.0
        while not self._stop.is_set():
            with self._lock:
                empty = not self._selector.get_map()
            events = [] if empty else self._selector.select(timeout=_IO_TICK_S)
            if empty:
                self._stop.wait(_IO_TICK_S)
            for key, mask in events:
                client = key.data
                try:
                    if mask & selectors.EVENT_READ:
                        client.loop_read()
                    if mask & selectors.EVENT_WRITE and client.socket() is not None:
                        client.loop_write()
                except Exception:
                    # One client's failure must not stop every other gateway; paho has closed
                    # or will close its socket, and service() reconnects it.
                    log.exception("MQTT I/O failed for client %s", client._client_id)
            now = time.monotonic()
            if now >= next_misc:
                next_misc = now + _IO_TICK_S
                with self._lock:
                    clients = list(self._clients)
                for gateway in clients:
                    try:
                        gateway.service(now)
                    except Exception:
                        log.exception(
                            "MQTT housekeeping failed for gateway %s", gateway.ref.gateway
                        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._selector.close()


class _GatewayClient:
    def __init__(self, ref: GatewayRef, options: MqttOptions) -> None:
        self.ref = ref
        self.options = options
        self.status_topic = channel_topic(ref.site, ref.gateway, Channel.STATUS)
        version = (
            MQTTProtocolVersion.MQTTv5 if options.protocol == "5" else MQTTProtocolVersion.MQTTv311
        )
        self.v5 = version is MQTTProtocolVersion.MQTTv5
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{options.client_id_prefix}{ref.gateway}",
            protocol=version,
        )
        password = options.password(ref.gateway) if options.password else None
        self.client.username_pw_set(ref.gateway, password)
        self.client.will_set(
            self.status_topic,
            encode(GatewayStatus(gateway=ref.gateway, state=GatewayState.OFFLINE)),
            qos=1,
            retain=True,
        )
        self.client.max_inflight_messages_set(_INFLIGHT)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.connected = threading.Event()
        self.uplink = False
        self.seq = 0
        self._ever_connected = False
        self._retry_at = 0.0
        self._retry_delay = float(_RECONNECT_MIN_S)
        self._cond = threading.Condition()
        self._unacked = 0
        self._connecting = threading.Lock()

    # paho callbacks (its network thread) ------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("gateway %s: broker refused the connection: %s", self.ref.gateway, rc)
            return
        self.connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        self.connected.clear()
        if self.uplink:
            log.warning("gateway %s: connection lost (%s), reconnecting", self.ref.gateway, rc)
            self._retry_at = time.monotonic() + _RECONNECT_MIN_S * _JITTER.uniform(0.5, 1.0)

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self._cond:
            self._unacked -= 1
            self._cond.notify_all()

    # driven by the sink (the runner's thread) -------------------------------------------------

    @property
    def unacked(self) -> int:
        return self._unacked

    def connect(self) -> None:
        try:
            # The I/O thread also reconnects (service()); the lock keeps the two apart.
            with self._connecting:
                self.uplink = True
                if self._ever_connected:
                    self.client.reconnect()
                else:
                    self.client.connect(self.options.host, self.options.port, _KEEPALIVE_S)
                    self._ever_connected = True
        except OSError as exc:
            raise TransportError(
                f"gateway {self.ref.gateway}: cannot reach the broker at "
                f"{self.options.host}:{self.options.port}: {exc}"
            ) from exc
        if not self.connected.wait(self.options.connect_timeout_s):
            raise TransportError(
                f"gateway {self.ref.gateway}: no CONNACK from {self.options.host}:"
                f"{self.options.port} within {self.options.connect_timeout_s:.0f} s"
            )

    def service(self, now: float) -> None:
        """Periodic work, on the I/O thread: keepalive, a missed write wake-up, reconnects."""
        client = self.client
        if client.socket() is not None:
            client.loop_misc()
            if client.want_write():
                client.loop_write()
            return
        if not self.uplink or now < self._retry_at:
            return
        if not self._connecting.acquire(blocking=False):
            return  # the sink is connecting it right now
        try:
            if client.socket() is not None or not self.uplink:
                return
            client.reconnect()
        except OSError as exc:
            # Capped exponential backoff with jitter, so a restarted broker is not hit by every
            # gateway in the same instant.
            self._retry_delay = min(self._retry_delay * 2, float(_RECONNECT_MAX_S))
            delay = self._retry_delay * _JITTER.uniform(0.5, 1.0)
            self._retry_at = now + delay
            log.info(
                "gateway %s: reconnect failed (%s), next attempt in %.1f s",
                self.ref.gateway,
                exc,
                delay,
            )
            return
        finally:
            self._connecting.release()
        self._retry_delay = float(_RECONNECT_MIN_S)
        log.info("gateway %s: reconnecting", self.ref.gateway)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        deadline = time.monotonic() + self.options.ack_timeout_s
        with self._cond:
            while self._unacked >= self.options.max_unacked:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TransportError(
                        f"gateway {self.ref.gateway}: the broker acknowledged nothing for "
                        f"{self.options.ack_timeout_s:.0f} s ({self._unacked} waiting)"
                    )
                self._cond.wait(min(left, 1.0))
            self._unacked += 1
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            with self._cond:
                self._unacked -= 1
            raise TransportError(f"gateway {self.ref.gateway}: publish failed: {info.rc}")

    def status(self, ts: datetime, state: GatewayState, held: int | None = None) -> None:
        status = GatewayStatus(
            gateway=self.ref.gateway, state=state, ts=ts, outbox_depth=held, software=SOFTWARE
        )
        self.publish(self.status_topic, encode(status), retain=True)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def drop_uplink(self, ts: datetime) -> None:
        """Lose the uplink so that the broker publishes the Last Will."""
        # What was sent before the outage is let through first (bounded), so the outage starts
        # at a clean cut instead of leaving QoS 1 duplicates behind; anything still unacked is
        # kept by paho and resent on reconnect.
        self.wait_acked(time.monotonic() + _DRAIN_BEFORE_DROP_S)
        self.uplink = False
        if self.v5:
            # MQTT 5 reason 0x04 "Disconnect with Will Message": the broker publishes the will.
            self.client.disconnect(
                reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
            )
        else:
            # MQTT 3.1.1 has no such reason: publish what the will would say, then leave.
            self.status(ts, GatewayState.OFFLINE)
            self.client.disconnect()
        self._wait_closed(time.monotonic() + _DRAIN_BEFORE_DROP_S)
        self.connected.clear()

    def _wait_closed(self, deadline: float) -> None:
        while self.client.socket() is not None and time.monotonic() < deadline:
            time.sleep(0.01)

    def drop_connection(self) -> None:
        """Cut the TCP connection without DISCONNECT (the I/O loop reconnects)."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def wait_acked(self, deadline: float) -> bool:
        with self._cond:
            while self._unacked > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def close(self, ts: datetime | None, deadline: float) -> None:
        if self.uplink and ts is not None and self.options.announce_offline_on_close:
            with contextlib.suppress(TransportError):
                self.status(ts, GatewayState.OFFLINE)
        self.wait_acked(deadline)
        self.uplink = False
        self.client.disconnect()
        self._wait_closed(deadline)


class MqttSink:
    """Delivers fleet events to an MQTT broker as whole gateways."""

    def __init__(self, options: MqttOptions) -> None:
        if not 0 < options.max_unacked < 65_535:
            raise ValueError("max_unacked must be between 1 and 65,534")
        self.options = options
        self._io = _IoLoop()
        self._clients: dict[str, _GatewayClient] = {}
        self._last_ts: dict[str, datetime] = {}
        self.messages = 0  # messages published
        self.readings = 0  # readings published
        self.raw = 0  # hostile payloads published

    @property
    def unacked(self) -> int:
        return sum(c.unacked for c in self._clients.values())

    def _client(self, ref: GatewayRef) -> _GatewayClient:
        client = self._clients.get(ref.gateway)
        if client is None:
            if len(self._clients) >= MAX_GATEWAY_CLIENTS:
                raise TransportError(
                    f"more than {MAX_GATEWAY_CLIENTS} gateways in one process; put more devices "
                    "on each gateway or split the fleet over several processes"
                )
            client = self._clients[ref.gateway] = _GatewayClient(ref, self.options)
            self._io.attach(client)
        return client

    def handle(self, events: Sequence[Event]) -> None:
        for event in events:
            match event:
                case Online(gateway=ref, ts=ts):
                    client = self._client(ref)
                    if not client.uplink:
                        client.connect()
                    client.status(ts, GatewayState.ONLINE)
                    self._last_ts[ref.gateway] = ts
                case Heartbeat(gateway=ref, ts=ts, held=held):
                    self._client(ref).status(ts, GatewayState.ONLINE, held)
                    self._last_ts[ref.gateway] = ts
                case Offline(gateway=ref, ts=ts):
                    self._client(ref).drop_uplink(ts)
                case Publish():
                    self._publish(event)
                case Raw(gateway=ref, channel=channel, payload=payload):
                    topic = channel_topic(ref.site, ref.gateway, channel)
                    self._client(ref).publish(topic, payload)
                    self.raw += 1
                    self.messages += 1
                case BrokerRestart():
                    self._restart_broker()

    def _publish(self, event: Publish) -> None:
        client = self._client(event.gateway)
        ref = event.gateway
        alarms = [r for r in event.readings if is_alarm_class(r)]
        rest = [r for r in event.readings if not is_alarm_class(r)]
        alarm_topic = channel_topic(ref.site, ref.gateway, Channel.ALARM)
        for reading in alarms:
            message = AlarmEvent(
                gateway=ref.gateway,
                sent_at=event.sent_at,
                seq=client.next_seq(),
                reading=reading,
                actions=_actions(reading),
            )
            client.publish(alarm_topic, encode(message))
            self.messages += 1
        topic = channel_topic(ref.site, ref.gateway, Channel.READINGS)
        for payload, count in self._batches(client, ref, rest, event.sent_at):
            client.publish(topic, payload)
            self.messages += 1
            self.readings += count
        self.readings += len(alarms)
        self._last_ts[ref.gateway] = event.sent_at

    def _batches(
        self, client: _GatewayClient, ref: GatewayRef, readings: list[Reading], sent_at: datetime
    ) -> Iterator[tuple[bytes, int]]:
        for i in range(0, len(readings), MAX_READINGS_PER_BATCH):
            yield from self._encoded(client, ref, readings[i : i + MAX_READINGS_PER_BATCH], sent_at)

    def _encoded(
        self, client: _GatewayClient, ref: GatewayRef, chunk: list[Reading], sent_at: datetime
    ) -> Iterator[tuple[bytes, int]]:
        batch = ReadingBatch(
            gateway=ref.gateway, sent_at=sent_at, seq=client.next_seq(), readings=chunk
        )
        try:
            yield encode(batch), len(chunk)
        except PayloadTooLarge:
            # Long ids can push 500 readings over the byte limit: halve until they fit.
            half = len(chunk) // 2
            yield from self._encoded(client, ref, chunk[:half], sent_at)
            yield from self._encoded(client, ref, chunk[half:], sent_at)

    def _restart_broker(self) -> None:
        if self.options.restart_broker is not None:
            log.info("restarting the broker for the broker_restart scenario")
            self.options.restart_broker()
            return
        log.warning("no way to restart the broker: dropping every gateway's connection instead")
        for client in self._clients.values():
            if client.uplink:
                client.drop_connection()

    def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        return all(c.wait_acked(deadline) for c in self._clients.values() if c.uplink)

    def close(self) -> None:
        deadline = time.monotonic() + 10.0
        for gateway, client in self._clients.items():
            client.close(self._last_ts.get(gateway), deadline)
        self._clients.clear()
        self._io.close()
