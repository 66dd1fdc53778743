"""The real-service fixtures work: a pub/sub round trip and a write/query round trip."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.services import InfluxDB, Mosquitto


def _client(broker: Mosquitto, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect(broker.host, broker.port)
    return client


def test_mosquitto_publish_subscribe_round_trip(mosquitto: Mosquitto, unique_id: str) -> None:
    topic = f"test/{unique_id}/roundtrip"
    received: list[bytes] = []
    subscribed = threading.Event()
    done = threading.Event()

    sub = _client(mosquitto, f"{unique_id}-sub")
    sub.on_subscribe = lambda *_a: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.payload)
        if len(received) == 3:
            done.set()

    sub.on_message = on_message
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(5)
        pub = _client(mosquitto, f"{unique_id}-pub")
        pub.loop_start()
        for i in range(3):
            pub.publish(topic, f"hello {i}".encode(), qos=1).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        assert done.wait(5)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert received == [b"hello 0", b"hello 1", b"hello 2"]


def test_mosquitto_keeps_queued_messages_across_restart(
    own_mosquitto: Mosquitto, unique_id: str
) -> None:
    """A persistent session's queued QoS 1 messages survive a graceful broker restart."""
    topic = f"test/{unique_id}/persist"
    sub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{unique_id}-sub", clean_session=False
    )
    sub.connect(own_mosquitto.host, own_mosquitto.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    time.sleep(0.2)
    sub.loop_stop()
    sub.disconnect()

    pub = _client(own_mosquitto, f"{unique_id}-pub")
    pub.loop_start()
    for i in range(1500):  # more than Mosquitto's default queue of 1,000
        pub.publish(topic, str(i).encode(), qos=1)
    pub.publish(topic, b"last", qos=1).wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()

    own_mosquitto.restart()

    received: list[bytes] = []
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.payload)
        if msg.payload == b"last":
            done.set()

    sub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{unique_id}-sub", clean_session=False
    )
    sub.on_message = on_message
    sub.connect(own_mosquitto.host, own_mosquitto.port)
    sub.loop_start()
    try:
        assert done.wait(10), f"got {len(received)} messages"
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert received == [str(i).encode() for i in range(1500)] + [b"last"]


def test_influxd_write_query_round_trip(influxdb: InfluxDB, unique_id: str) -> None:
    influxdb.create_database(unique_id)
    status = influxdb.write(
        unique_id,
        "occupancy,site=s1,room=r1 count=3i 1700000000000000000\n"
        "occupancy,site=s1,room=r1 count=5i 1700000060000000000\n",
    )
    assert status == 204
    result = influxdb.query('SELECT "count" FROM "occupancy" WHERE room = \'r1\'', unique_id)
    series = result["results"][0]["series"][0]  # type: ignore[index]
    assert series["values"] == [["2023-11-14T22:13:20Z", 3], ["2023-11-14T22:14:20Z", 5]]
