"""Scenarios: named, documented scripts of things that happen to a fleet at simulated times.

A scenario is data: timed steps (a fire, a propped door, a lost uplink…) and the outcome the
system should show, as prose and as machine-checkable expectations. It is written in YAML or built
for a given fleet by one of the built-ins (``builtin(name, fleet)``), which pick suitable rooms and
devices. ``Fleet.schedule(scenario, start)`` checks it against the fleet (``UnknownTarget`` names
what the fleet lacks) and runs its steps as simulated time passes.

A scenario file::

    name: wedge_in_stairwell
    title: A fire door wedged open in the stairwell
    outcome: door.held_open fires for fd-201 within 90 s and resolves when the door shuts.
    run_for: 15m
    expect:
      - {rule: door.held_open, subject: fd-201, within: 90s}
    steps:
      - {at: 1m, action: prop_door, device: fd-201, duration: 10m}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from firmware_sims._errors import ScenarioError, UnknownTarget
from firmware_sims._world import FireKind, FireState, RoomSim
from firmware_sims.devices import DoorContact, DoorCounter, SimDevice, SmokeDetector
from firmware_sims.events import BrokerRestart, Event, GatewayRef, Offline, Raw
from firmware_sims.fleet import Fleet
from firmware_sims.hostile import HOSTILE_LABELS, hostile_payloads
from protocol import DoorRole, Id
from rules import DeviceKind, Function

__all__ = [
    "BUILTIN_SCENARIOS",
    "Expectation",
    "Scenario",
    "Step",
    "builtin",
    "load_scenario",
    "load_scenario_file",
    "parse_duration",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_DURATION = re.compile(r"^\s*(-)?\s*((?:\d+(?:\.\d+)?\s*[dhms]\s*)+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(value: Any) -> Any:
    """Seconds (a number) or text like ``90s``, ``10m``, ``1h30m``, ``2d``, ``-5m``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(m.group(2)))
        return timedelta(seconds=-seconds if m.group(1) else seconds)
    return value  # pydantic's own timedelta parsing (ISO 8601) decides


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


# Any duration (a clock offset may be negative); a length of time; a time after the start.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Length = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
Offset = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_not_negative)]


def _device(fleet: Fleet, device_id: str, where: str, want: type[SimDevice], what: str) -> Any:
    device = fleet.device(device_id)
    if device is None:
        raise UnknownTarget(f"{where}.device: the fleet has no device {device_id!r}")
    if not isinstance(device, want):
        raise ScenarioError(
            f"{where}.device: {device_id!r} is a {device.spec.kind.value} device, not {what}"
        )
    return device


def _room(fleet: Fleet, room_id: str, site: str | None, where: str) -> RoomSim:
    if site is not None:
        sim = fleet.site(site)
        if sim is None:
            raise UnknownTarget(f"{where}.site: the fleet has no site {site!r}")
        if room_id not in sim.rooms:
            raise UnknownTarget(f"{where}.room: site {site!r} has no room {room_id!r}")
        return sim.rooms[room_id]
    rooms = fleet.rooms_named(room_id)
    if not rooms:
        raise UnknownTarget(f"{where}.room: the fleet has no room {room_id!r}")
    if len(rooms) > 1:
        sites = ", ".join(r.site.id for r in rooms)
        raise ScenarioError(
            f"{where}.room: {room_id!r} is in several sites ({sites}); name the site"
        )
    return rooms[0]


def _gateway(fleet: Fleet, gateway_id: str, where: str) -> GatewayRef:
    gw = fleet.gateway(gateway_id)
    if gw is None:
        raise UnknownTarget(f"{where}.gateway: the fleet has no gateway {gateway_id!r}")
    return Fleet.ref(gw)


class _Step(BaseModel):
    model_config = _FROZEN

    at: Offset = Field(default=timedelta(0), description="When, after the scenario's start")

    def check(self, fleet: Fleet, where: str) -> None:
        """Raise UnknownTarget/ScenarioError if the fleet lacks what this step names."""

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        raise NotImplementedError


class Fire(_Step):
    """Smoke (and, when flaming, heat) in a room; ``aerosol`` is a drill's test smoke."""

    action: Literal["fire"]
    room: Id
    site: Id | None = None
    kind: FireKind = FireKind.FLAMING
    duration: Length = timedelta(minutes=10)

    def check(self, fleet: Fleet, where: str) -> None:
        _room(fleet, self.room, self.site, where)

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        room = _room(fleet, self.room, self.site, "fire")
        room.fire = FireState(self.kind, now, now + self.duration)
        return []


class SlowRoom(_Step):
    """During the next evacuation, ``holdouts`` people stay in the room for ``hold`` (an elder
    who cannot walk, a locked toilet); optionally a slower exit rate."""

    action: Literal["slow_room"]
    room: Id
    site: Id | None = None
    holdouts: int = Field(default=3, ge=1, le=1000)
    hold: Length = timedelta(minutes=8)
    rate_ppm: float | None = Field(default=None, gt=0, le=600)

    def check(self, fleet: Fleet, where: str) -> None:
        _room(fleet, self.room, self.site, where)

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        room = _room(fleet, self.room, self.site, "slow_room")
        room.holdouts = self.holdouts
        room.holdout_until = now + self.hold
        room.arrive(self.holdouts - room.people)
        if self.rate_ppm is not None:
            room.evac_rate_ppm = self.rate_ppm
        return []


class Crowd(_Step):
    """Pack ``factor`` × capacity people into a room for ``duration``, whatever the profile."""

    action: Literal["crowd"]
    room: Id
    site: Id | None = None
    factor: float = Field(default=1.3, gt=0, le=10)
    duration: Length = timedelta(minutes=45)

    def check(self, fleet: Fleet, where: str) -> None:
        _room(fleet, self.room, self.site, where)

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        room = _room(fleet, self.room, self.site, "crowd")
        room.crowd_target = room.capacity * self.factor
        room.crowd_until = now + self.duration
        return []


class PropDoor(_Step):
    """Wedge a door open for ``duration``."""

    action: Literal["prop_door"]
    device: Id
    duration: Length = timedelta(minutes=10)

    def check(self, fleet: Fleet, where: str) -> None:
        _device(fleet, self.device, where, DoorContact, "a door contact")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        door = _device(fleet, self.device, "prop_door", DoorContact, "a door contact")
        door.prop(now + self.duration)
        return []


class ReleaseFailure(_Step):
    """A hold-open magnet that does not release on the alarm (the door reports a fault)."""

    action: Literal["release_failure"]
    device: Id

    def check(self, fleet: Fleet, where: str) -> None:
        door = _device(fleet, self.device, where, DoorContact, "a door contact")
        if door.role is not DoorRole.FIRE_DOOR_HOLD_OPEN:
            raise ScenarioError(f"{where}.device: {self.device!r} is not on a hold-open device")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        door = _device(fleet, self.device, "release_failure", DoorContact, "a door contact")
        door.fails_to_release = True
        return []


class Silence(_Step):
    """A device stops reporting (battery out, removed, radio lost), for ``duration`` or for good."""

    action: Literal["silence"]
    device: Id
    duration: Length | None = None

    def check(self, fleet: Fleet, where: str) -> None:
        _device(fleet, self.device, where, SimDevice, "a device")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        device = _device(fleet, self.device, "silence", SimDevice, "a device")
        device.silent = True
        if self.duration is not None:
            fleet.at(now + self.duration, _Unsilence(device.id))
        return []


@dataclass(frozen=True)
class _Unsilence:
    device: str

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        device = fleet.device(self.device)
        if device is not None:
            device.silent = False
            device.due = now
        return []


class Fault(_Step):
    """Inject a detector fault (``dirty_chamber``, ``sensor_failure``…); ``code: null`` clears."""

    action: Literal["fault"]
    device: Id
    code: str | None = Field(default="dirty_chamber", max_length=64)

    def check(self, fleet: Fleet, where: str) -> None:
        _device(fleet, self.device, where, SmokeDetector, "a smoke or heat detector")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        detector = _device(fleet, self.device, "fault", SmokeDetector, "a detector")
        detector.forced_fault = self.code
        return []


class Battery(_Step):
    """Set a battery device's charge (e.g. 12 to make it chirp)."""

    action: Literal["battery"]
    device: Id
    pct: float = Field(ge=0, le=100)

    def check(self, fleet: Fleet, where: str) -> None:
        device = _device(fleet, self.device, where, SimDevice, "a device")
        if device.battery is None:
            raise ScenarioError(f"{where}.device: {self.device!r} is mains-powered")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        device = _device(fleet, self.device, "battery", SimDevice, "a device")
        device.battery = self.pct
        return []


class Tamper(_Step):
    """A device's cover is opened or it is pulled off its base (``tamper: false`` puts it back)."""

    action: Literal["tamper"]
    device: Id
    tamper: bool = True

    def check(self, fleet: Fleet, where: str) -> None:
        _device(fleet, self.device, where, SimDevice, "a device")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        _device(fleet, self.device, "tamper", SimDevice, "a device").tampered = self.tamper
        return []


class SelfTest(_Step):
    """Run a detector's self-test now (as the down/cmd ``self_test`` command would)."""

    action: Literal["self_test"]
    device: Id

    def check(self, fleet: Fleet, where: str) -> None:
        _device(fleet, self.device, where, SmokeDetector, "a smoke or heat detector")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        _device(fleet, self.device, "self_test", SmokeDetector, "a detector").self_test(now)
        return []


class DriftCounter(_Step):
    """Make a door counter miss exits (and optionally entries) at the given rates."""

    action: Literal["drift_counter"]
    device: Id
    exit_miss: float = Field(default=0.2, ge=0, le=1)
    entry_miss: float | None = Field(default=None, ge=0, le=1)

    def check(self, fleet: Fleet, where: str) -> None:
        _device(fleet, self.device, where, DoorCounter, "a door counter")

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        counter = _device(fleet, self.device, "drift_counter", DoorCounter, "a counter")
        counter.exit_miss = self.exit_miss
        if self.entry_miss is not None:
            counter.entry_miss = self.entry_miss
        return []


class UplinkLoss(_Step):
    """The gateway loses its uplink for ``duration``: the broker publishes its Last Will; it keeps
    its readings and sends them all when the uplink returns."""

    action: Literal["uplink_loss"]
    gateway: Id
    duration: Length = timedelta(hours=1)

    def check(self, fleet: Fleet, where: str) -> None:
        _gateway(fleet, self.gateway, where)

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        gw = fleet.gateway(self.gateway)
        assert gw is not None
        already = gw.uplink_down_until is not None
        gw.uplink_down_until = now + self.duration
        return [] if already else [Offline(Fleet.ref(gw), gw.time(now))]


class RestartBroker(_Step):
    """The broker restarts (the transport does it, or drops every connection if it cannot)."""

    action: Literal["broker_restart"]

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        return [BrokerRestart(now)]


class Hostile(_Step):
    """The gateway publishes malformed and hostile payloads (all, or the ``labels`` given)."""

    action: Literal["hostile"]
    gateway: Id
    labels: tuple[str, ...] | None = None

    def check(self, fleet: Fleet, where: str) -> None:
        _gateway(fleet, self.gateway, where)
        for label in self.labels or ():
            if label not in HOSTILE_LABELS:
                raise ScenarioError(
                    f"{where}.labels: unknown payload {label!r}; known: {', '.join(HOSTILE_LABELS)}"
                )

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        gw = fleet.gateway(self.gateway)
        assert gw is not None
        device = next((d.id for d in gw.gateway.devices), "hostile-dev")
        return [
            Raw(Fleet.ref(gw), p.channel, p.payload, p.label, p.expect)
            for p in hostile_payloads(gw.id, gw.time(now), device)
            if self.labels is None or p.label in self.labels
        ]


class SkewClock(_Step):
    """The gateway's clock is off by ``offset`` (positive: ahead) from now on."""

    action: Literal["skew_clock"]
    gateway: Id
    offset: Duration

    def check(self, fleet: Fleet, where: str) -> None:
        _gateway(fleet, self.gateway, where)

    def apply(self, fleet: Fleet, now: datetime) -> list[Event]:
        gw = fleet.gateway(self.gateway)
        assert gw is not None
        gw.skew = self.offset
        return []


Step = Annotated[
    Fire
    | SlowRoom
    | Crowd
    | PropDoor
    | ReleaseFailure
    | Silence
    | Fault
    | Battery
    | SelfTest
    | Tamper
    | DriftCounter
    | UplinkLoss
    | RestartBroker
    | Hostile
    | SkewClock,
    Field(discriminator="action"),
]


class Expectation(BaseModel):
    """An outcome the system should show: ``rule`` (a RULES.md id, or ``dead_letter``,
    ``evacuation.time``, ``no_loss``) fires (or, with ``raised: false``, does not) for
    ``subject`` within ``within`` of the scenario's start."""

    model_config = _FROZEN

    rule: str = Field(min_length=1, max_length=64)
    subject: str | None = Field(default=None, max_length=64)
    site: str | None = Field(default=None, max_length=64)
    raised: bool = True
    within: Offset | None = None
    value: float | str | None = Field(default=None, description="e.g. the error code expected")
    note: str = Field(default="", max_length=500)


class Scenario(BaseModel):
    """A named script of steps and the outcome it should produce."""

    model_config = _FROZEN

    name: Id
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    outcome: str = Field(default="", max_length=4000, description="What the system should show")
    run_for: Length = Field(default=timedelta(hours=1), description="How long to run it")
    expect: tuple[Expectation, ...] = ()
    steps: tuple[Step, ...] = ()
    source: str = Field(default="", exclude=True, description="File it came from, for errors")

    def check(self, fleet: Fleet) -> None:
        """Raise UnknownTarget (or ScenarioError) if a step names what ``fleet`` lacks."""
        origin = self.source or f"scenario {self.name!r}"
        for i, step in enumerate(self.steps):
            if step.at < timedelta(0):
                raise ScenarioError(f"{origin}: steps[{i}].at: must not be negative")
            step.check(fleet, f"{origin}: steps[{i}]")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {a for a in _ACTIONS}:
            continue  # the discriminator's branch name
        else:
            out += f".{part}" if out else str(part)
    return out or "scenario"


def load_scenario(text: str, source: str) -> Scenario:
    """Parse a scenario YAML document; errors name ``source`` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ScenarioError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping with name, title and steps")
    data.pop("source", None)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if err["type"] == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", "?")
            raise ScenarioError(
                f"{source}: {_loc(err['loc'])}.action: unknown action {tag!r}; known: "
                + ", ".join(sorted(_ACTIONS))
            ) from None
        if err["type"] == "union_tag_not_found":
            raise ScenarioError(f"{source}: {_loc(err['loc'])}.action: missing") from None
        raise ScenarioError(f"{source}: {_loc(err['loc'])}: {err['msg']}") from None
    return scenario.model_copy(update={"source": source})


def load_scenario_file(path: str | Path) -> Scenario:
    """Read and parse a scenario file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc.strerror or exc}") from None
    return load_scenario(text, str(path))


_ACTIONS = {
    cls.model_fields["action"].annotation.__args__[0]  # type: ignore[union-attr]
    for cls in (
        Fire,
        SlowRoom,
        Crowd,
        PropDoor,
        ReleaseFailure,
        Silence,
        Fault,
        Battery,
        SelfTest,
        Tamper,
        DriftCounter,
        UplinkLoss,
        RestartBroker,
        Hostile,
        SkewClock,
    )
}


# -- built-in scenarios --------------------------------------------------------------------------

Builder = Callable[[Fleet, datetime, str | None], Scenario]


@dataclass(frozen=True, slots=True)
class BuiltinScenario:
    name: str
    summary: str
    build: Builder


def _sites(fleet: Fleet, site: str | None) -> list[str]:
    if site is None:
        return list(fleet.sites)
    if site not in fleet.sites:
        raise UnknownTarget(f"scenario: the fleet has no site {site!r}")
    return [site]


def _devices(fleet: Fleet, site: str, kind: type[SimDevice]) -> list[Any]:
    return sorted(
        (d for d in fleet.devices.values() if d.site.id == site and isinstance(d, kind)),
        key=lambda d: d.id,
    )


def _pick(fleet: Fleet, site: str | None, name: str, what: str, pick: Callable[[str], Any]) -> Any:
    for sid in _sites(fleet, site):
        found = pick(sid)
        if found is not None:
            return found
    where = f"site {site!r}" if site else "the fleet"
    raise UnknownTarget(f"scenario {name!r}: {where} has no {what}")


def _detector_rooms(fleet: Fleet, sid: str) -> list[tuple[RoomSim, SmokeDetector]]:
    out: list[tuple[RoomSim, SmokeDetector]] = []
    for det in _devices(fleet, sid, SmokeDetector):
        if det.room is not None and det.spec.kind is DeviceKind.SMOKE:
            out.append((det.room, det))
    return out


def _busiest(pairs: list[tuple[RoomSim, SmokeDetector]]) -> tuple[RoomSim, SmokeDetector] | None:
    return max(pairs, key=lambda p: (p[0].people, p[0].capacity), default=None)


def _normal_week(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    return Scenario(
        name="normal_week",
        title="A normal week",
        description="Seven days of opening hours, day profiles, weekly detector self-tests, "
        "battery drain and counter drift, with nothing going wrong.",
        outcome="Occupancy follows each function's day profile (weekdays busier than weekends); "
        "every self-test is recorded as a test, never an alarm; no smoke alarm.",
        run_for=timedelta(days=7),
        expect=(
            Expectation(rule="smoke.alarm", raised=False, note="self-tests are TEST, not ALARM"),
            Expectation(rule="smoke.functional", note="weekly self-tests recorded as test records"),
        ),
    )


def _fire_drill(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    def pick(sid: str) -> tuple[RoomSim, SmokeDetector] | None:
        return _busiest(_detector_rooms(fleet, sid))

    room, det = _pick(fleet, site, "fire_drill", "room with a smoke detector", pick)
    sid = room.site.id
    holds = [
        d.id for d in _devices(fleet, sid, DoorContact) if d.role is DoorRole.FIRE_DOOR_HOLD_OPEN
    ]
    return Scenario(
        name="fire_drill",
        title=f"Fire drill at {sid}",
        description=f"One minute in, test aerosol is sprayed at {det.id} in room {room.id}: the "
        "detector alarms, the gateway releases every hold-open fire door of the site, and every "
        "room empties at its own pace (elders and infants slower). The alarm clears about a "
        "minute later; people go back in 10 minutes after the site is empty and quiet.",
        outcome="smoke.alarm for the detector within a minute; every hold-open door reports "
        "closed within 10 s of the alarm (no door.not_released); occupancy falls to zero in every "
        "room; the evacuation time (alarm to last room empty) is recorded and matches "
        "Fleet.evacuations(site) within a reporting interval.",
        run_for=timedelta(minutes=25),
        expect=(
            Expectation(rule="smoke.alarm", subject=det.id, site=sid, within=timedelta(minutes=2)),
            *(
                Expectation(rule="door.not_released", subject=h, site=sid, raised=False)
                for h in holds
            ),
            Expectation(
                rule="evacuation.time", subject=sid, site=sid, within=timedelta(minutes=15)
            ),
            Expectation(
                rule="evacuation.incomplete",
                site=sid,
                raised=False,
                note="for every room that empties within the site pack's limit (national 180 s, "
                "Hangzhou 150 s): a smoke alarm starts the clock of every room of the site, and a "
                "full elderly room (about 40 people helped out at 20 a minute) can take longer, "
                "which the drill then rightly flags; rooms measured by door counters only agree "
                "when their miscounts are off (Fleet(exact_counters=True)): real counters leave a "
                "residual of a person or two by mid-day",
            ),
        ),
        steps=(
            Fire(
                action="fire",
                at=timedelta(minutes=1),
                room=room.id,
                site=sid,
                kind=FireKind.AEROSOL,
                duration=timedelta(seconds=60),
            ),
        ),
    )


def _real_fire_slow_room(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    def pick(sid: str) -> tuple[RoomSim, SmokeDetector, RoomSim] | None:
        pairs = _detector_rooms(fleet, sid)
        fire = _busiest(pairs)
        if fire is None:
            return None
        rooms = list(fleet.sites[sid].rooms.values())
        slow_first = [Function.ELDERLY_CARE, Function.INFANT_CARE]
        others = [r for r in rooms if r is not fire[0]] or [fire[0]]
        slow = min(
            others,
            key=lambda r: (
                slow_first.index(r.room.function) if r.room.function in slow_first else 9,
                r.id,
            ),
        )
        return fire[0], fire[1], slow

    room, det, slow = _pick(fleet, site, "real_fire_slow_room", "room with a smoke detector", pick)
    sid = room.site.id
    return Scenario(
        name="real_fire_slow_room",
        title=f"A real fire at {sid}, one room slow to empty",
        description=f"A flaming fire starts in {room.id} one minute in and burns for 15 minutes. "
        f"Three people stay in {slow.id} for 9 minutes (an elder who cannot walk, staff with "
        "them); every other room empties normally.",
        outcome=f"smoke.alarm for {det.id}; evacuation.incomplete for room {slow.id} (occupancy "
        "still above zero 180 s after the alarm), carrying the count; it resolves once the room "
        "is empty.",
        run_for=timedelta(minutes=30),
        expect=(
            Expectation(rule="smoke.alarm", subject=det.id, site=sid, within=timedelta(minutes=3)),
            Expectation(
                rule="evacuation.incomplete",
                subject=slow.id,
                site=sid,
                within=timedelta(minutes=8),
            ),
        ),
        steps=(
            SlowRoom(
                action="slow_room", room=slow.id, site=sid, holdouts=3, hold=timedelta(minutes=9)
            ),
            Fire(
                action="fire",
                at=timedelta(minutes=1),
                room=room.id,
                site=sid,
                duration=timedelta(minutes=15),
            ),
        ),
    )


def _door_propped_open(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    def pick(sid: str) -> DoorContact | None:
        doors = [d for d in _devices(fleet, sid, DoorContact) if d.role is DoorRole.FIRE_DOOR]
        return doors[0] if doors else None

    door = _pick(fleet, site, "door_propped_open", "normally-closed fire door", pick)
    return Scenario(
        name="door_propped_open",
        title=f"Fire door {door.id} wedged open",
        description=f"Thirty seconds in, someone wedges the normally-closed fire door {door.id} "
        "open for 10 minutes.",
        outcome=f"door.held_open fires for {door.id} after 60 s open, and resolves when the door "
        "shuts again ten minutes later.",
        run_for=timedelta(minutes=15),
        expect=(
            Expectation(
                rule="door.held_open",
                subject=door.id,
                site=door.site.id,
                within=timedelta(minutes=3),
            ),
        ),
        steps=(
            PropDoor(
                action="prop_door",
                at=timedelta(seconds=30),
                device=door.id,
                duration=timedelta(minutes=10),
            ),
        ),
    )


def _detector_silent(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    def pick(sid: str) -> SmokeDetector | None:
        found: list[SmokeDetector] = _devices(fleet, sid, SmokeDetector)
        smoke = [d for d in found if d.spec.kind is DeviceKind.SMOKE]
        return next(iter(smoke or found), None)

    det = _pick(fleet, site, "detector_silent", "smoke detector", pick)
    window = det.interval * 3
    return Scenario(
        name="detector_silent",
        title=f"Detector {det.id} goes silent",
        description=f"One minute in, {det.id} stops reporting for good (battery removed, radio "
        "lost). Silence is a safety signal: nothing it says must be read as 'fine'.",
        outcome=f"device.silent (major, smoke detector) for {det.id} once it has been quiet for "
        f"3 × its reporting interval ({int(window.total_seconds())} s).",
        run_for=window + timedelta(minutes=10),
        expect=(
            Expectation(
                rule="device.silent",
                subject=det.id,
                site=det.site.id,
                within=window + det.interval + timedelta(minutes=2),
            ),
        ),
        steps=(Silence(action="silence", at=timedelta(minutes=1), device=det.id),),
    )


def _first_gateway(fleet: Fleet, site: str | None, name: str) -> Any:
    return _pick(
        fleet,
        site,
        name,
        "gateway",
        lambda sid: next((g for g in fleet.gateways.values() if g.site.id == sid), None),
    )


def _uplink_loss(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    gw = _first_gateway(fleet, site, "gateway_uplink_loss_1h")
    return Scenario(
        name="gateway_uplink_loss_1h",
        title=f"Gateway {gw.id} loses its uplink for an hour",
        description=f"Two minutes in, {gw.id}'s uplink drops without a clean disconnect, so the "
        "broker publishes its Last Will. The gateway keeps every reading and, when the uplink "
        "returns an hour later, announces itself online and sends them all with their original "
        "timestamps and ids.",
        outcome=f"gateway.offline for {gw.id} during the outage, resolved when it returns; "
        "afterwards every reading of the hour is stored (nothing lost, none duplicated).",
        run_for=timedelta(hours=1, minutes=10),
        expect=(
            Expectation(
                rule="gateway.offline", subject=gw.id, site=gw.site.id, within=timedelta(minutes=5)
            ),
            Expectation(
                rule="no_loss",
                subject=gw.id,
                site=gw.site.id,
                within=timedelta(hours=1, minutes=10),
            ),
        ),
        steps=(
            UplinkLoss(
                action="uplink_loss",
                at=timedelta(minutes=2),
                gateway=gw.id,
                duration=timedelta(hours=1),
            ),
        ),
    )


def _broker_restart(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    return Scenario(
        name="broker_restart",
        title="The broker restarts",
        description="One minute in, the MQTT broker restarts (the transport restarts it through "
        "its hook, or drops every connection when it has none). Gateways reconnect with backoff "
        "and resend what was not acknowledged.",
        outcome="No reading is lost; gateways are back online within seconds of the broker.",
        run_for=timedelta(minutes=5),
        expect=(Expectation(rule="no_loss", within=timedelta(minutes=5)),),
        steps=(RestartBroker(action="broker_restart", at=timedelta(minutes=1)),),
    )


def _drifting_counter(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    def pick(sid: str) -> DoorCounter | None:
        found = _devices(fleet, sid, DoorCounter)
        return found[0] if found else None

    counter = _pick(fleet, site, "drifting_counter", "door counter", pick)
    room = counter.room.id if counter.room is not None else "?"
    return Scenario(
        name="drifting_counter",
        title=f"Counter {counter.id} misses exits",
        description=f"From the start, {counter.id} misses one exit in five, so entries − exits "
        f"for room {room} climbs through the day although the room empties every evening.",
        outcome="Occupancy computed from the counter drifts above the truth during the day; the "
        "daily reset at 03:00 (room empty) brings it back to zero and says the drift was "
        "corrected.",
        run_for=timedelta(days=1, hours=4),
        expect=(
            Expectation(
                rule="occupancy.drift_corrected",
                subject=room,
                site=counter.site.id,
                within=timedelta(days=1, hours=4),
            ),
        ),
        steps=(DriftCounter(action="drift_counter", device=counter.id, exit_miss=0.2),),
    )


def _lunch_over_capacity(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    def pick(sid: str) -> RoomSim | None:
        rooms = [r for r in fleet.sites[sid].rooms.values() if r.room.function is Function.DINING]
        return rooms[0] if rooms else None

    room = _pick(fleet, site, "lunch_over_capacity", "canteen (dining room)", pick)
    local = start.astimezone(room.site.tz)
    if time(11, 0) <= local.time() < time(13, 0):
        offset = timedelta(seconds=30)
    else:
        lunch = local.replace(hour=11, minute=30, second=0, microsecond=0)
        if lunch <= local:
            lunch += timedelta(days=1)
        offset = lunch - local
    return Scenario(
        name="lunch_over_capacity",
        title=f"Canteen {room.id} over capacity at lunch",
        description=f"At lunch (the next 11:30 local, or at once during 11:00–13:00) 30 % more "
        f"people than its capacity of {room.capacity} crowd into {room.id} for 45 minutes.",
        outcome=f"room.over_capacity for {room.id} after 120 s above capacity; it resolves when "
        "the crowd thins.",
        run_for=offset + timedelta(hours=1),
        expect=(
            Expectation(
                rule="room.over_capacity",
                subject=room.id,
                site=room.site.id,
                within=offset + timedelta(minutes=10),
            ),
        ),
        steps=(
            Crowd(
                action="crowd",
                at=offset,
                room=room.id,
                site=room.site.id,
                factor=1.3,
                duration=timedelta(minutes=45),
            ),
        ),
    )


def _hostile(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    gw = _first_gateway(fleet, site, "hostile_payloads")
    payloads = hostile_payloads(gw.id, start)
    return Scenario(
        name="hostile_payloads",
        title=f"Gateway {gw.id} publishes malformed and hostile payloads",
        description="Thirty seconds in, the gateway publishes bad JSON, a wrong protocol version, "
        "an unknown reading kind, out-of-range values, a huge payload, too many readings, "
        "timestamps far in the future and past, and a payload naming another gateway; its "
        "normal readings carry on around them.",
        outcome="Each payload is dead-lettered with its protocol error code; the consumer keeps "
        "running and every valid reading of the gateway is stored.",
        run_for=timedelta(minutes=5),
        expect=tuple(
            Expectation(
                rule="dead_letter",
                subject=p.label,
                site=gw.site.id,
                value=p.expect.code,
                within=timedelta(minutes=2),
            )
            for p in payloads
        ),
        steps=(Hostile(action="hostile", at=timedelta(seconds=30), gateway=gw.id),),
    )


def _skewed_clock(fleet: Fleet, start: datetime, site: str | None) -> Scenario:
    gw = _first_gateway(fleet, site, "skewed_gateway_clock")
    return Scenario(
        name="skewed_gateway_clock",
        title=f"Gateway {gw.id}'s clock runs two hours ahead",
        description="One minute in, the gateway's clock jumps two hours ahead (a failed NTP sync "
        "after a power cut); its readings and status carry the wrong time.",
        outcome="The server refuses its messages as timestamp_out_of_bounds (more than an hour "
        "ahead) and dead-letters them rather than corrupting 'latest state'; its devices then "
        "raise device.silent.",
        run_for=timedelta(minutes=30),
        expect=(
            Expectation(
                rule="dead_letter",
                subject=gw.id,
                site=gw.site.id,
                value="timestamp_out_of_bounds",
                within=timedelta(minutes=10),
            ),
        ),
        steps=(
            SkewClock(
                action="skew_clock",
                at=timedelta(minutes=1),
                gateway=gw.id,
                offset=timedelta(hours=2),
            ),
        ),
    )


BUILTIN_SCENARIOS: dict[str, BuiltinScenario] = {
    b.name: b
    for b in (
        BuiltinScenario("normal_week", "a week of ordinary days", _normal_week),
        BuiltinScenario(
            "fire_drill", "alarm, doors release, rooms empty, evacuation time", _fire_drill
        ),
        BuiltinScenario(
            "real_fire_slow_room", "a real fire; one room slow to empty", _real_fire_slow_room
        ),
        BuiltinScenario("door_propped_open", "a fire door wedged open", _door_propped_open),
        BuiltinScenario("detector_silent", "a smoke detector stops reporting", _detector_silent),
        BuiltinScenario(
            "gateway_uplink_loss_1h", "a gateway offline for an hour, then catches up", _uplink_loss
        ),
        BuiltinScenario("broker_restart", "the broker restarts", _broker_restart),
        BuiltinScenario("drifting_counter", "a door counter misses exits", _drifting_counter),
        BuiltinScenario(
            "lunch_over_capacity", "the canteen over capacity at lunch", _lunch_over_capacity
        ),
        BuiltinScenario("hostile_payloads", "malformed and hostile MQTT payloads", _hostile),
        BuiltinScenario("skewed_gateway_clock", "a gateway's clock two hours ahead", _skewed_clock),
    )
}


def builtin(
    name: str, fleet: Fleet, *, start: datetime | None = None, site: str | None = None
) -> Scenario:
    """Build the built-in scenario ``name`` for ``fleet`` (targets picked from ``site``, else
    from the first site that has what it needs), to start at ``start`` (default: fleet.now)."""
    spec = BUILTIN_SCENARIOS.get(name)
    if spec is None:
        raise ScenarioError(f"unknown scenario {name!r}; built-in: {', '.join(BUILTIN_SCENARIOS)}")
    return spec.build(fleet, fleet.now if start is None else start, site)
