"""The demo's embedded broker works with both engines, as a real MQTT peer."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest_server.embedded_broker import BrokerStartError, EmbeddedBroker


def _round_trip(host: str, port: int, topic: str) -> list[bytes]:
    received: list[bytes] = []
    subscribed = threading.Event()
    done = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{topic}-sub".replace("/", "-"))
    sub.on_subscribe = lambda *_a: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == topic:
            received.append(msg.payload)
            if len(received) == 2:
                done.set()

    sub.on_message = on_message
    sub.connect(host, port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{topic}-pub".replace("/", "-"))
    pub.connect(host, port)
    pub.loop_start()
    try:
        assert subscribed.wait(5)
        pub.publish(topic, "烟感 alarm".encode(), qos=1).wait_for_publish(5)
        pub.publish(topic, b"clear", qos=1).wait_for_publish(5)
        assert done.wait(5)
    finally:
        pub.loop_stop()
        pub.disconnect()
        sub.loop_stop()
        sub.disconnect()
    return received


@pytest.mark.parametrize("engine", ["mosquitto", "amqtt"])
def test_embedded_broker_round_trip(engine: str, tmp_path: Path, unique_id: str) -> None:
    with EmbeddedBroker(tmp_path, prefer=engine) as broker:  # type: ignore[arg-type]
        assert broker.kind == engine
        got = _round_trip(broker.host, broker.port, f"t/{unique_id}")
    assert got == ["烟感 alarm".encode(), b"clear"]


def test_a_busy_port_is_refused_with_a_reason(tmp_path: Path) -> None:
    with EmbeddedBroker(tmp_path / "a", prefer="amqtt") as first:
        second = EmbeddedBroker(tmp_path / "b", port=first.port, prefer="amqtt")
        with pytest.raises(BrokerStartError, match="already in use"):
            second.start()
