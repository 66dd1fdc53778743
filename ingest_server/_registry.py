"""The facility registry as records: loaded from YAML at start, edited through the API.

Every change is applied to a copy of the current :class:`rules.Registry` and validated as a
whole (unique ids, devices placed in rooms of their own site) before it is written; the
in-memory snapshot is swapped only after the write committed, so the consumer always tags
readings from a registry that is valid and durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest_server._errors import RegistryConflict
from ingest_server._tables import DeviceRow, GatewayRow, RoomRow, SiteRow
from rules import Device, Gateway, Registry, Room, Site

__all__ = ["DevicePlace", "RegistryStore"]


@dataclass(frozen=True, slots=True)
class DevicePlace:
    """Where the registry puts a device."""

    site: str
    gateway: str
    room: str | None


def _validation_reason(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


class RegistryStore:
    """Registry tables plus a validated in-memory snapshot."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._snapshot = self._load()
        self._places = self._index(self._snapshot)
        self._gateway_sites = self._index_gateways(self._snapshot)

    # -- reads ---------------------------------------------------------------------------

    def snapshot(self) -> Registry:
        """The current registry (immutable)."""
        return self._snapshot

    def locate(self, device: str) -> DevicePlace | None:
        """Where ``device`` is, or None if the registry does not know it."""
        return self._places.get(device)

    def gateway_site(self, gateway: str) -> str | None:
        """The site ``gateway`` belongs to, or None if the registry does not know it."""
        return self._gateway_sites.get(gateway)

    @staticmethod
    def _index_gateways(registry: Registry) -> dict[str, str]:
        return {g.id: s.id for s in registry.sites for g in s.gateways}

    @staticmethod
    def _index(registry: Registry) -> dict[str, DevicePlace]:
        return {
            d.id: DevicePlace(s.id, g.id, d.room) for s in registry.sites for g, d in s.devices()
        }

    def _load(self) -> Registry:
        with Session(self._engine) as session:
            sites = session.scalars(select(SiteRow).order_by(SiteRow.id)).all()
            rooms = session.scalars(select(RoomRow).order_by(RoomRow.site_id, RoomRow.id)).all()
            gateways = session.scalars(select(GatewayRow).order_by(GatewayRow.id)).all()
            devices = session.scalars(select(DeviceRow).order_by(DeviceRow.id)).all()
            out = []
            for site in sites:
                site_gateways = []
                for gw in gateways:
                    if gw.site_id != site.id:
                        continue
                    devs = [d.data for d in devices if d.gateway_id == gw.id]
                    site_gateways.append({**gw.data, "devices": devs})
                site_rooms = [r.data for r in rooms if r.site_id == site.id]
                out.append({**site.data, "rooms": site_rooms, "gateways": site_gateways})
        return Registry.model_validate({"sites": out})

    # -- writes --------------------------------------------------------------------------

    def replace_from(self, registry: Registry) -> None:
        """Merge a registry file in: entities it names are created or replaced, others kept."""

        def change(data: dict[str, Any]) -> None:
            incoming = registry.model_dump(mode="json")
            by_id = {s["id"]: s for s in data["sites"]}
            for site in incoming["sites"]:
                old = by_id.get(site["id"])
                if old is not None:
                    rooms = {r["id"]: r for r in old["rooms"]} | {r["id"]: r for r in site["rooms"]}
                    gws = {g["id"]: g for g in old["gateways"]}
                    gws |= {g["id"]: g for g in site["gateways"]}
                    site = {**site, "rooms": list(rooms.values()), "gateways": list(gws.values())}
                by_id[site["id"]] = site
            data["sites"] = list(by_id.values())

        self._apply(change)

    def put_site(self, site: Site, *, create: bool) -> Site:
        """Create (``create``) or replace a site's own fields; its rooms and gateways stay."""
        fields = site.model_dump(mode="json", exclude={"rooms", "gateways"})

        def change(data: dict[str, Any]) -> None:
            current = _find(data["sites"], site.id)
            if create and current is not None:
                raise RegistryConflict(f"site {site.id!r} already exists", status=409)
            if not create and current is None:
                raise RegistryConflict(f"site {site.id!r} does not exist", status=404)
            if current is None:
                data["sites"].append({**fields, "rooms": [], "gateways": []})
            else:
                current.update(fields)

        registry = self._apply(change)
        result = registry.site(site.id)
        assert result is not None
        return result

    def delete_site(self, site_id: str) -> None:
        def change(data: dict[str, Any]) -> None:
            site = _need(data["sites"], site_id, "site")
            if site["gateways"]:
                raise RegistryConflict(
                    f"site {site_id!r} still has gateways; delete them first", status=409
                )
            data["sites"].remove(site)

        self._apply(change)

    def put_room(self, site_id: str, room: Room, *, create: bool) -> Room:
        def change(data: dict[str, Any]) -> None:
            site = _need(data["sites"], site_id, "site")
            _put(site["rooms"], room.model_dump(mode="json"), f"room {room.id!r}", create)

        self._apply(change)
        return room

    def delete_room(self, site_id: str, room_id: str) -> None:
        def change(data: dict[str, Any]) -> None:
            site = _need(data["sites"], site_id, "site")
            site["rooms"].remove(_need(site["rooms"], room_id, "room"))

        self._apply(change)

    def put_gateway(self, site_id: str, gateway: Gateway, *, create: bool) -> Gateway:
        """Create or replace a gateway's own fields; its devices stay."""
        fields = gateway.model_dump(mode="json", exclude={"devices"})

        def change(data: dict[str, Any]) -> None:
            site = _need(data["sites"], site_id, "site")
            current = _find(site["gateways"], gateway.id)
            elsewhere = any(
                _find(s["gateways"], gateway.id) for s in data["sites"] if s is not site
            )
            if create and (current is not None or elsewhere):
                raise RegistryConflict(f"gateway {gateway.id!r} already exists", status=409)
            if not create and current is None:
                raise RegistryConflict(
                    f"gateway {gateway.id!r} does not exist in site {site_id!r}", status=404
                )
            if current is None:
                site["gateways"].append({**fields, "devices": []})
            else:
                current.update(fields)

        self._apply(change)
        return gateway

    def delete_gateway(self, gateway_id: str) -> None:
        def change(data: dict[str, Any]) -> None:
            for site in data["sites"]:
                gw = _find(site["gateways"], gateway_id)
                if gw is not None:
                    site["gateways"].remove(gw)
                    return
            raise RegistryConflict(f"gateway {gateway_id!r} does not exist", status=404)

        self._apply(change)

    def put_device(self, gateway_id: str, device: Device, *, create: bool) -> Device:
        def change(data: dict[str, Any]) -> None:
            target = None
            moved = False
            for site in data["sites"]:
                for gw in site["gateways"]:
                    if gw["id"] == gateway_id:
                        target = gw
                    elif _find(gw["devices"], device.id) is not None:
                        if create:
                            raise RegistryConflict(
                                f"device {device.id!r} already exists on gateway {gw['id']!r}",
                                status=409,
                            )
                        gw["devices"].remove(_find(gw["devices"], device.id))
                        moved = True
            if target is None:
                raise RegistryConflict(f"gateway {gateway_id!r} does not exist", status=404)
            item = device.model_dump(mode="json")
            _put(target["devices"], item, f"device {device.id!r}", create or moved)

        self._apply(change)
        return device

    def delete_device(self, device_id: str) -> None:
        def change(data: dict[str, Any]) -> None:
            for site in data["sites"]:
                for gw in site["gateways"]:
                    dev = _find(gw["devices"], device_id)
                    if dev is not None:
                        gw["devices"].remove(dev)
                        return
            raise RegistryConflict(f"device {device_id!r} does not exist", status=404)

        self._apply(change)

    def _apply(self, change: Callable[[dict[str, Any]], None]) -> Registry:
        with self._lock:
            data = self._snapshot.model_dump(mode="json")
            change(data)
            try:
                candidate = Registry.model_validate(data)
            except ValidationError as exc:
                raise RegistryConflict(_validation_reason(exc)) from None
            self._persist(candidate)
            self._snapshot = candidate
            self._places = self._index(candidate)
            self._gateway_sites = self._index_gateways(candidate)
            return candidate

    def _persist(self, registry: Registry) -> None:
        sites: dict[str, dict[str, Any]] = {}
        rooms: dict[tuple[str, str], dict[str, Any]] = {}
        gateways: dict[str, tuple[str, dict[str, Any]]] = {}
        devices: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
        for site in registry.sites:
            sites[site.id] = site.model_dump(mode="json", exclude={"rooms", "gateways"})
            for room in site.rooms:
                rooms[(site.id, room.id)] = room.model_dump(mode="json")
            for gw in site.gateways:
                gateways[gw.id] = (site.id, gw.model_dump(mode="json", exclude={"devices"}))
                for dev in gw.devices:
                    devices[dev.id] = (gw.id, dev.room, dev.model_dump(mode="json"))
        with Session(self._engine) as session, session.begin():
            for drow in session.scalars(select(DeviceRow)):
                if drow.id not in devices:
                    session.delete(drow)
            for grow in session.scalars(select(GatewayRow)):
                if grow.id not in gateways:
                    session.delete(grow)
            for rrow in session.scalars(select(RoomRow)):
                if (rrow.site_id, rrow.id) not in rooms:
                    session.delete(rrow)
            for srow in session.scalars(select(SiteRow)):
                if srow.id not in sites:
                    session.delete(srow)
            session.flush()
            for site_id, site_data in sites.items():
                session.merge(SiteRow(id=site_id, data=site_data))
            session.flush()
            for (site_id, room_id), room_data in rooms.items():
                session.merge(RoomRow(site_id=site_id, id=room_id, data=room_data))
            for gw_id, (site_id, gw_data) in gateways.items():
                session.merge(GatewayRow(id=gw_id, site_id=site_id, data=gw_data))
            session.flush()
            for dev_id, (gw_id, dev_room, dev_data) in devices.items():
                session.merge(
                    DeviceRow(id=dev_id, gateway_id=gw_id, room_id=dev_room, data=dev_data)
                )


def _find(items: list[dict[str, Any]], item_id: str) -> dict[str, Any] | None:
    return next((i for i in items if i["id"] == item_id), None)


def _need(items: list[dict[str, Any]], item_id: str, what: str) -> dict[str, Any]:
    found = _find(items, item_id)
    if found is None:
        raise RegistryConflict(f"{what} {item_id!r} does not exist", status=404)
    return found


def _put(items: list[dict[str, Any]], item: dict[str, Any], what: str, create: bool) -> None:
    current = _find(items, item["id"])
    if create and current is not None:
        raise RegistryConflict(f"{what} already exists", status=409)
    if not create and current is None:
        raise RegistryConflict(f"{what} does not exist", status=404)
    if current is None:
        items.append(item)
    else:
        items[items.index(current)] = item
