"""The live engine: readings and statuses update per-site facts; rules turn facts into conditions;
shared timers turn conditions into decisions.

Per (rule, subject) timer phases::

    (none) --SET--> pending --"for" elapsed--> firing --CLEAR--> clearing --kept--> (none)
    clearing --SET--> firing;  pending --CLEAR--> (none);  "for" = 0 goes straight to firing

A pending timer survives HOLD (inside the hysteresis band) and ends on CLEAR. The whole state is a
serialisable :class:`EngineSnapshot`; conditions carry the time they started, so a door open for
50 of its 60 s when the server stopped fires 10 s after it is back.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from protocol import (
    DoorReading,
    GatewayState,
    GatewayStatus,
    HealthReading,
    OccupancyReading,
    Reading,
    SmokeReading,
    SmokeState,
)
from rules.facility import Device, Gateway, Site
from rules.live._base import Condition, Input, RuleBase, Status
from rules.live._facts import (
    EVACUATION_WINDOW,
    DoorFact,
    GatewayFact,
    HealthFact,
    RoomFact,
    SiteFacts,
    SiteView,
    SmokeFact,
)
from rules.live._model import Change, Decision, DecisionState, Severity, Text
from rules.live._pack import RulePack

__all__ = ["EngineSnapshot", "LiveEngine", "TimerState"]

SNAPSHOT_VERSION = 1
# Reading ids remembered to drop replays: an edge outbox replays at most a few hundred unacked
# readings per gateway after a reconnect; 20,000 covers a site's worth with room to spare.
_SEEN_IDS = 20_000
# Ids kept in a snapshot: replays after a server restart are the last few seconds of traffic.
_SNAPSHOT_IDS = 2_000


# Counter-derived counts go back to zero at this local hour, when every centre is closed and
# empty: what entries − exits still holds then is drift. The same hour the utilization series
# resets at (rules.utilization.occupancy_from_counter), so live and reported occupancy agree.
COUNTER_RESET = time(3, 0)

_INPUT_OF = {"smoke": Input.SMOKE, "door": Input.DOOR, "health": Input.HEALTH}


class Phase(enum.StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    CLEARING = "clearing"  # firing, the clear condition holds, waiting out "keep firing for"


class TimerState(BaseModel):
    """One (rule, subject)'s timer."""

    rule: str
    subject: str
    site: str
    phase: Phase
    since: datetime
    fired_at: datetime | None = None
    clear_since: datetime | None = None
    severity: Severity
    message: Text
    details: dict[str, Any] = Field(default_factory=dict)
    room: str | None = None
    device: str | None = None
    gateway: str | None = None


class EngineSnapshot(BaseModel):
    """Everything the engine must remember across a restart."""

    version: int = SNAPSHOT_VERSION
    taken_at: datetime
    sites: dict[str, SiteFacts]
    timers: list[TimerState]
    seen_ids: list[str] = Field(default_factory=list)


class LiveEngine:
    """Evaluates the live rules of RULES.md B. Pure: no I/O, time comes in as ``now``.

    ``packs`` maps a jurisdiction to its pack; a site uses the pack named by its
    ``jurisdiction``, else ``default_pack``. ``capacities`` maps site → room → capacity.
    Not thread-safe: one caller at a time.
    """

    def __init__(
        self,
        sites: Iterable[Site],
        packs: Mapping[str, RulePack],
        capacities: Mapping[str, Mapping[str, int]] | None = None,
        *,
        start: datetime,
        default_pack: str = "national",
    ) -> None:
        self._start = start
        self._default_pack = default_pack
        self._packs: dict[str, RulePack] = dict(packs)
        self._capacities: dict[str, Mapping[str, int]] = dict(capacities or {})
        self._facts: dict[str, SiteFacts] = {}
        # Timers per site, then per (rule, subject): a reading only touches its own site's.
        self._timers: dict[str, dict[tuple[str, str], TimerState]] = {}
        self._views: dict[str, SiteView] = {}
        self._sites: dict[str, Site] = {}
        self._seen: deque[str] = deque(maxlen=_SEEN_IDS)
        self._seen_set: set[str] = set()
        self.ignored = 0  # readings of devices the registry doesn't know
        self.duplicates = 0
        self.set_sites(sites)

    # -- configuration -----------------------------------------------------------------------

    def set_sites(self, sites: Iterable[Site], now: datetime | None = None) -> list[Decision]:
        """Replace the registry's sites; facts of kept sites are kept. Alerts of sites that are
        gone resolve (at ``now``, default the engine's start)."""
        self._sites = {s.id: s for s in sites}
        self._devices: dict[str, tuple[Site, Gateway, Device]] = {
            d.id: (s, g, d) for s in self._sites.values() for g, d in s.devices()
        }
        self._gateways = {g.id: s for s in self._sites.values() for g in s.gateways}
        for site_id in self._sites:
            self._facts.setdefault(site_id, SiteFacts(started=now or self._start))
            self._timers.setdefault(site_id, {})
        self._views = {}
        out: list[Decision] = []
        for site_id in [s for s in self._timers if s not in self._sites]:
            for timer in self._timers.pop(site_id).values():
                if timer.phase is not Phase.PENDING:
                    when = now or self._start
                    out.append(self._decision(timer, when, DecisionState.RESOLVED, Change.RESOLVED))
            self._facts.pop(site_id, None)
        return out

    def set_packs(self, packs: Mapping[str, RulePack]) -> None:
        """Use new packs (only ever validated ones: the caller keeps the last good pack)."""
        self._packs = dict(packs)

    def set_capacities(self, capacities: Mapping[str, Mapping[str, int]]) -> None:
        self._capacities = dict(capacities)
        self._views = {}

    def pack_for(self, site: Site) -> RulePack | None:
        return self._packs.get(site.jurisdiction) or self._packs.get(self._default_pack)

    # -- inputs ------------------------------------------------------------------------------

    def on_reading(self, reading: Reading, now: datetime) -> list[Decision]:
        """Take one reading (any site; the device id finds it) and evaluate its site."""
        return self.on_readings((reading,), now)

    def on_readings(self, readings: Iterable[Reading], now: datetime) -> list[Decision]:
        """Take readings in arrival order. A change of state (smoke, door, health) is evaluated
        at once, so no transition inside a batch is missed; occupancy changes are evaluated once
        per site at the end, since a count inside a batch is superseded by the next one."""
        out: list[Decision] = []
        dirty: dict[str, set[Input]] = {}
        # Per site, whether a silence-type alert is open: only an evaluation of the site changes
        # its timers, so this is computed once per site and batch, and again after one.
        watching: dict[str, bool] = {}
        seen, seen_set, devices, all_facts = self._seen, self._seen_set, self._devices, self._facts
        for reading in readings:
            reading_id = reading.id
            if reading_id in seen_set:
                self.duplicates += 1
                continue
            if len(seen) == _SEEN_IDS:  # self._remember(reading_id), inlined
                seen_set.discard(seen[0])
            seen.append(reading_id)
            seen_set.add(reading_id)
            found = devices.get(reading.device)
            if found is None:
                self.ignored += 1
                continue
            site, gateway, device = found
            site_id = site.id
            facts = all_facts[site_id]
            facts.last_seen[device.id] = now
            gw = facts.gateways.get(gateway.id)
            if gw is None:
                facts.gateways[gateway.id] = GatewayFact(last_seen=now)
            elif now > gw.last_seen:
                gw.last_seen = now
            changed = dirty.get(site_id)
            if changed is None:
                changed = dirty[site_id] = set()
            silence = watching.get(site_id)
            if silence is None:
                silence = watching[site_id] = self._watching_silence(site_id)
            if silence:
                changed.add(Input.SEEN)
            ts = now if now < reading.ts else reading.ts  # min(reading.ts, now)
            if reading.kind == "occupancy":
                if type(reading) is OccupancyReading:
                    self._apply_occupancy(facts, device, reading, ts)
                else:
                    self._apply(facts, site, device, reading, ts)
                changed.add(Input.OCCUPANCY)
                continue
            changed.add(_INPUT_OF[reading.kind])
            self._apply(facts, site, device, reading, ts)
            out.extend(self._evaluate(site, now, dirty.pop(site_id)))
            watching.pop(site_id, None)
        for site_id, changed in dirty.items():
            if changed:
                out.extend(self._evaluate(self._sites[site_id], now, changed))
        return out

    def _watching_silence(self, site_id: str) -> bool:
        """Whether a silence-type alert is open in the site, which any message may clear."""
        timers = self._timers[site_id]
        if not timers:
            return False
        pack = self.pack_for(self._sites[site_id])
        if pack is None:
            return False
        silence_rules = {r.id for r in pack.rules if Input.SEEN in r.inputs}
        return any(rule in silence_rules for rule, _ in timers)

    def on_status(self, status: GatewayStatus, now: datetime) -> list[Decision]:
        """Take a gateway status: a birth/heartbeat, or the Last Will (state offline)."""
        site = self._gateways.get(status.gateway)
        if site is None:
            self.ignored += 1
            return []
        facts = self._facts[site.id]
        fact = facts.gateways.get(status.gateway)
        if fact is None:
            fact = facts.gateways[status.gateway] = GatewayFact(last_seen=now)
        if status.state is GatewayState.ONLINE:
            fact.online = True
            fact.offline_since = None
            fact.last_seen = now
        elif fact.online:
            fact.online = False
            fact.offline_since = now
        return self._evaluate(site, now, {Input.STATUS})

    def on_occupancy(self, site_id: str, room: str, count: int, now: datetime) -> list[Decision]:
        """Set a room's occupancy when it is computed elsewhere (drift-corrected counters)."""
        site = self._sites.get(site_id)
        if site is None or site.room(room) is None:
            self.ignored += 1
            return []
        self._set_count(self._facts[site_id], room, max(0, count), now)
        return self._evaluate(site, now, {Input.OCCUPANCY})

    def tick(self, now: datetime) -> list[Decision]:
        """Evaluate every site: durations elapsing, silent devices, missed heartbeats."""
        out: list[Decision] = []
        for site in self._sites.values():
            self._reset_counters(site, now)
            out.extend(self._evaluate(site, now))
        return out

    def drift_corrections(self, site_id: str) -> dict[str, tuple[datetime, int]]:
        """Per room, the last daily reset of its counter-derived count and the drift removed."""
        facts = self._facts.get(site_id)
        if facts is None:
            return {}
        return {
            room: (fact.reset_at, fact.reset_from)
            for room, fact in facts.rooms.items()
            if fact.reset_at is not None and fact.reset_from is not None
        }

    def _reset_counters(self, site: Site, now: datetime) -> None:
        """Once a day at COUNTER_RESET local time, zero the rooms counted by door counters: the
        site is closed and empty, and what is left is missed exits. Skipped while a smoke alarm
        is active (an evacuation is being measured)."""
        facts = self._facts[site.id]
        zone = ZoneInfo(site.timezone)
        local = now.astimezone(zone)
        day = local.date() if local.time() >= COUNTER_RESET else local.date() - timedelta(days=1)
        moment = datetime.combine(day, COUNTER_RESET, zone)
        if moment <= (facts.counters_reset_at or facts.started):
            return
        facts.counters_reset_at = moment
        if _any_alarm(facts):
            return
        for room_id, fact in facts.rooms.items():
            if fact.from_counter and fact.count > 0:
                fact.reset_at, fact.reset_from = moment, fact.count
                self._set_count(facts, room_id, 0, moment)

    # -- state -------------------------------------------------------------------------------

    def active(self) -> list[TimerState]:
        """Pending and firing timers."""
        return [t.model_copy() for timers in self._timers.values() for t in timers.values()]

    def occupancy(self, site_id: str) -> dict[str, int]:
        facts = self._facts.get(site_id)
        return {r: f.count for r, f in facts.rooms.items()} if facts else {}

    def evacuation_s(self, site_id: str, room: str) -> float | None:
        """Seconds from the room's last alarm to the room being empty, if measured."""
        facts = self._facts.get(site_id)
        fact = facts.rooms.get(room) if facts else None
        return fact.evacuation_s() if fact else None

    def snapshot(self, now: datetime) -> EngineSnapshot:
        """A deep copy of the engine's state, safe to serialise with ``model_dump_json``."""
        return EngineSnapshot(
            taken_at=now,
            sites={k: v.model_copy(deep=True) for k, v in self._facts.items()},
            timers=[t.model_copy(deep=True) for ts in self._timers.values() for t in ts.values()],
            seen_ids=list(self._seen)[-_SNAPSHOT_IDS:],
        )

    def restore(self, snapshot: EngineSnapshot, now: datetime) -> None:
        """Continue from ``snapshot``. Silence clocks move on by the downtime, so devices are not
        blamed for the server being down; condition timers do not, so durations keep counting."""
        if snapshot.version != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {snapshot.version}, expected {SNAPSHOT_VERSION}")
        downtime = max(now - snapshot.taken_at, timedelta(0))
        for site_id, facts in snapshot.sites.items():
            if site_id not in self._sites:
                continue
            restored = facts.model_copy(deep=True)
            restored.shift_silence(downtime)
            self._facts[site_id] = restored
        self._timers = {site_id: {} for site_id in self._sites}
        for timer in snapshot.timers:
            if timer.site in self._sites:
                self._timers[timer.site][(timer.rule, timer.subject)] = timer.model_copy(deep=True)
        self._views = {}
        for reading_id in snapshot.seen_ids:
            self._remember(reading_id)

    # -- internals ---------------------------------------------------------------------------

    def _remember(self, reading_id: str) -> None:
        if reading_id in self._seen_set:
            return
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(reading_id)
        self._seen_set.add(reading_id)

    def _newer(self, facts: SiteFacts, device: str, ts: datetime) -> bool:
        last = facts.last_ts.get(device)
        if last is not None and ts < last:
            return False
        facts.last_ts[device] = ts
        return True

    def _apply(
        self, facts: SiteFacts, site: Site, device: Device, reading: Reading, ts: datetime
    ) -> None:
        match reading:
            case OccupancyReading():
                self._apply_occupancy(facts, device, reading, ts)
            case _ if not self._newer(facts, device.id, ts):
                return  # an older state than the one we hold: a late replay
            case SmokeReading():
                self._apply_smoke(facts, site, device, reading, ts)
            case DoorReading():
                old = facts.doors.get(device.id)
                since = old.since if old is not None and old.state is reading.state else ts
                facts.doors[device.id] = DoorFact(
                    state=reading.state,
                    role=reading.role,
                    since=since,
                    fault=bool(reading.fault),
                )
            case HealthReading():
                prev = facts.health.get(device.id) or HealthFact()
                facts.health[device.id] = HealthFact(
                    battery_low=prev.battery_low
                    if reading.battery_low is None
                    else reading.battery_low,
                    tamper=prev.tamper if reading.tamper is None else reading.tamper,
                    fault=reading.fault,
                )

    def _apply_smoke(
        self, facts: SiteFacts, site: Site, device: Device, reading: SmokeReading, ts: datetime
    ) -> None:
        old = facts.smoke.get(device.id)
        since = old.since if old is not None and old.state is reading.state else ts
        was_alarm = _any_alarm(facts)
        facts.smoke[device.id] = SmokeFact(state=reading.state, since=since)
        now_alarm = _any_alarm(facts)
        if now_alarm and not was_alarm:
            self._start_evacuation(facts, site, ts)
        elif was_alarm and not now_alarm:
            _end_evacuation(facts, ts)

    @staticmethod
    def _start_evacuation(facts: SiteFacts, site: Site, ts: datetime) -> None:
        """A smoke alarm starts the evacuation clock of every room of its zone. The registry
        defines no zones, so the zone is the whole site: everyone leaves a burning centre,
        whichever room's detector went off (RULES.md B, "in a room or zone")."""
        for room_id in {r.id for r in site.rooms} | set(facts.rooms):
            fact = facts.room(room_id)
            fact.alarm_at = ts
            fact.alarm_cleared_at = None
            fact.count_at_alarm = fact.count
            fact.evacuated_at = ts if fact.count == 0 else None

    def _apply_occupancy(
        self, facts: SiteFacts, device: Device, reading: OccupancyReading, ts: datetime
    ) -> None:
        if device.room is None:
            return
        fact = facts.room(device.room)
        entries, exits = reading.entries, reading.exits
        if entries is not None and exits is not None:
            if not fact.from_counter:
                fact.from_counter = True
            # Deltas apply whatever their order; the id dedupe keeps replays out.
            self._set_fact_count(fact, max(0, fact.count + entries - exits), ts)
            return
        if not self._newer(facts, device.id, ts):
            return
        if reading.count is not None:
            self._set_fact_count(fact, reading.count, ts)
        elif reading.occupied is not None:
            count = max(fact.count, 1) if reading.occupied else 0
            self._set_fact_count(fact, count, ts)

    def _set_count(self, facts: SiteFacts, room: str, count: int, ts: datetime) -> None:
        self._set_fact_count(facts.room(room), count, ts)

    @staticmethod
    def _set_fact_count(fact: RoomFact, count: int, ts: datetime) -> None:
        if (
            count > 0
            and fact.alarm_at is not None
            and fact.alarm_cleared_at is None
            and fact.evacuated_at == fact.alarm_at
            and ts <= fact.alarm_at
        ):
            # A count taken before the alarm but delivered after it (alarms travel on their own,
            # faster lane at the edge and at the server): the room was occupied when the alarm
            # went off, so its evacuation is still to be measured.
            fact.evacuated_at = None
            fact.count_at_alarm = max(fact.count_at_alarm or 0, count)
        if fact.count != count:
            fact.count = count
            fact.since = ts
        if (
            count == 0
            and fact.alarm_at is not None
            and fact.evacuated_at is None
            and (fact.alarm_cleared_at is None or ts <= fact.alarm_at + EVACUATION_WINDOW)
        ):
            fact.evacuated_at = max(ts, fact.alarm_at)

    def _view(self, site: Site) -> SiteView:
        view = self._views.get(site.id)
        if view is None:
            view = self._views[site.id] = SiteView(
                site=site, facts=self._facts[site.id], capacities=self._capacities.get(site.id, {})
            )
        view.refresh(self._facts[site.id])
        return view

    def _evaluate(
        self, site: Site, now: datetime, changed: set[Input] | None = None
    ) -> list[Decision]:
        """Evaluate the site's rules that read any of ``changed`` (None: every rule)."""
        pack = self.pack_for(site)
        out: list[Decision] = []
        if pack is None:
            return out
        view = self._view(site)
        timers = self._timers[site.id]
        seen: set[tuple[str, str]] = set()
        rules = {r.id: r for r in pack.rules if r.enabled}
        evaluated = {
            rule_id
            for rule_id, rule in rules.items()
            if changed is None or not rule.inputs.isdisjoint(changed)
        }
        for rule_id in evaluated:
            rule = rules[rule_id]
            for cond in rule.evaluate(view, now):
                if not rule.applies_to(site.id, cond.room):
                    continue
                seen.add((rule.id, cond.subject))
                self._step(rule, cond, site.id, now, out)
        for key, timer in list(timers.items()):
            if key in seen:
                continue
            rule_now = rules.get(timer.rule)
            if rule_now is None:  # the rule was removed or disabled: end its alerts now
                del timers[key]
                if timer.phase is not Phase.PENDING:
                    out.append(self._decision(timer, now, DecisionState.RESOLVED, Change.RESOLVED))
                continue
            if timer.rule not in evaluated:
                continue
            gone = Condition(
                subject=timer.subject,
                status=Status.CLEAR,
                message=timer.message,
                details=timer.details,
                room=timer.room,
                device=timer.device,
                gateway=timer.gateway,
            )
            self._step(rule_now, gone, site.id, now, out)
        return out

    def _step(
        self, rule: RuleBase, cond: Condition, site: str, now: datetime, out: list[Decision]
    ) -> None:
        key = (rule.id, cond.subject)
        timers = self._timers[site]
        timer = timers.get(key)
        base = cond.severity or rule.severity
        if timer is None:
            if cond.status is not Status.SET:
                return
            since = min(cond.since or now, now)
            timer = TimerState(
                rule=rule.id,
                subject=cond.subject,
                site=site,
                phase=Phase.PENDING,
                since=since,
                severity=base,
                message=cond.message,
                details=cond.details,
                room=cond.room,
                device=cond.device,
                gateway=cond.gateway,
            )
            timers[key] = timer
            if (now - since).total_seconds() < rule.for_s:
                out.append(self._decision(timer, now, DecisionState.PENDING, Change.PENDING, rule))
                return

        if timer.phase is Phase.PENDING:
            if cond.status is Status.CLEAR:
                del timers[key]
                out.append(self._decision(timer, now, DecisionState.RESOLVED, Change.CANCELLED))
                return
            if cond.status is Status.SET:
                timer.message, timer.details = cond.message, cond.details
            if (now - timer.since).total_seconds() < rule.for_s:
                return
            timer.phase = Phase.FIRING
            timer.fired_at = now
            timer.severity = rule.severity_after(base, 0)
            out.append(self._decision(timer, now, DecisionState.FIRING, Change.FIRED, rule))
            return

        if cond.status is Status.CLEAR:
            if timer.phase is Phase.FIRING:
                timer.phase = Phase.CLEARING
                timer.clear_since = now
            assert timer.clear_since is not None
            if (now - timer.clear_since).total_seconds() >= rule.keep_firing_for_s:
                del timers[key]
                if cond.details:
                    timer.details = {**timer.details, **cond.details}
                out.append(self._decision(timer, now, DecisionState.RESOLVED, Change.RESOLVED))
            return
        if cond.status is Status.SET:
            timer.phase = Phase.FIRING
            timer.clear_since = None
        assert timer.fired_at is not None
        severity = rule.severity_after(base, (now - timer.fired_at).total_seconds())
        changed_details = cond.status is Status.SET and cond.details != timer.details
        if cond.status is Status.SET:
            timer.message, timer.details = cond.message, cond.details
        if severity.rank > timer.severity.rank:
            timer.severity = severity
            out.append(self._decision(timer, now, DecisionState.FIRING, Change.ESCALATED, rule))
        elif severity is not timer.severity or changed_details:
            timer.severity = severity
            out.append(self._decision(timer, now, DecisionState.FIRING, Change.UPDATED, rule))

    def _decision(
        self,
        timer: TimerState,
        now: datetime,
        state: DecisionState,
        change: Change,
        rule: RuleBase | None = None,
    ) -> Decision:
        return Decision(
            rule=timer.rule,
            subject=timer.subject,
            site=timer.site,
            state=state,
            change=change,
            severity=timer.severity,
            at=now,
            since=timer.since,
            message=timer.message,
            details=dict(timer.details),
            room=timer.room,
            device=timer.device,
            gateway=timer.gateway,
            remind_every_s=rule.remind_every_s if rule else None,
        )


def _any_alarm(facts: SiteFacts) -> bool:
    """Whether any detector of the site (the alarm's zone) is in alarm."""
    return any(f.state is SmokeState.ALARM for f in facts.smoke.values())


def _end_evacuation(facts: SiteFacts, ts: datetime) -> None:
    """The zone's alarm cleared: every room whose clock it started is marked at ``ts``; from
    then on a room is still measured until EVACUATION_WINDOW after the alarm started, so a room
    emptied later (at closing time) is never taken for an evacuation."""
    for fact in facts.rooms.values():
        if fact.alarm_at is not None and fact.alarm_cleared_at is None:
            fact.alarm_cleared_at = max(ts, fact.alarm_at)
