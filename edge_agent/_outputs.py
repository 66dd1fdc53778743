"""Local outputs driven by the safety logic: a relay on a GPIO pin (sounder, strobe) and a
message to a display on the local broker. Neither depends on the uplink.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, ConfigDict

from edge_agent._config import GpioOutputConfig, MqttOutputConfig, OutputConfig, Trigger

__all__ = ["DisplayMessage", "GpioRelay", "MqttDisplay", "Output", "build_output"]

log = logging.getLogger(__name__)

_TEXT = {
    Trigger.SMOKE: (
        "火警：{room}烟感报警，请立即疏散",
        "Fire alarm: smoke detected in {room}, evacuate now",
    ),
    Trigger.FIRE_DOOR: (
        "防火门未关闭：{room}，请立即关闭",
        "Fire door not closed in {room}: close it now",
    ),
}


class DisplayMessage(BaseModel):
    """What a local display receives (retained): the alarm in Chinese and English."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    gateway: str
    state: Literal["alarm", "silenced"]
    trigger: Trigger | None = None
    device: str | None = None
    room: str | None = None
    text_zh: str
    text_en: str
    ts: datetime


class Output(Protocol):
    """A local output. ``activate`` and ``deactivate`` are idempotent and quick."""

    @property
    def config(self) -> OutputConfig: ...

    def activate(self, message: DisplayMessage) -> None: ...

    def deactivate(self, message: DisplayMessage) -> None: ...

    def close(self) -> None: ...


def alarm_text(trigger: Trigger, room: str | None) -> tuple[str, str]:
    zh, en = _TEXT[trigger]
    return zh.format(room=room or "未知房间"), en.format(room=room or "an unknown room")


class GpioRelay:
    """A relay driven through gpiozero; ``pin_factory`` None means gpiozero's default."""

    def __init__(self, config: GpioOutputConfig, pin_factory: Any = None) -> None:
        from gpiozero import OutputDevice  # type: ignore[import-untyped]

        self._config = config
        self._device = OutputDevice(
            config.pin,
            active_high=config.active_high,
            initial_value=False,
            pin_factory=pin_factory,
        )

    @property
    def config(self) -> OutputConfig:
        return self._config

    def activate(self, message: DisplayMessage) -> None:
        self._device.on()

    def deactivate(self, message: DisplayMessage) -> None:
        self._device.off()

    @property
    def is_active(self) -> bool:
        return bool(self._device.value)

    def close(self) -> None:
        self._device.close()


class MqttDisplay:
    """A display fed over the local broker; paho's own thread reconnects to it."""

    def __init__(self, config: MqttOutputConfig, client_id: str) -> None:
        self._config = config
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        # The local broker is on the same box; retry it quickly.
        self._client.reconnect_delay_set(1, 5)
        self._client.connect_async(config.host, config.port, keepalive=30)
        self._client.loop_start()

    @property
    def config(self) -> OutputConfig:
        return self._config

    def _send(self, message: DisplayMessage) -> None:
        info = self._client.publish(
            self._config.topic, message.model_dump_json(exclude_none=True), qos=1, retain=True
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # paho keeps QoS 1 messages and sends them once the local broker is back.
            log.warning("display %s: local broker not reachable, queued", self._config.name)

    def activate(self, message: DisplayMessage) -> None:
        self._send(message)

    def deactivate(self, message: DisplayMessage) -> None:
        self._send(message)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def build_output(config: OutputConfig, *, gateway: str, pin_factory: Any = None) -> Output:
    if isinstance(config, GpioOutputConfig):
        return GpioRelay(config, pin_factory)
    return MqttDisplay(config, client_id=f"{gateway}-display-{config.name}")
