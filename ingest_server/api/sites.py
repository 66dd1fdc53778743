"""Sites of the facility registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status

from ingest_server.api._common import Limit, Offset, Page, Service
from ingest_server.auth import visible_sites
from protocol import ID_PATTERN
from rules import Site

router = APIRouter(prefix="/sites", tags=["sites"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


def _own_fields_only(site: Site) -> None:
    if site.rooms or site.gateways:
        raise HTTPException(
            422, "rooms and gateways are edited through /sites/{site}/rooms and /gateways"
        )


@router.get("", summary="List sites with their rooms, gateways and devices")
def list_sites(
    service: Service, request: Request, offset: Offset = 0, limit: Limit = 100
) -> Page[Site]:
    allowed = visible_sites(request)
    sites = [s for s in service.registry.snapshot().sites if allowed is None or s.id in allowed]
    return Page(total=len(sites), offset=offset, limit=limit, items=list(sites[offset:][:limit]))


@router.get("/{site_id}", summary="One site")
def get_site(service: Service, site_id: SiteId) -> Site:
    site = service.registry.snapshot().site(site_id)
    if site is None:
        raise HTTPException(404, f"site {site_id!r} does not exist")
    return site


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a site")
def create_site(service: Service, site: Site) -> Site:
    _own_fields_only(site)
    return service.registry.put_site(site, create=True)


@router.put("/{site_id}", summary="Replace a site's own fields (rooms and gateways stay)")
def replace_site(service: Service, site_id: SiteId, site: Site) -> Site:
    _own_fields_only(site)
    if site.id != site_id:
        raise HTTPException(422, f"body id {site.id!r} differs from the path's {site_id!r}")
    return service.registry.put_site(site, create=False)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a site")
def delete_site(service: Service, site_id: SiteId) -> None:
    service.registry.delete_site(site_id)
