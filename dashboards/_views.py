"""What the pages show, computed from the registry, the stores and the live hub in one call
(the browser would otherwise need a dozen requests per site).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from dashboards._live import RESET_AT, LiveHub, reset_day
from dashboards._seed import CounterRoom, counter_baselines
from rules import (
    Capacity,
    ComplianceReport,
    PackError,
    Site,
    evaluate_compliance,
    load_pack,
    room_capacity,
)

if TYPE_CHECKING:
    # Types only: ingest_server includes this package's router, so no import at run time.
    from ingest_server import IngestService, StoredReading

__all__ = [
    "DeviceView",
    "GatewayView",
    "OverviewView",
    "RoomView",
    "SiteSummary",
    "SiteView",
    "overview",
    "site_view",
]

# RULES.md B, device.silent / gateway.offline: silent after 3 × the reporting interval.
SILENT_FACTOR = 3
# Readings a gateway stamped slightly ahead of the server's clock still count.
_FUTURE_SLACK = timedelta(minutes=5)


class DeviceView(BaseModel):
    id: str
    kind: str
    room: str | None
    gateway: str
    role: str | None
    state: str | None
    fields: dict[str, Any]
    last_seen: datetime | None
    silent: bool


class GatewayView(BaseModel):
    id: str
    name: str | None
    state: str | None
    last_seen: datetime | None
    offline: bool


class RoomView(BaseModel):
    id: str
    name: str
    name_en: str | None
    floor: int
    function: str | None
    capacity: int | None
    capacity_basis_zh: str | None
    capacity_basis_en: str | None
    occupancy: int | None
    occupied: bool | None
    source: Literal["count", "counter", "presence", "none"]
    updated: datetime | None


class SiteView(BaseModel):
    """One site for the site page: rooms by floor with live state, devices, gateways."""

    id: str
    name: str
    name_en: str | None
    timezone: str
    now: datetime
    day_start: datetime
    rooms: list[RoomView]
    devices: list[DeviceView]
    gateways: list[GatewayView]


class SiteSummary(BaseModel):
    id: str
    name: str
    name_en: str | None
    timezone: str
    occupancy: int
    capacity: int | None
    rooms: int
    devices: int
    devices_silent: int
    gateways: int
    gateways_offline: int
    compliance_pass: int | None
    compliance_fail: int | None
    compliance_unknown: int | None
    last_seen: datetime | None


class OverviewView(BaseModel):
    now: datetime
    sites: list[SiteSummary]


def _capacities(site: Site) -> dict[str, Capacity]:
    try:
        pack = load_pack(site.jurisdiction)
    except PackError:
        return {}
    out: dict[str, Capacity] = {}
    for room in site.rooms:
        cap = room_capacity(room, pack)
        if cap is not None:
            out[room.id] = cap
    return out


def _compliance(site: Site) -> ComplianceReport | None:
    try:
        return evaluate_compliance(site)
    except PackError:
        return None


def _devices(site: Site, latest: Iterable[StoredReading], now: datetime) -> list[DeviceView]:
    newest: dict[str, StoredReading] = {}
    state_of: dict[str, StoredReading] = {}
    health_of: dict[str, StoredReading] = {}
    for s in latest:
        if s.device not in newest or s.ts > newest[s.device].ts:
            newest[s.device] = s
        if s.kind == "health":
            health_of[s.device] = s
        else:
            state_of[s.device] = s
    out: list[DeviceView] = []
    for gateway, device in site.devices():
        last = newest.get(device.id)
        main = state_of.get(device.id)
        fields = main.fields() if main is not None else {}
        health = health_of.get(device.id)
        if health is not None:
            fields = {**{f"health_{k}": v for k, v in health.fields().items()}, **fields}
        limit = timedelta(seconds=SILENT_FACTOR * device.reporting_interval_s)
        out.append(
            DeviceView(
                id=device.id,
                kind=device.kind.value,
                room=device.room,
                gateway=gateway.id,
                role=device.role.value if device.role else None,
                state=str(fields["state"]) if "state" in fields else None,
                fields=fields,
                last_seen=last.ts if last else None,
                silent=last is None or now - last.ts > limit,
            )
        )
    return out


def _gateways(site: Site, statuses: list[dict[str, Any]], now: datetime) -> list[GatewayView]:
    by_id = {st["gateway"]: st for st in statuses}
    out: list[GatewayView] = []
    for gateway in site.gateways:
        st = by_id.get(gateway.id)
        seen: datetime | None = st["received_at"] if st else None
        limit = timedelta(seconds=SILENT_FACTOR * gateway.heartbeat_s)
        offline = st is None or st["state"] != "online" or seen is None or now - seen > limit
        out.append(
            GatewayView(
                id=gateway.id,
                name=gateway.name,
                state=st["state"] if st else None,
                last_seen=seen,
                offline=offline,
            )
        )
    return out


_Occupancy = dict[str, tuple[int | None, bool | None, str, datetime | None]]


@dataclass(frozen=True, slots=True)
class _Seed:
    """What the store says of a room the hub does not know yet (its counter part comes from
    :func:`dashboards._seed.counter_baselines`)."""

    site: str
    room: str
    counts: dict[str, int]
    occupied: dict[str, bool]
    counters: tuple[str, ...]
    ts: datetime | None


def _seeds(hub: LiveHub, site: Site, latest: list[StoredReading]) -> list[_Seed]:
    """The rooms of ``site`` the hub has to be seeded with, and their latest occupancy."""
    hub.set_timezone(site.id, site.timezone)
    occupancy_devices: dict[str, list[str]] = {}
    for _gateway, device in site.devices():
        if device.room is not None and device.kind.value in ("counter", "presence"):
            occupancy_devices.setdefault(device.room, []).append(device.id)
    latest_occ = {s.device: s for s in latest if s.kind == "occupancy"}
    out: list[_Seed] = []
    for room in site.rooms:
        state = hub.room(site.id, room.id)
        if state is not None and not (state.has_counter and state.counter is None):
            continue
        counts: dict[str, int] = {}
        occupied: dict[str, bool] = {}
        counters: list[str] = []
        ts: datetime | None = None
        for device_id in occupancy_devices.get(room.id, []):
            reading = latest_occ.get(device_id)
            if reading is None:
                continue
            fields = reading.fields()
            ts = reading.ts if ts is None or reading.ts > ts else ts
            if "count" in fields:
                counts[device_id] = int(fields["count"])
            elif "occupied" in fields:
                occupied[device_id] = bool(fields["occupied"])
            else:
                counters.append(device_id)
        out.append(_Seed(site.id, room.id, counts, occupied, tuple(counters), ts))
    return out


def _seed_hub(
    service: IngestService, hub: LiveHub, sites: Sequence[tuple[Site, list[_Seed]]], now: datetime
) -> None:
    """Seed the hub with ``sites``' rooms, the counter baselines of all of them in one go."""
    end = now + _FUTURE_SLACK
    wanted: list[CounterRoom] = []
    todays: dict[str, date] = {}
    for site, seeds in sites:
        today = todays[site.id] = reset_day(now, site.timezone)
        start = datetime.combine(today, RESET_AT, tzinfo=ZoneInfo(site.timezone))
        wanted.extend(
            CounterRoom(seed.site, seed.room, seed.counters, start, end)
            for seed in seeds
            if seed.counters
        )
    baselines = counter_baselines(service.store, wanted)
    for site, seeds in sites:
        for seed in seeds:
            counter, ids = baselines.get((seed.site, seed.room), (None, set()))
            hub.seed(
                seed.site,
                seed.room,
                seed.counts,
                counter,
                todays[site.id] if counter is not None else None,
                seed.occupied,
                seed.ts,
                ids,
            )


def _room_occupancy(hub: LiveHub, site: Site, now: datetime) -> _Occupancy:
    """Per room of a seeded site: (occupancy, occupied, source, updated)."""
    today = reset_day(now, site.timezone)
    out: _Occupancy = {}
    for room in site.rooms:
        state = hub.room(site.id, room.id)
        if state is None:
            out[room.id] = (None, None, "none", None)
            continue
        if state.counts:
            source = "count"
        elif state.has_counter:
            source = "counter"
            if state.counter_day is not None and state.counter_day < today:
                state.counter = 0
        elif state.occupied:
            source = "presence"
        else:
            source = "none"
        out[room.id] = (state.value(), state.is_occupied(), source, state.ts)
    return out


def site_view(service: IngestService, hub: LiveHub, site: Site, now: datetime) -> SiteView:
    """The site page's data."""
    latest = service.store.latest(site=site.id)
    caps = _capacities(site)
    seeds = _seeds(hub, site, latest)
    if seeds:
        _seed_hub(service, hub, [(site, seeds)], now)
    occ = _room_occupancy(hub, site, now)
    rooms = [
        RoomView(
            id=room.id,
            name=room.name,
            name_en=room.name_en,
            floor=room.floor,
            function=room.function.value if room.function else None,
            capacity=caps[room.id].value if room.id in caps else None,
            capacity_basis_zh=caps[room.id].basis_zh if room.id in caps else None,
            capacity_basis_en=caps[room.id].basis_en if room.id in caps else None,
            occupancy=occ[room.id][0],
            occupied=occ[room.id][1],
            source=occ[room.id][2],
            updated=occ[room.id][3],
        )
        for room in sorted(site.rooms, key=lambda r: (-r.floor, r.id))
    ]
    return SiteView(
        id=site.id,
        name=site.name,
        name_en=site.name_en,
        timezone=site.timezone,
        now=now,
        day_start=now.astimezone(ZoneInfo(site.timezone)).replace(
            hour=0, minute=0, second=0, microsecond=0
        ),
        rooms=rooms,
        devices=_devices(site, latest, now),
        gateways=_gateways(site, service.records.gateway_statuses(site.id), now),
    )


def overview(
    service: IngestService, hub: LiveHub, sites: Iterable[Site], now: datetime
) -> OverviewView:
    """Every site's summary for the overview page."""
    latest_all = service.store.latest()
    statuses_all = service.records.gateway_statuses()
    by_site: dict[str, list[StoredReading]] = {}
    for s in latest_all:
        by_site.setdefault(s.site, []).append(s)
    status_by_site: dict[str, list[dict[str, Any]]] = {}
    for st in statuses_all:
        status_by_site.setdefault(st["site"], []).append(st)
    sites = list(sites)
    to_seed = [
        (site, seeds) for site in sites if (seeds := _seeds(hub, site, by_site.get(site.id, [])))
    ]
    if to_seed:
        _seed_hub(service, hub, to_seed, now)
    out: list[SiteSummary] = []
    for site in sites:
        latest = by_site.get(site.id, [])
        caps = _capacities(site)
        occ = _room_occupancy(hub, site, now)
        devices = _devices(site, latest, now)
        gateways = _gateways(site, status_by_site.get(site.id, []), now)
        report = _compliance(site)
        counts = report.counts if report is not None else None
        seen = [d.last_seen for d in devices if d.last_seen is not None]
        out.append(
            SiteSummary(
                id=site.id,
                name=site.name,
                name_en=site.name_en,
                timezone=site.timezone,
                occupancy=sum(v[0] or 0 for v in occ.values()),
                capacity=sum(c.value for c in caps.values()) if caps else None,
                rooms=len(site.rooms),
                devices=len(devices),
                devices_silent=sum(d.silent for d in devices),
                gateways=len(gateways),
                gateways_offline=sum(g.offline for g in gateways),
                compliance_pass=counts["pass"] if counts else None,
                compliance_fail=counts["fail"] if counts else None,
                compliance_unknown=counts["unknown"] if counts else None,
                last_seen=max(seen) if seen else None,
            )
        )
    return OverviewView(now=now, sites=out)
