"""Rooms of a site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from ingest_server.api._common import Service
from protocol import ID_PATTERN
from rules import Room

router = APIRouter(prefix="/sites/{site_id}/rooms", tags=["rooms"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
RoomId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


@router.get("", summary="Rooms of a site")
def list_rooms(service: Service, site_id: SiteId) -> list[Room]:
    site = service.registry.snapshot().site(site_id)
    if site is None:
        raise HTTPException(404, f"site {site_id!r} does not exist")
    return list(site.rooms)


@router.get("/{room_id}", summary="One room")
def get_room(service: Service, site_id: SiteId, room_id: RoomId) -> Room:
    site = service.registry.snapshot().site(site_id)
    room = site.room(room_id) if site is not None else None
    if room is None:
        raise HTTPException(404, f"room {room_id!r} of site {site_id!r} does not exist")
    return room


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a room (an unknown function is refused; floor norms are checked by compliance)",
)
def create_room(service: Service, site_id: SiteId, room: Room) -> Room:
    return service.registry.put_room(site_id, room, create=True)


@router.put("/{room_id}", summary="Replace a room")
def replace_room(service: Service, site_id: SiteId, room_id: RoomId, room: Room) -> Room:
    if room.id != room_id:
        raise HTTPException(422, f"body id {room.id!r} differs from the path's {room_id!r}")
    return service.registry.put_room(site_id, room, create=False)


@router.delete("/{room_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a room")
def delete_room(service: Service, site_id: SiteId, room_id: RoomId) -> None:
    service.registry.delete_room(site_id, room_id)
