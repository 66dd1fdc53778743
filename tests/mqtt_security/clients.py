"""Small paho clients for the broker security tests: connect and report the outcome, record
what a subscription receives, publish and wait for the broker's acknowledgement."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

# Loopback answers in milliseconds; 10 s covers a machine busy with other test runs.
TIMEOUT_S = 10.0


@dataclass
class Outcome:
    """How a connection attempt ended: ``connected``, or the refusal / the error."""

    connected: bool
    reason: str


def tls_context(
    ca: str, cert: str | None = None, key: str | None = None, *, verify: bool = True
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca if verify else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


class Client:
    """One MQTT 3.1.1 connection (the protocol the gateways speak) with a receive queue."""

    def __init__(
        self,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set_context(tls)
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._done = threading.Event()
        self._suback = threading.Event()
        self.granted: list[int] = []
        self.outcome = Outcome(False, "no answer")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.outcome = Outcome(not reason.is_failure, str(reason))
        self._done.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self._done.is_set():
            self.outcome = Outcome(False, f"disconnected: {reason}")
            self._done.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.received.put((msg.topic, msg.payload))

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        self.granted = [int(c.value) for c in codes]
        self._suback.set()

    def connect(self, port: int) -> Outcome:
        """Connect to 127.0.0.1:``port`` and wait for the CONNACK (or the failure)."""
        try:
            self.client.connect("127.0.0.1", port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            self.outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
            return self.outcome
        self.client.loop_start()
        if not self._done.wait(TIMEOUT_S):
            self.outcome = Outcome(False, "no CONNACK in time")
        return self.outcome

    def subscribe(self, topic: str) -> list[int]:
        """Subscribe at QoS 1 and return the SUBACK's codes (128 = refused)."""
        self._suback.clear()
        self.client.subscribe(topic, qos=1)
        assert self._suback.wait(TIMEOUT_S), f"no SUBACK for {topic}"
        return self.granted

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK (which Mosquitto sends even for a publish
        its ACL drops)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(TIMEOUT_S)
        assert info.is_published(), f"no PUBACK for {topic}"

    def next_message(self, timeout: float = TIMEOUT_S) -> tuple[str, bytes]:
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def drop(self) -> None:
        """Lose the connection without a DISCONNECT, as a crashed gateway does: the broker
        then publishes the client's Last Will (if its ACL allows)."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert sock is not None, "not connected"
        sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def connected(
    port: int,
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Client]:
    """A client that must connect; closed at the end."""
    client = Client(client_id, username, password, tls)
    outcome = client.connect(port)
    try:
        assert outcome.connected, f"{username} could not connect: {outcome.reason}"
        yield client
    finally:
        client.close()


def refused(
    port: int,
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> Outcome:
    """Try to connect and return the outcome (the caller asserts it was a refusal)."""
    client = Client(client_id, username, password, tls)
    try:
        return client.connect(port)
    finally:
        client.close()


def tls_handshake(port: int, context: ssl.SSLContext) -> str | None:
    """Do a TLS handshake with 127.0.0.1:``port``; None if it succeeded, else the error."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost"):
                return None
        except ssl.SSLError as exc:
            return f"{type(exc).__name__}: {exc}"


def drain_until(client: Client, topic: str, payload: bytes) -> list[tuple[str, bytes]]:
    """Everything ``client`` received up to and including (``topic``, ``payload``)."""
    seen: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        message = client.next_message(max(0.01, deadline - time.monotonic()))
        seen.append(message)
        if message == (topic, payload):
            return seen
    raise AssertionError(f"{topic} {payload!r} not received; got {seen}")
