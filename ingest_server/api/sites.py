"""Sites of the facility registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status

from ingest_server.api._common import Limit, Offset, Page, Service
from ingest_server.auth import Permission, Principal, visible_sites
from protocol import ID_PATTERN
from rules import Site

router = APIRouter(prefix="/sites", tags=["sites"])

# What a manager may edit of a site: its names, address and opening hours (rooms have their own
# routes); the rest decides which rules and norms apply and is an admin's.
_MANAGER_FIELDS = ("name", "name_en", "address", "opening_hours")

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
def replace_site(service: Service, request: Request, site_id: SiteId, site: Site) -> Site:
    _own_fields_only(site)
    if site.id != site_id:
        raise HTTPException(422, f"body id {site.id!r} differs from the path's {site_id!r}")
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal) and not principal.can(Permission.REGISTRY_EDIT):
        current = service.registry.snapshot().site(site_id)
        if current is not None:
            changed = sorted(
                name
                for name in Site.model_fields
                if name not in (*_MANAGER_FIELDS, "rooms", "gateways")
                and getattr(site, name) != getattr(current, name)
            )
            if changed:
                # The jurisdiction picks the rule pack; households and areas drive the norms.
                raise HTTPException(
                    403,
                    f"role {principal.role} may change only {', '.join(_MANAGER_FIELDS)}; "
                    f"not {', '.join(changed)}",
                )
    return service.registry.put_site(site, create=False)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a site")
def delete_site(service: Service, site_id: SiteId) -> None:
    service.registry.delete_site(site_id)
