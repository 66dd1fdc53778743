"""Zigbee2MQTT bridge: subscribe to ``<base_topic>/<friendly_name>`` on the local broker and map
each device's JSON state to readings, using the gateway's device map (``address`` = friendly
name).

Mapping (a field a payload lacks is unknown: it never becomes "closed", "no smoke" or "empty"):

============== =============================================================================
Z2M field      reading
============== =============================================================================
smoke          smoke/heat detector: ``true`` → alarm, ``false`` → normal
test           ``true`` → state ``test`` (the test button or a self-test), never an alarm
trouble        ``true`` (and no smoke, no test) → state ``fault``
contact        door: ``true`` → closed (the magnet is in contact), ``false`` → open
occupancy      presence sensor: occupied true/false (``presence`` if the device has no
               ``occupancy``)
battery        ``battery_pct`` of the smoke reading and of a health reading
battery_low    health ``battery_low``
tamper         health ``tamper`` (``true`` is alarm-class)
linkquality    health ``signal_lqi``
============== =============================================================================

Retained messages (a past state, delivered on subscribe) are ignored.

Health readings go out when battery, battery_low or tamper change, when tamper is true, and at
least every ``health_interval_s`` per device.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from edge_agent._config import DeviceConfig, DeviceKind
from edge_agent._driver import DriverContext, Emit, Observation
from protocol import valid_publish_topic

__all__ = ["DeviceParams", "Options", "Zigbee2MqttDriver", "map_payload"]

log = logging.getLogger(__name__)

_IGNORED_SUFFIXES = ("/availability", "/set", "/get")


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    base_topic: str = Field(default="zigbee2mqtt", pattern=r"^[^+#/][^+#]*[^+#/]$|^[^+#/]$")
    # Battery and link quality change slowly; five minutes keeps them fresh for device.fault
    # without doubling the telemetry of a chatty occupancy sensor.
    health_interval_s: float = Field(default=300.0, ge=0)


class DeviceParams(BaseModel):
    """Per-device ``params`` for this driver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_field: str = Field(default="smoke", description="Field that means alarm (heat: 'heat')")
    self_test_payload: str | None = Field(
        default=None, description="JSON sent to <base>/<name>/set to start a self-test"
    )


def _bool(payload: Mapping[str, Any], key: str, device: str) -> bool | None:
    value = payload.get(key)
    if value is None or isinstance(value, bool):
        return value
    log.warning("zigbee2mqtt %s: %s=%r is not a boolean; treated as unknown", device, key, value)
    return None


def _int(payload: Mapping[str, Any], key: str, device: str, top: int) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= top:
        return round(value)
    log.warning("zigbee2mqtt %s: %s=%r is out of range; treated as unknown", device, key, value)
    return None


def map_payload(
    device: DeviceConfig, payload: Mapping[str, Any], params: DeviceParams | None = None
) -> list[dict[str, Any]]:
    """The reading fields (without id, device, ts) a Zigbee2MQTT state payload carries;
    ``params`` are the device's validated params (validated here if not given)."""
    if params is None:
        params = DeviceParams.model_validate(dict(device.params))
    name = device.id
    out: list[dict[str, Any]] = []
    battery = _int(payload, "battery", name, 100)
    if device.kind in {DeviceKind.SMOKE, DeviceKind.HEAT}:
        alarm = _bool(payload, params.alarm_field, name)
        test = _bool(payload, "test", name)
        trouble = _bool(payload, "trouble", name)
        state: str | None = None
        if test:
            state = "test"
        elif alarm:
            state = "alarm"
        elif trouble:
            state = "fault"
        elif alarm is False:
            state = "normal"
        if state is not None:
            reading: dict[str, Any] = {
                "kind": "smoke",
                "sensor": "heat" if device.kind is DeviceKind.HEAT else "smoke",
                "state": state,
            }
            if battery is not None:
                reading["battery_pct"] = battery
            out.append(reading)
    elif device.kind is DeviceKind.DOOR:
        contact = _bool(payload, "contact", name)
        if contact is not None:
            out.append(
                {"kind": "door", "state": "closed" if contact else "open", "role": device.role}
            )
    elif device.kind is DeviceKind.PRESENCE:
        key = "occupancy" if "occupancy" in payload else "presence"
        occupied = _bool(payload, key, name)
        if occupied is not None:
            out.append({"kind": "occupancy", "source": "presence", "occupied": occupied})
    health = {
        "battery_pct": battery,
        "battery_low": _bool(payload, "battery_low", name),
        "tamper": _bool(payload, "tamper", name),
        "signal_lqi": _int(payload, "linkquality", name, 255),
    }
    health = {k: v for k, v in health.items() if v is not None}
    if health:
        out.append({"kind": "health", **health})
    return out


class Zigbee2MqttDriver:
    """Reads Zigbee2MQTT's device topics on the local broker."""

    def __init__(self, context: DriverContext) -> None:
        self.options = Options.model_validate(dict(context.options))
        self.name = context.name
        self._gateway = str(context.extras.get("gateway", "linli"))
        self._by_name: dict[str, tuple[DeviceConfig, DeviceParams]] = {}
        self.update_devices(context.devices)
        self._last_health: dict[str, tuple[float, tuple[Any, ...]]] = {}
        self._unknown_seen: set[str] = set()
        self._client: mqtt.Client | None = None
        self._emit: Emit | None = None
        self._connected = threading.Event()
        self.unknown_messages = 0
        self.retained_ignored = 0
        self.bad_payloads = 0
        self.messages = 0

    def update_devices(self, devices: Sequence[DeviceConfig]) -> None:
        self._by_name = {d.key: (d, DeviceParams.model_validate(dict(d.params))) for d in devices}

    def _topic(self, friendly_name: str, suffix: str = "") -> str:
        return valid_publish_topic(f"{self.options.base_topic}/{friendly_name}{suffix}")

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{self._gateway}-{self.name}-z2m"
        )
        if self.options.username is not None:
            password = self.options.password.get_secret_value() if self.options.password else None
            client.username_pw_set(self.options.username, password)
        # The local broker is on the same box; retry it quickly.
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(self.options.host, self.options.port, keepalive=30)
        client.loop_start()
        self._client = client
        try:
            await asyncio.Event().wait()
        finally:
            self._client = None
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("zigbee2mqtt %s: local broker refused: %s", self.name, reason)
            return
        client.subscribe(f"{self.options.base_topic}/#", qos=1)
        self._connected.set()
        log.info(
            "zigbee2mqtt %s: listening on %s:%d %s/#",
            self.name,
            self.options.host,
            self.options.port,
            self.options.base_topic,
        )

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        log.warning("zigbee2mqtt %s: local broker connection lost (%s)", self.name, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        base = self.options.base_topic + "/"
        if not msg.topic.startswith(base):
            return
        rest = msg.topic[len(base) :]
        if rest == "bridge" or rest.startswith("bridge/") or rest.endswith(_IGNORED_SUFFIXES):
            return
        if msg.retain:
            # A retained state is a past one (Zigbee2MQTT does not retain by default); stamped
            # with today's time it could sound an alarm that ended hours ago.
            self.retained_ignored += 1
            return
        self.handle(rest, bytes(msg.payload))

    def handle(self, friendly_name: str, payload: bytes) -> None:
        """Map one state message of ``friendly_name`` and emit its observations."""
        self.messages += 1
        known = self._by_name.get(friendly_name)
        if known is None:
            self.unknown_messages += 1
            if friendly_name not in self._unknown_seen:
                self._unknown_seen.add(friendly_name)
                log.warning(
                    "zigbee2mqtt %s: device %r is not in the device map; its messages are "
                    "ignored (counted)",
                    self.name,
                    friendly_name[:100],
                )
            return
        device, params = known
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            self.bad_payloads += 1
            log.warning(
                "zigbee2mqtt %s: %s sent a payload that is not a JSON object: %r",
                self.name,
                device.id,
                payload[:200],
            )
            return
        emit = self._emit
        if emit is None:
            return
        for fields in map_payload(device, data, params):
            if fields["kind"] == "health" and not self._health_due(device.id, fields):
                continue
            emit(Observation(device.id, fields))

    def _health_due(self, device: str, fields: Mapping[str, Any]) -> bool:
        now = time.monotonic()
        key = (fields.get("battery_pct"), fields.get("battery_low"), fields.get("tamper"))
        last = self._last_health.get(device)
        due = (
            last is None
            or fields.get("tamper") is True
            or key != last[1]
            or now - last[0] >= self.options.health_interval_s
        )
        if due:
            self._last_health[device] = (now, key)
        return due

    async def self_test(self, device: str | None) -> bool:
        client = self._client
        if client is None:
            return False
        started = False
        for name, (config, params) in self._by_name.items():
            if device is not None and config.id != device:
                continue
            if params.self_test_payload is None:
                continue
            client.publish(self._topic(name, "/set"), params.self_test_payload, qos=1)
            started = True
        return started
