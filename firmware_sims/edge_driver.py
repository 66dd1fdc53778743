"""A simulated edge driver: seeded, scriptable, implementing the edge agent's driver interface.

Configure it in a gateway config as ``factory = "firmware_sims.edge_driver:SimulatedDriver"``.
It produces observations three ways:

- **periodic**: with ``interval_s``, every device reports every ``interval_s`` clock seconds
  (seeded values; with ``count_sequence``, occupancy devices report a running count 0, 1, 2…
  so a test can tell exactly which readings arrived);
- **script**: ``script`` steps ``{at_s, device, fields}`` at clock offsets from the start;
- **fed**: :meth:`SimulatedDriver.feed` from any thread (tests);
- **world**: with ``registry`` (a registry file, or ``"demo"`` for the shipped one), the
  gateway's devices are the device models of :class:`firmware_sims.GatewayFeed` on their day
  profiles, polled every ``tick_s`` clock seconds; scenarios are scheduled on :attr:`world`.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge_agent import DeviceConfig, DriverContext, Emit, Observation
from firmware_sims._demo import demo_registry
from firmware_sims.feed import GatewayFeed
from firmware_sims.fleet import load_registry

__all__ = ["Options", "ScriptStep", "SimulatedDriver"]


class ScriptStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at_s: float = Field(ge=0)
    device: str
    fields: Mapping[str, Any]


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    interval_s: float | None = Field(default=None, gt=0)
    count_sequence: bool = False
    limit: int | None = Field(default=None, ge=0, description="Periodic reports per device")
    script: list[ScriptStep] = Field(default_factory=list)
    registry: str | None = Field(
        default=None, description='Registry file whose device models to run, or "demo"'
    )
    # Counters and presence sensors report about every 10 s in the models; polling twice as
    # often keeps a reading's delay well under its reporting interval.
    tick_s: float = Field(default=5.0, gt=0, le=3600)


class SimulatedDriver:
    """A driver whose devices are simulated."""

    def __init__(self, context: DriverContext) -> None:
        self.options = Options.model_validate(dict(context.options))
        self.name = context.name
        self._clock = context.clock
        self._devices = list(context.devices)
        self._random = random.Random(self.options.seed)  # noqa: S311 - simulation, not secrets
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._emit: Emit | None = None
        self._early: list[Observation] = []
        self.self_tests: list[str | None] = []
        self.emitted = 0
        self.world: GatewayFeed | None = None
        if self.options.registry is not None:
            registry = (
                demo_registry()
                if self.options.registry == "demo"
                else load_registry(self.options.registry)
            )
            self.world = GatewayFeed(
                registry,
                str(context.extras.get("gateway", "")),
                start=self._clock.now(),
                seed=self.options.seed,
            )

    def update_devices(self, devices: Sequence[DeviceConfig]) -> None:
        self._devices = list(devices)

    def feed(self, device: str, fields: Mapping[str, Any], ts: datetime | None = None) -> None:
        """Report ``fields`` for ``device`` now; thread-safe, buffered until the driver runs."""
        observation = Observation(device, dict(fields), ts)
        with self._lock:
            emit = self._emit
            if emit is None:
                self._early.append(observation)
                return
            self.emitted += 1
        emit(observation)

    def _fields(self, device: DeviceConfig) -> dict[str, Any]:
        rnd = self._random
        n = self._counts.get(device.id, 0)
        self._counts[device.id] = n + 1
        match device.kind:
            case "smoke" | "heat":
                return {
                    "kind": "smoke",
                    "sensor": device.kind,
                    "state": "normal",
                    "battery_pct": 100 - min(n // 1000, 80),
                }
            case "door":
                state = "open" if rnd.random() < 0.1 else "closed"
                return {"kind": "door", "state": state, "role": device.role}
            case "presence":
                if self.options.count_sequence:
                    return {"kind": "occupancy", "source": "presence", "count": n}
                return {"kind": "occupancy", "source": "presence", "occupied": rnd.random() < 0.5}
            case _:
                if self.options.count_sequence:
                    return {"kind": "occupancy", "source": "counter", "count": n}
                return {
                    "kind": "occupancy",
                    "source": "counter",
                    "entries": rnd.randint(0, 3),
                    "exits": rnd.randint(0, 3),
                }

    async def run(self, emit: Emit) -> None:
        with self._lock:
            self._emit = emit
            early, self._early = self._early, []
        for observation in early:
            emit(observation)
        try:
            async with asyncio.TaskGroup() as group:
                if self.options.script:
                    group.create_task(self._script(emit), name=f"{self.name}-script")
                if self.options.interval_s is not None:
                    group.create_task(self._periodic(emit), name=f"{self.name}-periodic")
                if self.world is not None:
                    group.create_task(self._world(emit, self.world), name=f"{self.name}-world")
                await asyncio.Event().wait()
        finally:
            with self._lock:
                self._emit = None

    async def _sleep(self, clock_seconds: float) -> None:
        await asyncio.sleep(max(0.0, clock_seconds) / self._clock.speed)

    async def _script(self, emit: Emit) -> None:
        elapsed = 0.0
        for step in sorted(self.options.script, key=lambda s: s.at_s):
            await self._sleep(step.at_s - elapsed)
            elapsed = step.at_s
            self.emitted += 1
            emit(Observation(step.device, dict(step.fields)))

    async def _periodic(self, emit: Emit) -> None:
        assert self.options.interval_s is not None
        rounds = 0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while self.options.limit is None or rounds < self.options.limit:
            for device in self._devices:
                self.emitted += 1
                emit(Observation(device.id, self._fields(device)))
            rounds += 1
            next_at += self.options.interval_s / self._clock.speed
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _world(self, emit: Emit, world: GatewayFeed) -> None:
        while True:
            for reading in world.poll(self._clock.now()):
                fields = reading.model_dump(mode="json", exclude={"id", "device", "ts"})
                self.emitted += 1
                emit(Observation(reading.device, fields, reading.ts))
            await self._sleep(self.options.tick_s)

    async def self_test(self, device: str | None) -> bool:
        """Simulated detectors sound their test, then return to normal."""
        if self.world is not None:
            ids = [device] if device is not None else self.world.devices
            return any([self.world.self_test(d) for d in ids])
        targets = [
            d for d in self._devices if d.kind in {"smoke", "heat"} and device in {None, d.id}
        ]
        self.self_tests.append(device)
        for d in targets:
            self.feed(d.id, {"kind": "smoke", "sensor": d.kind, "state": "test"})
            self.feed(d.id, {"kind": "smoke", "sensor": d.kind, "state": "normal"})
        return bool(targets)
