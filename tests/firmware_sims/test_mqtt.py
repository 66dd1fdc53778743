"""The fleet runner against a real Mosquitto: what a server subscribing would receive."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from firmware_sims import (
    Event,
    Fleet,
    FleetRunner,
    MemorySink,
    MqttOptions,
    MqttSink,
    Scenario,
    builtin,
    load_scenario,
)
from protocol import (
    AlarmEvent,
    GatewayState,
    GatewayStatus,
    ManualClock,
    ProtocolError,
    ReadingBatch,
    decode_message,
    is_alarm_class,
    parse_topic,
)
from protocol import Channel as Ch
from tests.firmware_sims.conftest import MONDAY_10, Recorder, small_registry
from tests.services import Mosquitto

pytestmark = pytest.mark.mosquitto

Messages = list[tuple[str, bytes, bool]]


class Tee:
    """Hands events to the MQTT sink and remembers what was sent."""

    def __init__(self, sink: MqttSink) -> None:
        self.sink = sink
        self.memory = MemorySink()

    def handle(self, events: Sequence[Event]) -> None:
        self.memory.handle(events)
        self.sink.handle(events)

    def flush(self, timeout_s: float) -> bool:
        return self.sink.flush(timeout_s)

    def close(self) -> None:
        self.sink.close()


def _run(
    broker: Mosquitto,
    site: str,
    scenarios: Callable[[Fleet], list[Scenario]],
    span: timedelta,
    **options: object,
) -> tuple[Fleet, Tee, ManualClock]:
    clock = ManualClock(MONDAY_10)
    fleet = Fleet(small_registry(site), start=clock.now(), seed=4)
    tee = Tee(MqttSink(MqttOptions(host=broker.host, port=broker.port, **options)))  # type: ignore[arg-type]
    runner = FleetRunner(fleet, tee, clock)
    for scenario in scenarios(fleet):
        runner.schedule(scenario)
    try:
        runner.run_stepped(clock, MONDAY_10 + span, timedelta(seconds=10))
        assert tee.flush(30)
    finally:
        tee.close()
    return fleet, tee, clock


def _reading_ids(messages: Messages, clock: ManualClock) -> tuple[list[str], list[object]]:
    ids: list[str] = []
    statuses: list[object] = []
    for topic, payload, _ in messages:
        decoded = decode_message(topic, payload, now=clock.now())
        match decoded.message:
            case ReadingBatch(readings=batch):
                assert decoded.topic.channel is Ch.READINGS
                assert not any(is_alarm_class(r) for r in batch)
                ids += [r.id for r in batch]
            case AlarmEvent(reading=reading):
                assert decoded.topic.channel is Ch.ALARM
                assert is_alarm_class(reading)
                ids.append(reading.id)
            case GatewayStatus():
                statuses.append(decoded.message)
    return ids, statuses


def test_a_subscriber_receives_every_reading_decodable_and_alarms_on_their_lane(
    mosquitto: Mosquitto, unique_id: str, recorder_factory: Callable[..., Recorder]
) -> None:
    rec = recorder_factory(mosquitto, f"linli/v1/{unique_id}/#", f"{unique_id}-sub")

    def scenarios(fleet: Fleet) -> list[Scenario]:
        return [builtin("fire_drill", fleet), builtin("door_propped_open", fleet)]

    _fleet, tee, clock = _run(mosquitto, unique_id, scenarios, timedelta(hours=1))
    sent = [r.id for r in tee.memory.readings()]
    assert len(sent) > 200
    messages = rec.wait_for(lambda m: len(_reading_ids(m, clock)[0]) >= len(sent))
    received, statuses = _reading_ids(messages, clock)
    assert sorted(received) == sorted(sent)  # every reading, once
    assert any(isinstance(s, GatewayStatus) and s.state is GatewayState.ONLINE for s in statuses)
    alarms = [t for t, _, _ in messages if parse_topic(t).channel is Ch.ALARM]
    assert alarms  # the drill's alarm took the alarm lane
    assert tee.sink.unacked == 0


def test_uplink_loss_fires_the_last_will_then_delivers_everything(
    mosquitto: Mosquitto, unique_id: str, recorder_factory: Callable[..., Recorder]
) -> None:
    rec = recorder_factory(mosquitto, f"linli/v1/{unique_id}/+/status", f"{unique_id}-st")
    data = recorder_factory(mosquitto, f"linli/v1/{unique_id}/+/up/#", f"{unique_id}-up")
    text = f"""
name: short_outage
title: gw1 offline for ten minutes
steps:
  - {{at: 5m, action: uplink_loss, gateway: {unique_id}-gw1, duration: 10m}}
"""

    def scenarios(fleet: Fleet) -> list[Scenario]:
        return [load_scenario(text, "outage.yaml")]

    _fleet, tee, clock = _run(mosquitto, unique_id, scenarios, timedelta(minutes=30))
    sent = [r.id for r in tee.memory.readings()]
    messages = data.wait_for(lambda m: len(_reading_ids(m, clock)[0]) >= len(sent))
    assert sorted(_reading_ids(messages, clock)[0]) == sorted(sent)
    status = rec.wait_for(
        lambda m: sum(f"{unique_id}-gw1/status" in t for t, _, _ in m) >= 4, timeout=10
    )
    gw1 = [json.loads(p) for t, p, _ in status if t.endswith(f"/{unique_id}-gw1/status")]
    states = [s["state"] for s in gw1]
    # The Last Will (no timestamp: set at connect time) sits between two "online" births.
    will = next(i for i, s in enumerate(gw1) if s["state"] == "offline")
    assert "ts" not in gw1[will]
    assert "online" in states[:will]
    assert "online" in states[will + 1 :]


def test_the_runner_survives_a_broker_restart_without_losing_a_reading(
    own_mosquitto: Mosquitto, unique_id: str, recorder_factory: Callable[..., Recorder]
) -> None:
    rec = recorder_factory(own_mosquitto, f"linli/v1/{unique_id}/+/up/#", f"{unique_id}-sub")

    def scenarios(fleet: Fleet) -> list[Scenario]:
        return [builtin("broker_restart", fleet)]

    _fleet, tee, clock = _run(
        own_mosquitto,
        unique_id,
        scenarios,
        timedelta(minutes=20),
        restart_broker=own_mosquitto.restart,
    )
    sent = [r.id for r in tee.memory.readings()]
    assert len(sent) > 50
    messages = rec.wait_for(lambda m: len(set(_reading_ids(m, clock)[0])) >= len(sent), timeout=60)
    # QoS 1 may deliver a message twice across a restart; the server dedupes by reading id.
    assert set(_reading_ids(messages, clock)[0]) == set(sent)


def test_hostile_payloads_reach_the_broker_and_each_is_refused_as_expected(
    mosquitto: Mosquitto, unique_id: str, recorder_factory: Callable[..., Recorder]
) -> None:
    rec = recorder_factory(mosquitto, f"linli/v1/{unique_id}/#", f"{unique_id}-sub")
    scenario: list[Scenario] = []

    def scenarios(fleet: Fleet) -> list[Scenario]:
        scenario.append(builtin("hostile_payloads", fleet))
        return scenario

    _fleet, tee, clock = _run(mosquitto, unique_id, scenarios, timedelta(minutes=2))
    expected = {x.subject: x.value for x in scenario[0].expect}
    raws = {e.payload: e for e in tee.memory.events if hasattr(e, "label")}
    messages = rec.wait_for(lambda m: raws.keys() <= {p for _, p, _ in m})
    found: dict[str, str] = {}
    for topic, payload, _ in messages:
        if payload in raws:
            with pytest.raises(ProtocolError) as info:
                decode_message(topic, payload, now=clock.now())
            raw = raws[payload]
            assert type(info.value) is raw.expect  # type: ignore[attr-defined]
            found[raw.label] = info.value.code  # type: ignore[attr-defined]
    assert found == expected


def test_mqtt_3_1_1_gateways_announce_their_own_offline_status(
    mosquitto: Mosquitto, unique_id: str, recorder_factory: Callable[..., Recorder]
) -> None:
    rec = recorder_factory(mosquitto, f"linli/v1/{unique_id}/#", f"{unique_id}-sub")
    text = f"""
name: short_outage
title: gw2 offline
steps:
  - {{at: 1m, action: uplink_loss, gateway: {unique_id}-gw2, duration: 2m}}
"""

    def scenarios(fleet: Fleet) -> list[Scenario]:
        return [load_scenario(text, "outage.yaml")]

    _fleet, tee, clock = _run(
        mosquitto, unique_id, scenarios, timedelta(minutes=5), protocol="3.1.1"
    )
    sent = [r.id for r in tee.memory.readings()]
    messages = rec.wait_for(lambda m: len(_reading_ids(m, clock)[0]) >= len(sent))
    ids, statuses = _reading_ids(messages, clock)
    assert sorted(ids) == sorted(sent)
    gw2 = [s for s in statuses if isinstance(s, GatewayStatus) and s.gateway == f"{unique_id}-gw2"]
    assert [s.state for s in gw2].count(GatewayState.OFFLINE) >= 1


def test_without_a_restart_hook_broker_restart_cuts_connections_and_gateways_reconnect(
    mosquitto: Mosquitto, unique_id: str, recorder_factory: Callable[..., Recorder]
) -> None:
    rec = recorder_factory(mosquitto, f"linli/v1/{unique_id}/#", f"{unique_id}-sub")

    def scenarios(fleet: Fleet) -> list[Scenario]:
        return [builtin("broker_restart", fleet)]

    _fleet, tee, clock = _run(mosquitto, unique_id, scenarios, timedelta(minutes=10))
    sent = [r.id for r in tee.memory.readings()]
    messages = rec.wait_for(lambda m: len(set(_reading_ids(m, clock)[0])) >= len(sent))
    assert set(_reading_ids(messages, clock)[0]) == set(sent)
    # The cut connections made the broker publish each gateway's Last Will.
    wills = [json.loads(p) for t, p, _ in messages if t.endswith("/status")]
    assert any(w["state"] == "offline" and "ts" not in w for w in wills)
