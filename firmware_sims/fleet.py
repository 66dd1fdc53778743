"""A fleet: every site, room, gateway and device of a registry, stepped through simulated time.

``Fleet.advance(to)`` moves the world to ``to`` in steps of at most ``max_step`` and returns the
events a transport must deliver (:mod:`firmware_sims.events`). It never reads the wall clock and
never does I/O, so the same seed and the same sequence of ``advance`` calls give the same events.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from firmware_sims._errors import FleetError
from firmware_sims._world import EvacuationRecord, GatewaySim, RoomSim, SiteSim
from firmware_sims.devices import DoorCounter, SimDevice, make_device
from firmware_sims.events import Event, GatewayRef, Heartbeat, Online, Publish
from protocol import DoorRole, Reading, is_valid_id
from rules import (
    Device,
    DeviceKind,
    Function,
    Gateway,
    OpeningHours,
    Registry,
    RegistryError,
    Room,
    Site,
    parse_registry,
)

if TYPE_CHECKING:
    from firmware_sims.scenarios import Scenario

__all__ = ["DEFAULT_MAX_STEP", "Fleet", "generate_registry", "load_registry"]

# Ten simulated seconds per step: finer than any rule's duration (the shortest, door.not_released,
# is 10 s) and coarse enough that 10,000 devices step faster than real time many times over.
DEFAULT_MAX_STEP = timedelta(seconds=10)


class _Action(Protocol):
    def apply(self, fleet: Fleet, now: datetime) -> list[Event]: ...


@dataclass(order=True)
class _Due:
    when: datetime
    seq: int
    action: _Action = field(compare=False)


class Fleet:
    """Sites, rooms, gateways and devices of ``registry``, starting at ``start``.

    ``gateways`` limits the events to those gateways (their sites are simulated whole), which is
    how a simulated edge driver runs one gateway's devices. ``exact_counters`` turns off the door
    counters' miscounts (for checks that need counter occupancy to be exact).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        start: datetime,
        seed: int = 0,
        gateways: Collection[str] | None = None,
        max_step: timedelta = DEFAULT_MAX_STEP,
        exact_counters: bool = False,
    ) -> None:
        if start.tzinfo is None:
            raise FleetError("the fleet needs a timezone-aware start time")
        if max_step <= timedelta(0):
            raise FleetError("max_step must be positive")
        known = {g.id for s in registry.sites for g in s.gateways}
        if gateways is not None and (missing := set(gateways) - known):
            raise FleetError(f"the registry has no gateway {', '.join(sorted(missing))}")
        self.registry = registry
        self.seed = seed
        self.now = start
        self.max_step = max_step
        wanted = None if gateways is None else set(gateways)
        self.sites: dict[str, SiteSim] = {}
        self.gateways: dict[str, GatewaySim] = {}
        self.devices: dict[str, SimDevice] = {}
        for site in registry.sites:
            if wanted is not None and not any(g.id in wanted for g in site.gateways):
                continue
            sim = SiteSim(site, seed)
            self.sites[site.id] = sim
            for gateway in site.gateways:
                gw = GatewaySim(sim, gateway)
                self.gateways[gateway.id] = gw
                for spec in gateway.devices:
                    room = sim.rooms.get(spec.room) if spec.room is not None else None
                    device = make_device(spec, gw, room, seed, start)
                    self.devices[spec.id] = device
                    if isinstance(device, DoorCounter):
                        if room is not None:
                            room.counters += 1
                        if exact_counters:
                            device.entry_miss = device.exit_miss = device.double_count = 0.0
            for room in sim.rooms.values():
                room.arrive(round(room.expected(start)))
        if not self.devices:
            raise FleetError("the fleet has no devices to simulate")
        self._emit = wanted
        ordered = sorted(self.devices.values(), key=lambda d: (d.order, d.id))
        self._detectors = [d for d in ordered if d.order == 0]
        self._others = [d for d in ordered if d.order != 0]
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._started = False
        self.emitted = 0  # readings handed out in Publish events

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        start: datetime,
        seed: int = 0,
        gateways: Collection[str] | None = None,
        max_step: timedelta = DEFAULT_MAX_STEP,
    ) -> Fleet:
        """A fleet from a registry YAML file; FleetError names the file and field."""
        return cls(
            load_registry(path), start=start, seed=seed, gateways=gateways, max_step=max_step
        )

    # -- looking things up (scenarios use these) -------------------------------------------

    def site(self, site_id: str) -> SiteSim | None:
        return self.sites.get(site_id)

    def device(self, device_id: str) -> SimDevice | None:
        return self.devices.get(device_id)

    def gateway(self, gateway_id: str) -> GatewaySim | None:
        return self.gateways.get(gateway_id)

    def rooms_named(self, room_id: str) -> list[RoomSim]:
        return [s.rooms[room_id] for s in self.sites.values() if room_id in s.rooms]

    def iter_rooms(self) -> Iterator[RoomSim]:
        for site in self.sites.values():
            yield from site.rooms.values()

    def occupancy(self) -> dict[tuple[str, str], int]:
        """True people per (site, room): the ground truth the counters approximate."""
        return {(r.site.id, r.id): r.people for r in self.iter_rooms()}

    def evacuations(self, site_id: str) -> list[EvacuationRecord]:
        """Evacuations of a site so far, with their true durations."""
        site = self.sites.get(site_id)
        if site is None:
            return []
        last = site.last_evacuation()
        records = list(site.evacuations)
        if last is not None and last.completed is None:
            records.append(last)
        return records

    @staticmethod
    def ref(gateway: GatewaySim) -> GatewayRef:
        return GatewayRef(gateway.site.id, gateway.id)

    # -- scenarios ---------------------------------------------------------------------------

    def schedule(self, scenario: Scenario, start: datetime | None = None) -> datetime:
        """Check ``scenario`` against this fleet (UnknownTarget if it names what is not here)
        and schedule its steps from ``start`` (default: now). Returns the start."""
        scenario.check(self)
        begin = self.now if start is None else start
        for step in scenario.steps:
            heapq.heappush(self._due, _Due(begin + step.at, next(self._seq), step))
        return begin

    def at(self, when: datetime, action: _Action) -> None:
        """Schedule one action (anything with ``apply(fleet, now)``)."""
        heapq.heappush(self._due, _Due(when, next(self._seq), action))

    # -- stepping ----------------------------------------------------------------------------

    def advance(self, to: datetime, *, partial: bool = True) -> list[Event]:
        """Move the world to ``to`` and return what the gateways send meanwhile.

        With ``partial=False`` only whole ``max_step`` steps are taken (the world may stop short
        of ``to``), so the steps fall on the same grid however a real-time clock's ticks slice
        the time, and the same seed gives the same readings.
        """
        events: list[Event] = []
        if not self._started:
            self._started = True
            for gw in self._emitting():
                events.append(Online(self.ref(gw), gw.time(self.now)))
                events.append(Heartbeat(self.ref(gw), gw.time(self.now)))
                gw.next_heartbeat = self.now + timedelta(seconds=gw.gateway.heartbeat_s)
        while self.now < to:
            step = min(self.max_step, to - self.now)
            if step < self.max_step and not partial:
                break
            self.now += step
            self._step(self.now, step.total_seconds(), events)
        return events

    def _emitting(self) -> list[GatewaySim]:
        return [g for g in self.gateways.values() if self._emit is None or g.id in self._emit]

    def _step(self, now: datetime, dt_s: float, events: list[Event]) -> None:
        while self._due and self._due[0].when <= now:
            events.extend(heapq.heappop(self._due).action.apply(self, now))
        for room in self.iter_rooms():
            room.advance(now, dt_s)
        out: dict[str, list[Reading]] = {}
        for device in self._detectors:
            readings = device.step(now, device.gateway.time(now))
            if readings:
                out.setdefault(device.gateway.id, []).extend(readings)
        for site in self.sites.values():
            site.update_alarm(now)
        for device in self._others:
            readings = device.step(now, device.gateway.time(now))
            if readings:
                out.setdefault(device.gateway.id, []).extend(readings)
        for gw in self._emitting():
            readings = out.get(gw.id, [])
            ref = self.ref(gw)
            if gw.uplink_down_until is not None:
                if now < gw.uplink_down_until:
                    gw.held.extend(readings)
                    continue
                gw.uplink_down_until = None
                events.append(Online(ref, gw.time(now)))
                readings, gw.held = gw.held + readings, []
                gw.next_heartbeat = now
            if readings:
                self.emitted += len(readings)
                events.append(Publish(ref, tuple(readings), gw.time(now)))
            if gw.next_heartbeat is not None and now >= gw.next_heartbeat:
                events.append(Heartbeat(ref, gw.time(now), len(gw.held)))
                gw.next_heartbeat = now + timedelta(seconds=gw.gateway.heartbeat_s)


def load_registry(path: str | Path) -> Registry:
    """Read and parse a registry file; FleetError names the file and the field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetError(f"{source}: cannot read the registry: {exc.strerror or exc}") from None
    try:
        return parse_registry(text, source)
    except RegistryError as exc:
        raise FleetError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class _RoomTemplate:
    suffix: str
    name: str
    name_en: str
    function: Function
    floor: int
    area_m2: float
    beds: int | None = None
    places: int | None = None
    licensed: int | None = None


_F = Function
_TEMPLATES = (
    _RoomTemplate("eld", "老年日间照料室", "Elderly day care", _F.ELDERLY_CARE, 1, 360, beds=10),
    _RoomTemplate("din", "长者食堂", "Canteen", _F.DINING, 1, 180, licensed=80),
    _RoomTemplate("inf", "托育室", "Infant care", _F.INFANT_CARE, 2, 220, places=20),
    _RoomTemplate("aft", "儿童托管室", "After-school", _F.AFTER_SCHOOL, 2, 120, licensed=40),
    _RoomTemplate("fit", "健身房", "Fitness room", _F.FITNESS, 3, 150, licensed=30),
    _RoomTemplate("cul", "书画室", "Calligraphy room", _F.CULTURE, 3, 90, licensed=30),
    _RoomTemplate("hea", "健康小屋", "Health station", _F.HEALTH, 1, 60, licensed=10),
    _RoomTemplate("ply", "儿童游戏室", "Play room", _F.CHILDREN_PLAY, 2, 100, licensed=30),
)


def _door(device_id: str, room: str, role: DoorRole) -> Device:
    return Device(id=device_id, kind=DeviceKind.DOOR, room=room, role=role)


def generate_registry(
    sites: int, *, rooms_per_site: int = 8, devices_per_gateway: int = 50, prefix: str = "gen"
) -> Registry:
    """A registry of ``sites`` look-alike centres, for load: each room has one or two smoke
    detectors, an entrance counter and (every other room) a fire door; each site has a fire door
    on a hold-open, an entrance and an emergency exit. About 5 devices per room."""
    if sites < 1 or rooms_per_site < 1 or devices_per_gateway < 1:
        raise FleetError("a generated fleet needs at least one site, room and device per gateway")
    if not is_valid_id(f"{prefix}-00000-{_TEMPLATES[0].suffix}00-smk0") or len(prefix) > 30:
        raise FleetError(f"prefix {prefix!r} would not make valid ids (letters, digits, '-', '_')")
    hours = (OpeningHours(days=frozenset(range(7)), open=time(7, 0), close=time(21, 30)),)
    out: list[Site] = []
    for i in range(sites):
        sid = f"{prefix}-{i:05d}"
        rooms: list[Room] = []
        devices: list[Device] = []
        for j in range(rooms_per_site):
            tpl = _TEMPLATES[j % len(_TEMPLATES)]
            rid = f"{tpl.suffix}{j:02d}"
            rooms.append(
                Room(
                    id=rid,
                    name=f"{tpl.name}{j + 1}",
                    name_en=f"{tpl.name_en} {j + 1}",
                    function=tpl.function,
                    floor=tpl.floor,
                    area_m2=tpl.area_m2,
                    beds=tpl.beds,
                    places=tpl.places,
                    licensed_capacity=tpl.licensed,
                )
            )
            for k in range(2 if tpl.area_m2 > 150 else 1):
                devices.append(Device(id=f"{sid}-{rid}-smk{k}", kind=DeviceKind.SMOKE, room=rid))
            devices.append(
                Device(
                    id=f"{sid}-{rid}-cnt",
                    kind=DeviceKind.COUNTER,
                    room=rid,
                    reporting_interval_s=60,
                )
            )
            if j % 2 == 0:
                devices.append(
                    Device(
                        id=f"{sid}-{rid}-fd",
                        kind=DeviceKind.DOOR,
                        room=rid,
                        role=DoorRole.FIRE_DOOR,
                    )
                )
        first = rooms[0].id
        devices += [
            Device(
                id=f"{sid}-hold",
                kind=DeviceKind.DOOR,
                room=first,
                role=DoorRole.FIRE_DOOR_HOLD_OPEN,
            ),
            Device(id=f"{sid}-entr", kind=DeviceKind.DOOR, room=first, role=DoorRole.ENTRANCE),
            Device(
                id=f"{sid}-exit", kind=DeviceKind.DOOR, room=first, role=DoorRole.EMERGENCY_EXIT
            ),
        ]
        gateways = tuple(
            Gateway(id=f"{sid}-gw{n}", devices=tuple(devices[k : k + devices_per_gateway]))
            for n, k in enumerate(range(0, len(devices), devices_per_gateway))
        )
        out.append(
            Site(
                id=sid,
                name=f"模拟社区服务中心{i + 1}",
                name_en=f"Generated centre {i + 1}",
                opening_hours=hours,
                rooms=tuple(rooms),
                gateways=gateways,
            )
        )
    return Registry(sites=tuple(out))
