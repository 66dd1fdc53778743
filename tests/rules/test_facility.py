from __future__ import annotations

import pytest

from rules import DeviceKind, Function, RegistryError, parse_registry

REGISTRY = """
sites:
  - id: hz-xihu-01
    name: 西湖区文新街道社区嵌入式服务中心
    households: 3200
    opening_hours:
      - {days: [0, 1, 2, 3, 4], open: "07:30", close: "19:00"}
    rooms:
      - {id: r101, name: 老年日间照料室, function: elderly_care, floor: 1, area_m2: 420, beds: 10}
      - {id: r201, name: 托育室, function: infant_care, floor: 2, area_m2: 210, places: 20}
    gateways:
      - id: gw-hz01
        devices:
          - {id: smk-101, kind: smoke, room: r101}
          - {id: fd-101, kind: door, room: r101, role: fire_door}
"""


def test_a_registry_parses_into_typed_sites() -> None:
    registry = parse_registry(REGISTRY, "sites.yaml")
    site = registry.site("hz-xihu-01")
    assert site is not None
    assert site.room("r201") is not None
    assert site.rooms[1].function is Function.INFANT_CARE
    assert [d.kind for _, d in site.devices()] == [DeviceKind.SMOKE, DeviceKind.DOOR]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("function: infant_care", "function: karaoke"), r"sites\['hz-xihu-01'\]\.rooms\['r201'\]"),
        (("room: r101, role", "room: r999, role"), "r999"),
        (("role: fire_door", "role: window"), "role"),
        (("kind: smoke, room: r101", "kind: smoke, room: r101, role: entrance"), "only door"),
        (('close: "19:00"', 'close: "06:00"'), "close must be after open"),
        (("id: r201", "id: r101"), "room id 'r101' appears twice"),
        (("    name: 西", "    name: [西"), r"sites\.yaml:\d+:\d+: not valid YAML"),
    ],
)
def test_errors_name_the_file_and_field(edit: tuple[str, str], match: str) -> None:
    with pytest.raises(RegistryError, match=match) as info:
        parse_registry(REGISTRY.replace(*edit), "sites.yaml")
    assert str(info.value).startswith("sites.yaml")


def test_not_a_mapping() -> None:
    with pytest.raises(RegistryError, match="expected a mapping"):
        parse_registry("- a\n- b\n", "x.yaml")
