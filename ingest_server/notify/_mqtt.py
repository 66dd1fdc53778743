"""MQTT channel: each notification on ``linli/v1/{site}/alerts`` for on-site displays (paho)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest_server.notify._base import DeliveryFailed, Notification
from protocol import alerts_topic

__all__ = ["MqttNotifier"]

log = logging.getLogger(__name__)

# 1 s to 30 s: reconnect quickly after a broker restart without hammering a broker that is down.
_RECONNECT_MIN_S = 1
_RECONNECT_MAX_S = 30


class MqttNotifier:
    """Publishes at QoS 1 and waits for the PUBACK; paho's network thread reconnects by itself."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 1883,
        *,
        client_id: str = "linli-alerts",
        username: str | None = None,
        password: str | None = None,
        qos: int = 1,
        publish_timeout_s: float = 5.0,
        # 30 s: a dead broker is noticed within 45 s, well under a reminder interval.
        keepalive_s: int = 30,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.qos = qos
        self.publish_timeout_s = publish_timeout_s
        self.keepalive_s = keepalive_s
        self._connected = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(_RECONNECT_MIN_S, _RECONNECT_MAX_S)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._started = False

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("notify channel %s: broker refused the connection: %s", self.name, reason)
            return
        self._connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        log.warning("notify channel %s: disconnected from the broker: %s", self.name, reason)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Connect in the background; sends fail (and are retried) until connected."""
        if self._started:
            return
        self._started = True
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()

    async def send(self, notification: Notification) -> None:
        if not self._connected.is_set():
            raise DeliveryFailed(self.name, f"not connected to {self.host}:{self.port}")
        payload = json.dumps(notification.payload(), ensure_ascii=False).encode()
        info = self._client.publish(alerts_topic(notification.alert.site), payload, qos=self.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeliveryFailed(self.name, f"publish refused: {mqtt.error_string(info.rc)}")
        try:
            await asyncio.to_thread(info.wait_for_publish, self.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryFailed(self.name, f"publish failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryFailed(self.name, "no PUBACK in time")

    async def aclose(self) -> None:
        if not self._started:
            return
        self._started = False
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
