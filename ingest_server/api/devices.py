"""Devices of the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel

from ingest_server.api._common import Limit, Offset, Page, Service
from ingest_server.auth import visible_sites
from protocol import ID_PATTERN
from rules import Device

router = APIRouter(tags=["devices"])

DeviceId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
GatewayId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)]


class DeviceOut(BaseModel):
    """A device and where it is."""

    site: str
    gateway: str
    device: Device


@router.get("/devices", summary="Devices, optionally of one site, gateway or room")
def list_devices(
    service: Service,
    request: Request,
    site: IdQuery = None,
    gateway: IdQuery = None,
    room: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[DeviceOut]:
    allowed = visible_sites(request)
    items = [
        DeviceOut(site=s.id, gateway=g.id, device=d)
        for s in service.registry.snapshot().sites
        if (site is None or s.id == site) and (allowed is None or s.id in allowed)
        for g, d in s.devices()
        if (gateway is None or g.id == gateway) and (room is None or d.room == room)
    ]
    items.sort(key=lambda d: d.device.id)
    return Page(total=len(items), offset=offset, limit=limit, items=items[offset:][:limit])


@router.get("/devices/{device_id}", summary="One device")
def get_device(service: Service, device_id: DeviceId) -> DeviceOut:
    for s in service.registry.snapshot().sites:
        for g, d in s.devices():
            if d.id == device_id:
                return DeviceOut(site=s.id, gateway=g.id, device=d)
    raise HTTPException(404, f"device {device_id!r} does not exist")


@router.post(
    "/gateways/{gateway_id}/devices",
    status_code=status.HTTP_201_CREATED,
    summary="Add a device to a gateway",
)
def create_device(service: Service, gateway_id: GatewayId, device: Device) -> Device:
    return service.registry.put_device(gateway_id, device, create=True)


@router.put(
    "/gateways/{gateway_id}/devices/{device_id}",
    summary="Replace a device (moving it to this gateway if it was on another)",
)
def replace_device(
    service: Service, gateway_id: GatewayId, device_id: DeviceId, device: Device
) -> Device:
    if device.id != device_id:
        raise HTTPException(422, f"body id {device.id!r} differs from the path's {device_id!r}")
    return service.registry.put_device(gateway_id, device, create=False)


@router.delete(
    "/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a device"
)
def delete_device(service: Service, device_id: DeviceId) -> None:
    service.registry.delete_device(device_id)
