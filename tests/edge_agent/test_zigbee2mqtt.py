"""The Zigbee2MQTT bridge, with payloads as Zigbee2MQTT publishes them for real devices (Heiman
HS1SA / HS2SA-EF-3.0 smoke detectors: fields of the ias_smoke_alarm_1 converter; Aqara
MCCGQ11LM door contact; Aqara RTCGQ11LM motion sensor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import TypeAdapter

from edge_agent import Agent, DeviceConfig, DriverContext
from edge_agent.drivers.zigbee2mqtt import Zigbee2MqttDriver, map_payload
from protocol import (
    DoorReading,
    HealthReading,
    ManualClock,
    OccupancyReading,
    Reading,
    SmokeReading,
    SmokeState,
)
from tests.edge_agent.conftest import Z2M, make_config, running, until, up_topics
from tests.services import Mosquitto

HS1SA_QUIET = {
    "ac_status": False,
    "battery": 100,
    "battery_defect": False,
    "battery_low": False,
    "linkquality": 120,
    "restore_reports": True,
    "smoke": False,
    "supervision_reports": True,
    "tamper": False,
    "test": False,
    "trouble": False,
}
HS1SA_FIRE = HS1SA_QUIET | {"smoke": True}
# The test button sets both the alarm bit and the test bit of the IAS zone status.
HS1SA_TEST = HS1SA_QUIET | {"smoke": True, "test": True}
HS2SA_EF = {"smoke": False, "battery_low": False, "battery": 94}
MCCGQ11LM_CLOSED = {
    "battery": 100,
    "contact": True,
    "device_temperature": 26,
    "linkquality": 87,
    "power_outage_count": 4,
    "voltage": 3025,
}
MCCGQ11LM_OPEN = MCCGQ11LM_CLOSED | {"contact": False}
RTCGQ11LM = {
    "battery": 100,
    "illuminance": 58,
    "illuminance_lux": 58,
    "linkquality": 60,
    "occupancy": True,
    "voltage": 3015,
}

SMOKE = DeviceConfig(id="smk-1", kind="smoke", room="r1", driver="z", address="0x00158d0001")
DOOR = DeviceConfig(id="fd-1", kind="door", role="fire_door", driver="z", address="fire door 1")
MOTION = DeviceConfig(id="pir-1", kind="presence", driver="z", address="living/motion")


def _kinds(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["kind"]: f for f in fields}


def test_smoke_detector_states() -> None:
    assert _kinds(map_payload(SMOKE, HS1SA_QUIET))["smoke"]["state"] == "normal"
    assert _kinds(map_payload(SMOKE, HS1SA_FIRE))["smoke"]["state"] == "alarm"
    assert _kinds(map_payload(SMOKE, HS1SA_TEST))["smoke"]["state"] == "test"
    assert _kinds(map_payload(SMOKE, HS1SA_QUIET | {"trouble": True}))["smoke"]["state"] == "fault"
    health = _kinds(map_payload(SMOKE, HS1SA_QUIET))["health"]
    assert health == {
        "kind": "health",
        "battery_pct": 100,
        "battery_low": False,
        "tamper": False,
        "signal_lqi": 120,
    }
    assert _kinds(map_payload(SMOKE, HS2SA_EF))["smoke"]["battery_pct"] == 94


def test_missing_fields_are_unknown_never_fine() -> None:
    # A battery report alone says nothing about smoke, a door or presence.
    assert "smoke" not in _kinds(map_payload(SMOKE, {"battery": 80, "linkquality": 40}))
    assert "door" not in _kinds(map_payload(DOOR, {"battery": 80, "linkquality": 40}))
    assert "occupancy" not in _kinds(map_payload(MOTION, {"illuminance": 3}))
    assert map_payload(DOOR, {}) == []
    assert "door" not in _kinds(map_payload(DOOR, {"contact": "closed"}))


def test_contact_true_means_closed() -> None:
    assert _kinds(map_payload(DOOR, MCCGQ11LM_CLOSED))["door"] == {
        "kind": "door",
        "state": "closed",
        "role": "fire_door",
    }
    assert _kinds(map_payload(DOOR, MCCGQ11LM_OPEN))["door"]["state"] == "open"
    assert _kinds(map_payload(MOTION, RTCGQ11LM))["occupancy"]["occupied"] is True


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        *("smoke", "test", "trouble", "contact", "occupancy", "battery", "battery_low"),
        *("tamper", "linkquality", "presence", "x"),
    ]
)


@given(st.dictionaries(FIELDS, JSONISH, max_size=8), st.sampled_from([SMOKE, DOOR, MOTION]))
def test_any_payload_maps_to_valid_readings_or_nothing(
    payload: dict[str, Any], device: DeviceConfig
) -> None:
    adapter: TypeAdapter[Reading] = TypeAdapter(Reading)
    for fields in map_payload(device, payload):
        reading = adapter.validate_python(
            {**fields, "id": "x1", "device": device.id, "ts": "2026-11-22T09:00:00Z"}
        )
        if isinstance(reading, SmokeReading) and reading.state is SmokeState.NORMAL:
            assert payload.get("smoke") is False
        if isinstance(reading, SmokeReading) and reading.state is SmokeState.ALARM:
            assert payload.get("smoke") is True
            assert payload.get("test") is not True
        if isinstance(reading, DoorReading):
            assert isinstance(payload.get("contact"), bool)


@pytest.mark.parametrize("topic_suffix", ["/availability", "/set", "/get"])
def test_non_state_topics_are_ignored(topic_suffix: str) -> None:
    driver = Zigbee2MqttDriver(
        DriverContext(name="z", options={}, devices=[SMOKE], clock=ManualClock())
    )
    emitted: list[Any] = []
    driver._emit = emitted.append

    class Msg:
        topic = "zigbee2mqtt/0x00158d0001" + topic_suffix
        payload = b'{"state": "online"}'

    driver._on_message(None, None, Msg())  # type: ignore[arg-type]
    assert emitted == []
    assert driver.messages == 0


async def test_bridge_through_a_local_broker(
    tmp_path: Path, unique_id: str, mosquitto: Mosquitto, collector_factory: Any
) -> None:
    base = f"z2m-{unique_id}"
    config = make_config(
        tmp_path,
        unique_id,
        mosquitto,
        drivers=[
            {
                "name": "zigbee",
                "factory": Z2M,
                "options": {"host": mosquitto.host, "port": mosquitto.port, "base_topic": base},
            }
        ],
        devices=[
            d.model_copy(update={"driver": "zigbee"}).model_dump(mode="json")
            for d in (SMOKE, DOOR, MOTION)
        ],
    )
    collector = collector_factory(
        mosquitto, up_topics(config.site, config.gateway)[:2], f"col-{unique_id}"
    )
    agent = Agent(config)
    driver = agent.drivers["zigbee"]
    assert isinstance(driver, Zigbee2MqttDriver)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"z2m-{unique_id}")
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    # A retained fire from the past must not sound today.
    publisher.publish(f"{base}/0x00158d0001", json.dumps(HS1SA_FIRE), qos=1, retain=True)
    try:
        async with running(agent):
            await until(lambda: driver.connected, what="the bridge subscribed")
            await until(lambda: driver.retained_ignored == 1, what="the retained state ignored")

            def send(name: str, payload: Any) -> None:
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                publisher.publish(f"{base}/{name}", raw, qos=1).wait_for_publish(5)

            send("bridge/state", {"state": "online"})
            send("0x00158d0001", HS1SA_QUIET)
            send("fire door 1", MCCGQ11LM_OPEN)
            send("living/motion", RTCGQ11LM)
            send("not in the map", MCCGQ11LM_CLOSED)
            send("fire door 1", b"{not json")
            send("0x00158d0001", HS1SA_TEST)
            send("0x00158d0001", HS1SA_FIRE)
            await until(lambda: agent.stats.alarms == 1, what="the fire alarm")
            # All eight: telemetry committed with the alarm may follow it by a batch linger.
            await until(lambda: len(collector.readings()) >= 8, what="readings uplinked")
    finally:
        publisher.publish(f"{base}/0x00158d0001", b"", qos=1, retain=True).wait_for_publish(5)
        publisher.disconnect()
        publisher.loop_stop()

    assert driver.unknown_messages == 1
    assert driver.bad_payloads == 1
    # In commit order (the id's sequence); the alarm itself overtook the telemetry on the wire.
    readings = sorted((r for _, r in collector.readings()), key=lambda r: int(r.id.split("-")[1]))
    smoke_states = [r.state for r in readings if isinstance(r, SmokeReading)]
    assert smoke_states == [SmokeState.NORMAL, SmokeState.TEST, SmokeState.ALARM]
    doors = [r for r in readings if isinstance(r, DoorReading)]
    assert [d.state.value for d in doors] == ["open"]
    assert [r.occupied for r in readings if isinstance(r, OccupancyReading)] == [True]
    # One health reading per device: unchanged battery and tamper are not repeated.
    assert sorted(r.device for r in readings if isinstance(r, HealthReading)) == sorted(
        ["smk-1", "fd-1", "pir-1"]
    )
    channels = {r.state: c for c, r in collector.readings() if isinstance(r, SmokeReading)}
    assert channels == {
        SmokeState.NORMAL: "readings",
        SmokeState.TEST: "readings",
        SmokeState.ALARM: "alarm",
    }
