"""Local safety decisions, with hand-built readings and fixed times; outputs are recorders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from edge_agent import DeviceConfig, DisplayMessage, GpioOutputConfig, MqttOutputConfig, Trigger
from edge_agent._safety import SafetyMonitor
from protocol import DoorReading, DoorRole, DoorState, SmokeReading, SmokeState

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class Recorder:
    """An output that records what it was told (the lowest seam: no pin, no broker)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.active = False
        self.messages: list[DisplayMessage] = []

    def activate(self, message: DisplayMessage) -> None:
        self.active = True
        self.messages.append(message)

    def deactivate(self, message: DisplayMessage) -> None:
        self.active = False
        self.messages.append(message)

    def close(self) -> None:
        pass


def _monitor() -> tuple[SafetyMonitor, Recorder, Recorder]:
    sounder = Recorder(GpioOutputConfig(name="sounder", pin=17))
    display = Recorder(
        MqttOutputConfig(name="display", topic="d", on=frozenset({Trigger.FIRE_DOOR}))
    )
    devices = [
        DeviceConfig(id="smk-1", kind="smoke", room="r101", driver="x"),
        DeviceConfig(id="smk-2", kind="smoke", room="r102", driver="x"),
        DeviceConfig(id="fd-1", kind="door", role="fire_door", room="r101", driver="x"),
    ]
    return SafetyMonitor("gw", [sounder, display], devices, timedelta(seconds=10)), sounder, display


def _smoke(device: str, state: SmokeState, at: datetime) -> SmokeReading:
    return SmokeReading(id="x1", device=device, ts=at, state=state)


def _door(state: DoorState, at: datetime, fault: bool | None = None) -> DoorReading:
    return DoorReading(
        id="x2", device="fd-1", ts=at, state=state, role=DoorRole.FIRE_DOOR, fault=fault
    )


def test_a_test_is_not_an_alarm_and_an_alarm_latches_until_silenced() -> None:
    monitor, sounder, _ = _monitor()
    assert monitor.assess(_smoke("smk-1", SmokeState.TEST, T0)) == (None, (), False)
    trigger, names, started = monitor.assess(_smoke("smk-1", SmokeState.ALARM, T0))
    assert (trigger, names, started) == (Trigger.SMOKE, ("sounder",), True)
    monitor.act(Trigger.SMOKE, names, "smk-1", T0)
    assert sounder.active
    assert "r101" in sounder.messages[-1].text_zh
    monitor.assess(_smoke("smk-1", SmokeState.NORMAL, T0 + timedelta(seconds=5)))
    assert sounder.active  # latched
    assert monitor.silence(T0, "op") == ["sounder"]
    assert not sounder.active
    # Another detector going into alarm sounds again: a new episode (smk-1 is back to normal).
    _, names, started = monitor.assess(_smoke("smk-2", SmokeState.ALARM, T0))
    assert (names, started) == (("sounder",), True)


def test_silenced_alarm_reading_drives_only_unsilenceable_outputs() -> None:
    monitor, _, _ = _monitor()
    monitor.assess(_smoke("smk-1", SmokeState.ALARM, T0))
    monitor.silence(T0, None)
    assert monitor.assess(_smoke("smk-1", SmokeState.ALARM, T0))[1] == ()


def test_fire_door_open_past_the_grace_is_a_fault() -> None:
    monitor, _, display = _monitor()
    monitor.assess(_door(DoorState.OPEN, T0 - timedelta(minutes=5)))
    open_fields = {"kind": "door", "state": "open", "role": DoorRole.FIRE_DOOR}
    assert monitor.enrich("fd-1", open_fields, T0) == open_fields  # no alarm yet
    monitor.assess(_smoke("smk-1", SmokeState.ALARM, T0))
    assert monitor.overdue_doors(T0 + timedelta(seconds=9)) == {}
    assert monitor.overdue_doors(T0 + timedelta(seconds=10)) == {"fd-1": DoorRole.FIRE_DOOR}
    assert monitor.enrich("fd-1", open_fields, T0 + timedelta(seconds=5)) == open_fields
    assert monitor.enrich("fd-1", open_fields, T0 + timedelta(seconds=11))["fault"] is True
    trigger, names, _ = monitor.assess(_door(DoorState.OPEN, T0 + timedelta(seconds=11), True))
    assert (trigger, names) == (Trigger.FIRE_DOOR, ("sounder", "display"))
    monitor.act(trigger, names, "fd-1", T0)
    assert display.active
    assert display.messages[-1].trigger is Trigger.FIRE_DOOR
    monitor.assess(_door(DoorState.CLOSED, T0 + timedelta(seconds=20)))
    assert monitor.overdue_doors(T0 + timedelta(seconds=30)) == {}
