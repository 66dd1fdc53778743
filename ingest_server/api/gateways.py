"""Gateways: registry entries and their last reported status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel

from ingest_server.api._common import Service
from ingest_server.auth import visible_sites
from protocol import ID_PATTERN
from rules import Gateway

router = APIRouter(tags=["gateways"])

GatewayId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


class GatewayOut(BaseModel):
    """A gateway: where the registry puts it (None if unregistered) and its last status."""

    id: str
    site: str | None
    registered: bool
    name: str | None = None
    heartbeat_s: float | None = None
    devices: int = 0
    state: str | None = None
    status_ts: datetime | None = None
    status_received_at: datetime | None = None
    status: dict[str, Any] | None = None


@router.get("/gateways", summary="Gateways with their last status (registered or not)")
def list_gateways(
    service: Service,
    request: Request,
    site: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
) -> list[GatewayOut]:
    allowed = visible_sites(request)
    out: dict[str, GatewayOut] = {}
    for s in service.registry.snapshot().sites:
        if (site is not None and s.id != site) or (allowed is not None and s.id not in allowed):
            continue
        for g in s.gateways:
            out[g.id] = GatewayOut(
                id=g.id,
                site=s.id,
                registered=True,
                name=g.name,
                heartbeat_s=g.heartbeat_s,
                devices=len(g.devices),
            )
    for st in service.records.gateway_statuses(site):
        entry = out.get(st["gateway"]) or GatewayOut(
            id=st["gateway"], site=st["site"], registered=False
        )
        out[st["gateway"]] = entry.model_copy(
            update={
                "state": st["state"],
                "status_ts": st["ts"],
                "status_received_at": st["received_at"],
                "status": st["status"],
            }
        )
    return [out[k] for k in sorted(out)]


@router.post(
    "/sites/{site_id}/gateways", status_code=status.HTTP_201_CREATED, summary="Add a gateway"
)
def create_gateway(service: Service, site_id: SiteId, gateway: Gateway) -> Gateway:
    if gateway.devices:
        raise HTTPException(422, "devices are added through /gateways/{gateway}/devices")
    return service.registry.put_gateway(site_id, gateway, create=True)


@router.put("/sites/{site_id}/gateways/{gateway_id}", summary="Replace a gateway's own fields")
def replace_gateway(
    service: Service, site_id: SiteId, gateway_id: GatewayId, gateway: Gateway
) -> Gateway:
    if gateway.id != gateway_id:
        raise HTTPException(422, f"body id {gateway.id!r} differs from the path's {gateway_id!r}")
    if gateway.devices:
        raise HTTPException(422, "devices are edited through /gateways/{gateway}/devices")
    return service.registry.put_gateway(site_id, gateway, create=False)


@router.delete(
    "/gateways/{gateway_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a gateway and its devices",
)
def delete_gateway(service: Service, gateway_id: GatewayId) -> None:
    service.registry.delete_gateway(gateway_id)
