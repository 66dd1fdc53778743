"""A room's capacity, and the basis it was taken from.

Licensed capacity, else beds, else places, else floor area ÷ the occupant load factor of the
room's use (the registry's ``occupant_use``, else the pack's use for the room's function).
Live rules (over-capacity) and utilization take this value; responses state the basis.
"""

from __future__ import annotations

import enum
import math

from pydantic import BaseModel, ConfigDict, computed_field

from rules._packs import Pack, SourceRef
from rules.facility import Room

__all__ = ["Capacity", "CapacityBasis", "occupant_use", "room_capacity"]

# Areas are given to 0.01 m² and factors to 0.01 m²/person; a quotient within this of a whole
# number is that whole number (65 m² ÷ 3.25 is 20 people, not 19.999…).
_EPSILON = 1e-9


class CapacityBasis(enum.StrEnum):
    LICENSED = "licensed"  # the licensed capacity in the registry
    BEDS = "beds"  # the number of beds
    PLACES = "places"  # the number of (care) places
    OCCUPANT_LOAD = "occupant_load"  # floor area ÷ occupant load factor of the room's use


_BASIS_TEXT: dict[CapacityBasis, tuple[str, str]] = {
    CapacityBasis.LICENSED: ("核定容量", "licensed capacity"),
    CapacityBasis.BEDS: ("床位数", "number of beds"),
    CapacityBasis.PLACES: ("托位数", "number of places"),
    CapacityBasis.OCCUPANT_LOAD: ("面积÷人员荷载系数", "floor area ÷ occupant load factor"),
}


class Capacity(BaseModel):
    """The number of people a room is for, and how that number was found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    room: str
    value: int
    basis: CapacityBasis
    occupant_use: str | None = None
    m2_per_person: float | None = None
    area_m2: float | None = None
    source: SourceRef | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def basis_zh(self) -> str:
        return self._describe(0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def basis_en(self) -> str:
        return self._describe(1)

    def _describe(self, lang: int) -> str:
        text = _BASIS_TEXT[self.basis][lang]
        if self.basis is CapacityBasis.OCCUPANT_LOAD:
            text += f" ({self.area_m2:g} m² ÷ {self.m2_per_person:g} m²/{('人', 'person')[lang]}"
            text += f", {self.occupant_use})"
        return text


def occupant_use(room: Room, pack: Pack) -> str | None:
    """The occupant-load use of ``room``: its own, else the pack's use for its function."""
    if room.occupant_use is not None:
        return room.occupant_use
    if room.function is None:
        return None
    return pack.function_uses.get(room.function)


def room_capacity(room: Room, pack: Pack) -> Capacity | None:
    """The capacity of ``room`` under ``pack``, or None when nothing gives one.

    A licensed capacity is used as given, even 0 (a room nobody may use); beds and places
    only when positive. An occupant use the pack does not know gives None, like a room with no
    area: the capacity is unknown rather than guessed.
    """
    if room.licensed_capacity is not None:
        return Capacity(room=room.id, value=room.licensed_capacity, basis=CapacityBasis.LICENSED)
    if room.beds:
        return Capacity(room=room.id, value=room.beds, basis=CapacityBasis.BEDS)
    if room.places:
        return Capacity(room=room.id, value=room.places, basis=CapacityBasis.PLACES)
    use = occupant_use(room, pack)
    load = pack.occupant_load.get(use) if use is not None else None
    if load is None or room.area_m2 is None:
        return None
    # Rounded down: a fraction of a person more than the area allows is already too many.
    value = math.floor(room.area_m2 / load.m2_per_person + _EPSILON)
    return Capacity(
        room=room.id,
        value=value,
        basis=CapacityBasis.OCCUPANT_LOAD,
        occupant_use=use,
        m2_per_person=load.m2_per_person,
        area_m2=room.area_m2,
        source=load.source,
    )
