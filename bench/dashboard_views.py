"""The overview and site-page data for a city pilot: 100 sites × 10 rooms × 5 devices.

Builds a registry, a SQLite telemetry store with a day of readings (half the rooms with
presence counts every 5 minutes, half with door counters) and gateway statuses, then times
``overview`` (cold: the live hub is seeded from the store; warm: seeded) and one ``site_view``.
What is timed is the page-data computation the HTTP endpoint runs, without HTTP.

Run: .venv/bin/python bench/dashboard_views.py [--sites 100] [--rooms 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from dashboards import LiveHub
from dashboards._views import overview, site_view
from ingest_server import StoredReading, StoredStatus
from ingest_server._migrations import migrate
from ingest_server._records import Records
from ingest_server.db import make_engine
from ingest_server.store import SqliteStore
from protocol import (
    GatewayState,
    GatewayStatus,
    OccupancyReading,
    OccupancySource,
    SmokeReading,
    SmokeState,
)
from rules import Device, DeviceKind, Function, Gateway, Registry, Room, Site

FUNCTIONS = list(Function)


def build(sites: int, rooms: int) -> Registry:
    out = []
    for s in range(sites):
        sid = f"s{s:03d}"
        room_list = [
            Room(
                id=f"r{r}",
                name=f"房间{r}",
                function=FUNCTIONS[r % len(FUNCTIONS)],
                floor=1 + r // 4,
                area_m2=60 + 10 * r,
            )
            for r in range(rooms)
        ]
        devices = []
        for r in range(rooms):
            kind = DeviceKind.PRESENCE if r % 2 == 0 else DeviceKind.COUNTER
            devices.append(Device(id=f"{sid}-occ-{r}", kind=kind, room=f"r{r}"))
            devices.append(Device(id=f"{sid}-smk-{r}", kind=DeviceKind.SMOKE, room=f"r{r}"))
            devices.append(Device(id=f"{sid}-smkb-{r}", kind=DeviceKind.SMOKE, room=f"r{r}"))
            devices.append(Device(id=f"{sid}-heat-{r}", kind=DeviceKind.HEAT, room=f"r{r}"))
            devices.append(Device(id=f"{sid}-pres-{r}", kind=DeviceKind.PRESENCE, room=f"r{r}"))
        out.append(
            Site(
                id=sid,
                name=f"社区中心{s}",
                households=3000,
                floor_area_m2=900,
                rooms=tuple(room_list),
                gateways=(Gateway(id=f"{sid}-gw", devices=tuple(devices)),),
            )
        )
    return Registry(sites=tuple(out))


def fill(store: SqliteStore, records: Records, registry: Registry, now: datetime) -> int:
    written = 0
    start = now - timedelta(hours=20)
    for site in registry.sites:
        batch: list[StoredReading] = []
        for _gw, device in site.devices():
            if device.id.split("-")[1] == "occ":
                for i in range(0, 20 * 12):
                    ts = start + timedelta(minutes=5 * i)
                    if device.kind is DeviceKind.PRESENCE:
                        reading = OccupancyReading(
                            id=f"{device.id}-{i}",
                            device=device.id,
                            ts=ts,
                            source=OccupancySource.PRESENCE,
                            count=i % 13,
                        )
                    else:
                        reading = OccupancyReading(
                            id=f"{device.id}-{i}",
                            device=device.id,
                            ts=ts,
                            source=OccupancySource.COUNTER,
                            entries=i % 3,
                            exits=i % 2,
                        )
                    batch.append(
                        StoredReading(reading, site.id, f"{site.id}-gw", device.room, False)
                    )
            elif device.kind in (DeviceKind.SMOKE, DeviceKind.HEAT):
                reading = SmokeReading(
                    id=f"{device.id}-0",
                    device=device.id,
                    ts=now - timedelta(minutes=2),
                    state=SmokeState.NORMAL,
                )
                batch.append(StoredReading(reading, site.id, f"{site.id}-gw", device.room, False))
        written += len(store.write(batch))
        status = GatewayStatus(gateway=f"{site.id}-gw", state=GatewayState.ONLINE, ts=now)
        records.write([], [StoredStatus(site.id, status, now)])
    return written


CPU: list[float] = []


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Wall times of ``repeat`` calls; their CPU times go to ``CPU`` (the last call's last)."""
    out = []
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        CPU.append(time.process_time() - c0)
    return out


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    now = datetime.now(UTC)
    registry = build(args.sites, args.rooms)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "telemetry.db")
        engine = make_engine(f"sqlite:///{Path(tmp) / 'records.db'}")
        migrate(engine, now)
        records = Records(engine)
        t0 = time.perf_counter()
        readings = fill(store, records, registry, now)
        fill_s = time.perf_counter() - t0
        service = SimpleNamespace(store=store, records=records)
        hub = LiveHub()
        load = _load()
        cold = timed(lambda: overview(service, hub, registry.sites, now), 1)  # type: ignore[arg-type]
        cold_cpu = CPU[-1]
        warm = timed(lambda: overview(service, hub, registry.sites, now), args.repeat)  # type: ignore[arg-type]
        warm_cpu = statistics.median(CPU[-args.repeat :])
        size = len(overview(service, hub, registry.sites, now).model_dump_json())  # type: ignore[arg-type]
        one = timed(lambda: site_view(service, hub, registry.sites[0], now), args.repeat)  # type: ignore[arg-type]
        store.close()
    devices = sum(len(s.devices()) for s in registry.sites)
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(
        f"{args.sites} sites, {args.sites * args.rooms} rooms, {devices} devices, "
        f"{readings} readings stored in {fill_s:.1f} s"
    )
    print(f"load average before the queries: {load}")
    print(
        f"overview, cold (hub seeded from the store): {cold[0] * 1000:.0f} ms"
        f" (CPU {cold_cpu * 1000:.0f} ms)"
    )
    print(
        f"overview, warm: median {statistics.median(warm) * 1000:.0f} ms of {args.repeat}; "
        f"JSON {size / 1024:.0f} KiB (CPU median {warm_cpu * 1000:.0f} ms)"
    )
    print(f"site view (one site): median {statistics.median(one) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
