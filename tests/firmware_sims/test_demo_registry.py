from __future__ import annotations

import re
from importlib import resources

from firmware_sims import demo_registry, demo_registry_text
from firmware_sims.profiles import capacity_of
from protocol import DoorRole
from rules import DeviceKind, Function, parse_registry

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_demo_registry_ships_in_the_package_and_parses() -> None:
    shipped = resources.files("firmware_sims") / "data" / "demo_registry.yaml"
    assert shipped.is_file()
    registry = parse_registry(demo_registry_text(), "demo_registry.yaml")
    assert registry == demo_registry()


def test_three_realistic_centres_in_hangzhou_baotou_and_qingdao() -> None:
    registry = demo_registry()
    assert [s.jurisdiction for s in registry.sites] == ["hangzhou", "baotou", "qingdao"]
    for site, city in zip(registry.sites, ("杭州", "包头", "青岛"), strict=True):
        assert city in site.name
        assert site.address
        assert city in site.address
        assert CJK.search(site.name)
        assert site.name_en
        assert site.households
        assert site.opening_hours
        assert site.floor_area_m2
        assert 1 <= len(site.gateways) <= 2
        functions = {r.function for r in site.rooms if r.function}
        assert len(functions) >= 3  # mix.count
        assert (
            len(
                functions
                & {
                    Function.ELDERLY_CARE,
                    Function.INFANT_CARE,
                    Function.AFTER_SCHOOL,
                    Function.DINING,
                }
            )
            >= 2
        )  # mix.priority
        kinds = {d.kind for _, d in site.devices()}
        assert {DeviceKind.SMOKE, DeviceKind.DOOR, DeviceKind.COUNTER} <= kinds
        roles = {d.role for _, d in site.devices() if d.role}
        assert DoorRole.FIRE_DOOR_HOLD_OPEN in roles
        assert DoorRole.ENTRANCE in roles
        for room in site.rooms:
            assert CJK.search(room.name)
            if room.function is Function.ELDERLY_CARE:
                assert room.area_m2
                assert room.beds
                assert room.area_m2 / room.beds >= 35
            if room.function is Function.INFANT_CARE:
                assert room.area_m2
                assert room.places
                assert room.area_m2 / room.places >= 9
            if room.function in (Function.INFANT_CARE, Function.AFTER_SCHOOL):
                assert 1 <= room.floor <= 3
            if room.function is not None:
                assert capacity_of(room) > 0
    all_roles = {d.role for s in registry.sites for _, d in s.devices() if d.role}
    assert DoorRole.FIRE_DOOR in all_roles
    assert DoorRole.EMERGENCY_EXIT in all_roles
