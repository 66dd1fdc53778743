"""GPIO inputs through gpiozero: dry-contact door switches, the alarm relay of a conventional
smoke detector, a PIR presence sensor. A device's ``address`` is its pin (``17``, ``GPIO17``,
``BOARD11``).

A device's pin is "active" when it is driven to its active level (low with the default pull-up,
i.e. the contact is closed). ``params.active_means``: for doors ``closed`` (default; a reed
switch closed by the magnet) or ``open``; for smoke/heat detectors ``alarm`` (default; a
normally-open alarm relay) or ``normal`` (a normally-closed one); for presence ``occupied``
(default) or ``vacant``. The state is reported at start, on every change, and every
``report_every_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent._config import DeviceConfig, DeviceKind
from edge_agent._driver import DriverContext, Emit, Observation

__all__ = ["DeviceParams", "GpioDriver", "Options"]

log = logging.getLogger(__name__)


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Contacts bounce for a few milliseconds; 50 ms filters that and still catches a slammed
    # door.
    bounce_s: float | None = Field(default=0.05, ge=0, le=5)
    # A wired input cannot go silent by itself; re-reporting lets the server notice a dead
    # gateway or a cut wire as silence.
    report_every_s: float = Field(default=300.0, gt=0)


class DeviceParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pull_up: bool = True
    active_means: Literal["closed", "open", "alarm", "normal", "occupied", "vacant"] | None = None


_DEFAULT_ACTIVE = {
    DeviceKind.DOOR: "closed",
    DeviceKind.SMOKE: "alarm",
    DeviceKind.HEAT: "alarm",
    DeviceKind.PRESENCE: "occupied",
}
_ALLOWED = {
    DeviceKind.DOOR: {"closed", "open"},
    DeviceKind.SMOKE: {"alarm", "normal"},
    DeviceKind.HEAT: {"alarm", "normal"},
    DeviceKind.PRESENCE: {"occupied", "vacant"},
}


def _fields(device: DeviceConfig, active_means: str, active: bool) -> dict[str, Any]:
    positive = active if active_means in {"closed", "alarm", "occupied"} else not active
    if device.kind is DeviceKind.DOOR:
        return {"kind": "door", "state": "closed" if positive else "open", "role": device.role}
    if device.kind is DeviceKind.PRESENCE:
        return {"kind": "occupancy", "source": "presence", "occupied": positive}
    return {
        "kind": "smoke",
        "sensor": "heat" if device.kind is DeviceKind.HEAT else "smoke",
        "state": "alarm" if positive else "normal",
    }


def _check(devices: Sequence[DeviceConfig]) -> list[tuple[DeviceConfig, DeviceParams, str]]:
    checked = []
    for device in devices:
        if device.kind not in _DEFAULT_ACTIVE:
            raise ValueError(f"device {device.id}: GPIO cannot read a {device.kind} device")
        params = DeviceParams.model_validate(dict(device.params))
        means = params.active_means or _DEFAULT_ACTIVE[device.kind]
        if means not in _ALLOWED[device.kind]:
            raise ValueError(
                f"device {device.id}: active_means {means!r} is not for a {device.kind}"
            )
        checked.append((device, params, means))
    return checked


class GpioDriver:
    """Reads wired inputs through gpiozero (``extras['pin_factory']``, or gpiozero's default)."""

    def __init__(self, context: DriverContext) -> None:
        self.options = Options.model_validate(dict(context.options))
        self.name = context.name
        self._clock = context.clock
        self._pin_factory = context.extras.get("pin_factory")
        self._devices = _check(context.devices)
        self._inputs: dict[str, Any] = {}
        self._emit: Emit | None = None
        self._changed = asyncio.Event()

    def update_devices(self, devices: Sequence[DeviceConfig]) -> None:
        self._devices = _check(devices)
        self._changed.set()

    def _open(self, emit: Emit) -> None:
        from gpiozero import DigitalInputDevice  # type: ignore[import-untyped]

        for device, params, means in self._devices:
            pin = device.key
            sensor = DigitalInputDevice(
                int(pin) if pin.isdigit() else pin,
                pull_up=params.pull_up,
                bounce_time=self.options.bounce_s or None,
                pin_factory=self._pin_factory,
            )

            def changed(active: bool, d: DeviceConfig = device, m: str = means) -> None:
                emit(Observation(d.id, _fields(d, m, active)))

            sensor.when_activated = lambda c=changed: c(True)
            sensor.when_deactivated = lambda c=changed: c(False)
            self._inputs[device.id] = (sensor, device, means)

    def _close(self) -> None:
        for sensor, _, _ in self._inputs.values():
            sensor.close()
        self._inputs.clear()

    def _report_all(self, emit: Emit) -> None:
        for sensor, device, means in self._inputs.values():
            emit(Observation(device.id, _fields(device, means, bool(sensor.is_active))))

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        try:
            while True:
                self._open(emit)
                self._report_all(emit)
                while True:
                    self._changed.clear()
                    try:
                        await asyncio.wait_for(
                            self._changed.wait(), self.options.report_every_s / self._clock.speed
                        )
                    except TimeoutError:
                        self._report_all(emit)
                        continue
                    break  # the device map changed: reopen the pins
                self._close()
        finally:
            self._close()

    async def self_test(self, device: str | None) -> bool:
        return False  # a wired detector is tested at the detector
