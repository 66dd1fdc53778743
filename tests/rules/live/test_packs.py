"""Rule packs: validation errors name file, rule and field; extends."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.live import RULE_TYPES, PackError, Severity, parse_pack
from tests.rules.live.factories import national, site

HEAD = "id: test\nversion: '1'\n"


def test_the_shipped_national_pack_has_every_rule_of_rules_md_b() -> None:
    ids = {r.id for r in national().rules}
    assert ids == {
        "smoke.alarm",
        "evacuation.incomplete",
        "door.held_open",
        "door.not_released",
        "room.over_capacity",
        "after_hours.entry",
        "device.silent",
        "gateway.offline",
        "device.fault",
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("- {id: x.y, type: teleport}", "f.yaml: rule 'x.y': type: unknown rule type 'teleport'"),
        ("- {id: d, type: door_held_open, for: -5}", "f.yaml: rule 'd': for: Input should be"),
        ("- {id: d, type: door_held_open, for: soon}", "f.yaml: rule 'd': for: Value error"),
        ("- {id: d, type: door_held_open, colour: red}", "f.yaml: rule 'd': colour: Extra"),
        ("- {id: d, type: door_held_open, rooms: [r9]}", "f.yaml: rule 'd': rooms: no room 'r9'"),
        ("- {type: door_held_open}", "f.yaml: rules[0]: a rule without an 'id'"),
        (
            "- {id: d, type: door_held_open}\n- {id: d, type: door_held_open}",
            "f.yaml: rule 'd': id: appears twice",
        ),
        (
            "- {id: e, type: door_held_open, escalate: [{after: 1m, severity: apocalyptic}]}",
            "f.yaml: rule 'e': escalate.0.severity: Input should be",
        ),
    ],
)
def test_bad_rules_are_refused_naming_file_rule_and_field(body: str, expected: str) -> None:
    with pytest.raises(PackError) as err:
        parse_pack(HEAD + "rules:\n" + body, "f.yaml", sites=[site()])
    assert str(err.value).startswith(expected), str(err.value)


def test_bad_yaml_and_missing_parent_are_refused() -> None:
    with pytest.raises(PackError, match=r"^f.yaml:2:\d+: not valid YAML"):
        parse_pack("id: x\n  version: [", "f.yaml")
    with pytest.raises(PackError, match="extends: no pack 'nowhere'"):
        parse_pack(HEAD + "extends: nowhere\n", "f.yaml")


def test_room_references_resolve_per_site() -> None:
    pack = parse_pack(
        HEAD + "rules:\n- {id: d, type: door_held_open, rooms: [s1/r1, r2]}",
        "f.yaml",
        sites=[site()],
    )
    rule = pack.rules[0]
    assert rule.applies_to("s1", "r1")
    assert rule.applies_to("s1", "r2")
    assert not rule.applies_to("s2", "r1")
    assert not rule.applies_to("s1", None)


def test_a_city_pack_extends_and_overrides_field_by_field() -> None:
    base = national()
    city = parse_pack(
        HEAD
        + "extends: national\nrules:\n"
        + "- {id: door.held_open, for: 45s}\n- {id: device.fault, enabled: false}\n"
        + "- {id: extra.door, type: door_held_open, for: 5m, severity: minor}\n",
        "city.yaml",
        parent={"national": base}.get,
    )
    held = city.rule("door.held_open")
    assert held is not None
    assert held.for_s == 45
    assert held.severity is Severity.MAJOR
    assert held.escalate == base.rule("door.held_open").escalate  # type: ignore[union-attr]
    fault = city.rule("device.fault")
    assert fault is not None
    assert not fault.enabled
    extra = city.rule("extra.door")
    assert extra is not None
    assert extra.for_s == 300


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10_000),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["60s", "-5", "5m", "1h30m", "soon", "critical", "fire_door", "r1", "s1/r1"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "id",
        "type",
        "for",
        "severity",
        "rooms",
        "escalate",
        "keep_firing_for",
        "within",
        "roles",
        "margin_pct",
        "timeouts",
        "enabled",
        "remind_every",
        "grace",
        "extends",
    ]
)
_TYPES = st.sampled_from([*sorted(RULE_TYPES), "nope"])


@given(
    rules=st.lists(
        st.fixed_dictionaries({"id": st.text(max_size=6), "type": _TYPES}).flatmap(
            lambda base: st.dictionaries(_FIELDS, _VALUES, max_size=4).map(
                lambda extra: base | extra
            )
        ),
        max_size=4,
    )
)
@settings(max_examples=200, deadline=None)
def test_any_pack_is_either_valid_or_refused_with_a_pack_error(rules: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump({"id": "fuzz", "version": "1", "rules": rules}, allow_unicode=True)
    try:
        pack = parse_pack(text, "fuzz.yaml", sites=[site()])
    except PackError as exc:
        refusal = str(exc)
    else:
        assert all(r.for_s >= 0 and r.keep_firing_for_s >= 0 for r in pack.rules)
        return
    assert refusal.startswith("fuzz.yaml")
