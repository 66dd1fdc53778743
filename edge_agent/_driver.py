"""The driver interface: a driver turns a device's signals into observations; the agent does the
rest (id, timestamp, validation, outbox, local safety, uplink).

A driver is built by a factory named in the config (``package.module:Class``), called with a
:class:`DriverContext`. Its :meth:`Driver.run` coroutine runs until cancelled and hands each
observation to ``emit``, which may be called from any thread (paho and gpiozero call back from
their own).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from edge_agent._config import DeviceConfig
from edge_agent._errors import DriverError
from protocol import Clock

__all__ = ["Driver", "DriverContext", "DriverFactory", "Emit", "Observation", "load_factory"]


@dataclass(frozen=True, slots=True)
class Observation:
    """What a device reported: the kind-specific fields of one protocol reading.

    ``fields`` are those of a :data:`protocol.Reading` without ``id``, ``device`` and ``ts``,
    e.g. ``{"kind": "smoke", "state": "alarm"}``. The agent adds the id and the time (``ts`` if
    the driver knows when it was observed, else the agent's clock) and validates the result.
    """

    device: str
    fields: Mapping[str, Any]
    ts: datetime | None = None


# Thread-safe; never blocks on the network or the disk.
Emit = Callable[[Observation], None]


@dataclass(frozen=True, slots=True)
class DriverContext:
    """Everything a driver is given: its name and options, its devices, the clock."""

    name: str
    options: Mapping[str, Any]
    devices: Sequence[DeviceConfig]
    clock: Clock
    extras: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Driver(Protocol):
    """A source of observations."""

    async def run(self, emit: Emit) -> None:
        """Produce observations until cancelled; release every resource on the way out."""
        ...

    def update_devices(self, devices: Sequence[DeviceConfig]) -> None:
        """Replace the driver's device map (from a retained ``down/config``)."""
        ...

    async def self_test(self, device: str | None) -> bool:
        """Start a detector self-test on ``device`` (all if None); False if not supported."""
        ...


DriverFactory = Callable[[DriverContext], Driver]


def load_factory(dotted: str) -> DriverFactory:
    """Import ``package.module:Name`` (or ``package.module.Name``) and return it."""
    module_name, _, attr = dotted.partition(":")
    if not attr:
        module_name, _, attr = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverError(f"cannot import driver module {module_name!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise DriverError(f"{module_name!r} has no driver factory {attr!r}")
    loaded: DriverFactory = factory
    return loaded
