from __future__ import annotations

import pytest

from rules import CapacityBasis, load_pack, room_capacity
from tests.rules.norms.factories import room

PACK = load_pack("national")


@pytest.mark.parametrize(
    ("fields", "value", "basis"),
    [
        ({"licensed_capacity": 12, "beds": 30, "area_m2": 500}, 12, CapacityBasis.LICENSED),
        ({"licensed_capacity": 0, "beds": 30}, 0, CapacityBasis.LICENSED),
        ({"beds": 10, "places": 20, "area_m2": 500}, 10, CapacityBasis.BEDS),
        ({"beds": 0, "places": 20, "area_m2": 500}, 20, CapacityBasis.PLACES),
        ({"area_m2": 65}, 20, CapacityBasis.OCCUPANT_LOAD),  # 65 / 3.25 is exactly 20
        ({"area_m2": 100}, 30, CapacityBasis.OCCUPANT_LOAD),  # 30.77 rounds down
    ],
)
def test_capacity_takes_the_first_known_basis(
    fields: dict[str, int], value: int, basis: CapacityBasis
) -> None:
    capacity = room_capacity(room("r1", "elderly_care", **fields), PACK)
    assert capacity is not None
    assert (capacity.value, capacity.basis) == (value, basis)


def test_occupant_load_uses_the_function_default_or_the_rooms_own_use() -> None:
    dining = room_capacity(room("r1", "dining", area_m2=139), PACK)
    assert dining is not None
    assert (dining.value, dining.occupant_use, dining.m2_per_person) == (100, "dining", 1.39)
    assert dining.source is not None
    assert dining.source.document == "ibc"
    assert "1.39" in dining.basis_en
    assert "139" in dining.basis_zh
    kitchen = room_capacity(room("r2", "dining", area_m2=186, occupant_use="kitchen"), PACK)
    assert kitchen is not None
    assert kitchen.value == 10
    assert room_capacity(room("r3", "fitness", area_m2=46.5), PACK).value == 10  # type: ignore[union-attr]
    dumped = dining.model_dump()
    assert dumped["basis"] == "occupant_load"
    assert dumped["basis_zh"].startswith("面积")


@pytest.mark.parametrize(
    "fields",
    [{}, {"function": None, "area_m2": 50}, {"area_m2": 50, "occupant_use": "karaoke"}],
)
def test_nothing_known_gives_none(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"function": "culture"}
    base.update(fields)
    function = base.pop("function")
    assert room_capacity(room("r1", function, **base), PACK) is None  # type: ignore[arg-type]
