"""The facility model: sites, rooms, gateways and devices, as the registry describes them.

Pure data with validation; reading the registry file is the caller's job (``parse_registry``
takes the text and the name to put in error messages).
"""

from __future__ import annotations

import enum
from datetime import time
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from protocol import DoorRole, Id

__all__ = [
    "FUNCTION_NAMES_ZH",
    "Device",
    "DeviceKind",
    "Function",
    "Gateway",
    "OpeningHours",
    "Registry",
    "RegistryError",
    "Room",
    "Site",
    "parse_registry",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Function(enum.StrEnum):
    """The nine functions of a community embedded service facility (RULES.md A, mix.count)."""

    ELDERLY_CARE = "elderly_care"  # 养老服务
    INFANT_CARE = "infant_care"  # 婴幼儿托育
    AFTER_SCHOOL = "after_school"  # 儿童托管
    DINING = "dining"  # 社区助餐
    HOUSEKEEPING = "housekeeping"  # 家政便民
    HEALTH = "health"  # 健康服务
    FITNESS = "fitness"  # 体育健身
    CULTURE = "culture"  # 文化休闲
    CHILDREN_PLAY = "children_play"  # 儿童游憩


FUNCTION_NAMES_ZH: dict[Function, str] = {
    Function.ELDERLY_CARE: "养老服务",
    Function.INFANT_CARE: "婴幼儿托育",
    Function.AFTER_SCHOOL: "儿童托管",
    Function.DINING: "社区助餐",
    Function.HOUSEKEEPING: "家政便民",
    Function.HEALTH: "健康服务",
    Function.FITNESS: "体育健身",
    Function.CULTURE: "文化休闲",
    Function.CHILDREN_PLAY: "儿童游憩",
}


class DeviceKind(enum.StrEnum):
    SMOKE = "smoke"  # smoke detector
    HEAT = "heat"  # heat detector
    DOOR = "door"  # door contact
    COUNTER = "counter"  # people counter at a door (entries/exits)
    PRESENCE = "presence"  # presence or people-count sensor in a room


class OpeningHours(BaseModel):
    """Open from ``open`` to ``close`` (local time) on ``days`` (0 = Monday … 6 = Sunday)."""

    model_config = _FROZEN

    days: frozenset[int] = Field(min_length=1)
    open: time
    close: time

    @model_validator(mode="after")
    def _check(self) -> Self:
        if any(d < 0 or d > 6 for d in self.days):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self


class Room(BaseModel):
    model_config = _FROZEN

    id: Id
    name: str = Field(min_length=1, max_length=100, description="Name in Chinese")
    name_en: str | None = Field(default=None, max_length=100)
    function: Function | None = Field(
        default=None, description="One of the nine functions; None for corridors, offices, plant"
    )
    floor: int = Field(ge=-5, le=100, description="1 = ground floor, -1 = first basement")
    semi_basement: bool = False
    area_m2: float | None = Field(default=None, gt=0, le=100_000)
    beds: int | None = Field(default=None, ge=0, le=10_000)
    places: int | None = Field(default=None, ge=0, le=10_000)
    licensed_capacity: int | None = Field(default=None, ge=0, le=100_000)
    occupant_use: str | None = Field(
        default=None,
        max_length=40,
        description="Occupant-load category of the rule pack (day_care, dining…); else by function",
    )


class Device(BaseModel):
    model_config = _FROZEN

    id: Id
    kind: DeviceKind
    room: Id | None = None
    role: DoorRole | None = Field(default=None, description="For door contacts")
    # Detectors report a heartbeat every few minutes; 300 s is a common default.
    reporting_interval_s: float = Field(default=300, gt=0, le=86_400)
    model: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind is DeviceKind.DOOR and self.role is None:
            raise ValueError("a door contact needs a role")
        if self.kind is not DeviceKind.DOOR and self.role is not None:
            raise ValueError("only door contacts have a role")
        return self


class Gateway(BaseModel):
    model_config = _FROZEN

    id: Id
    name: str | None = Field(default=None, max_length=100)
    # Gateways send a status heartbeat; 60 s is the edge agent's default.
    heartbeat_s: float = Field(default=60, gt=0, le=86_400)
    devices: tuple[Device, ...] = ()


class Site(BaseModel):
    model_config = _FROZEN

    id: Id
    name: str = Field(min_length=1, max_length=200, description="Name in Chinese")
    name_en: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    timezone: str = "Asia/Shanghai"
    jurisdiction: str = Field(default="national", max_length=40, description="Rule pack id")
    households: int | None = Field(default=None, ge=0, le=1_000_000)
    new_community: bool | None = None
    floor_area_m2: float | None = Field(default=None, gt=0, le=1_000_000)
    residents: int | None = Field(default=None, ge=0, le=10_000_000)
    opening_hours: tuple[OpeningHours, ...] = ()
    rooms: tuple[Room, ...] = ()
    gateways: tuple[Gateway, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        room_ids = [r.id for r in self.rooms]
        _unique(room_ids, "room")
        _unique([g.id for g in self.gateways], "gateway")
        known = set(room_ids)
        for gateway in self.gateways:
            for device in gateway.devices:
                if device.room is not None and device.room not in known:
                    raise ValueError(
                        f"device {device.id!r} of gateway {gateway.id!r} names room "
                        f"{device.room!r}, which site {self.id!r} does not have"
                    )
        return self

    def room(self, room_id: str) -> Room | None:
        return next((r for r in self.rooms if r.id == room_id), None)

    def devices(self) -> list[tuple[Gateway, Device]]:
        return [(g, d) for g in self.gateways for d in g.devices]


class Registry(BaseModel):
    model_config = _FROZEN

    sites: tuple[Site, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique([s.id for s in self.sites], "site")
        # Gateway and device ids are global: the gateway id is its MQTT username, and a reading
        # names only its device.
        _unique([g.id for s in self.sites for g in s.gateways], "gateway")
        _unique([d.id for s in self.sites for _, d in s.devices()], "device")
        return self

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"{what} id {value!r} appears twice")
        seen.add(value)


class RegistryError(ValueError):
    """A registry file that cannot be used; the message names the file and the field."""


def _loc(loc: tuple[int | str, ...], data: Any) -> str:
    """Render a pydantic location with ids instead of list indexes where the data has them."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            label = item.get("id") if isinstance(item, dict) else None
            parts[-1] += f"[{label!r}]" if label else f"[{part}]"
            node = item
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def parse_registry(text: str, source: str) -> Registry:
    """Parse a registry YAML document; errors name ``source`` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise RegistryError(f"{where}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RegistryError(f"{source}: expected a mapping with 'sites', got {type(data).__name__}")
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise RegistryError(f"{source}: {_loc(err['loc'], data)}: {err['msg']}") from None
