"""Every norm on both sides of its threshold, and at its edges."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import Function, NormStatus, Site, UnknownJurisdiction, evaluate_compliance, load_pack
from tests.rules.norms.factories import room, site

BAOTOU = load_pack("baotou")
HANGZHOU = load_pack("hangzhou")
PASS, FAIL, NA, UNKNOWN = (
    NormStatus.PASS,
    NormStatus.FAIL,
    NormStatus.NOT_APPLICABLE,
    NormStatus.UNKNOWN,
)


def status(s: Site, norm: str, pack: Any = BAOTOU, **kw: Any) -> NormStatus:
    result = evaluate_compliance(s, pack, **kw).result(norm)
    assert result is not None, norm
    return result.status


# --- function mix ---------------------------------------------------------------------------


def test_mix_count_needs_three_functions() -> None:
    two = site(room("a", "elderly_care"), room("b", "dining"), room("c", None))
    three = site(room("a", "elderly_care"), room("b", "dining"), room("c", "culture"))
    assert status(two, "mix.count") is FAIL
    assert status(three, "mix.count") is PASS
    result = evaluate_compliance(three, BAOTOU).result("mix.count")
    assert result is not None
    assert (result.measured, result.required, result.comparison) == (3, 3, ">=")
    assert "养老服务" in result.note_zh
    assert result.source.article_zh == "第十二条"
    assert result.document_number.startswith("包头市")


def test_mix_priority_counts_only_the_priority_functions() -> None:
    one = site(room("a", "elderly_care"), room("b", "culture"), room("c", "fitness"))
    two = site(room("a", "elderly_care"), room("b", "infant_care"), room("c", "fitness"))
    assert status(one, "mix.priority") is FAIL
    assert status(two, "mix.priority") is PASS
    assert status(two, "mix.priority", HANGZHOU) is PASS


def test_a_site_without_rooms_is_unknown_not_failed() -> None:
    assert status(site(), "mix.count") is UNKNOWN


# --- areas ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("households", "area", "expected"),
    [
        (1000, 300, PASS),
        (1000, 299.99, FAIL),
        (1001, 300, FAIL),
        (None, 300, UNKNOWN),
        (0, 300, UNKNOWN),
    ],
)
def test_area_per_100_households(households: int | None, area: float, expected: NormStatus) -> None:
    s = site(room("a", "culture"), households=households, floor_area_m2=area)
    assert status(s, "area.per_households") is expected


def test_recommended_level_is_reported_separately() -> None:
    s = site(room("a", "culture"), households=1000, floor_area_m2=500)
    report = evaluate_compliance(s, BAOTOU)
    assert report.result("area.per_households").status is PASS  # type: ignore[union-attr]
    preferred = report.result("area.per_households.preferred")
    assert preferred is not None
    assert (preferred.status, preferred.level.value, preferred.required) == (
        FAIL,
        "recommended",
        80,
    )


@pytest.mark.parametrize(
    ("new", "area", "expected"),
    [
        (True, 1000, PASS),  # new: ≥ 100 per 100 households
        (True, 999, FAIL),
        (False, 600, PASS),  # existing: ≥ 60
        (False, 599, FAIL),
        (None, 1000, PASS),  # meets both
        (None, 700, UNKNOWN),  # meets existing only: depends on what is not recorded
        (None, 500, FAIL),  # meets neither
    ],
)
def test_hangzhou_new_and_existing_communities(
    new: bool | None, area: float, expected: NormStatus
) -> None:
    s = site(room("a", "culture"), households=1000, floor_area_m2=area, new_community=new)
    assert status(s, "area.per_households", HANGZHOU) is expected
    assert status(s, "area.centre", HANGZHOU) is expected  # 1000 new, 600 existing


def test_without_a_site_area_the_room_sum_is_a_lower_bound() -> None:
    big = site(room("a", "culture", area_m2=400), room("b", "dining", area_m2=300))
    small = site(room("a", "culture", area_m2=400), room("b", "dining"))
    assert status(big, "area.centre") is PASS  # 700 ≥ 600 even without corridors
    result = evaluate_compliance(small, BAOTOU).result("area.centre")
    assert result is not None
    assert (result.status, result.measured) == (UNKNOWN, 400)  # never a false fail
    assert "lower bound" in result.note_en
    assert status(site(room("a", "culture")), "area.centre") is UNKNOWN


@pytest.mark.parametrize(("area", "expected"), [(600, PASS), (599.9, FAIL)])
def test_centre_area(area: float, expected: NormStatus) -> None:
    assert status(site(room("a", "culture"), floor_area_m2=area), "area.centre") is expected


# --- elderly and infant care ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("areas", "beds", "expected"),
    [
        ((350.0,), (10,), PASS),  # exactly 35 m² per bed
        ((349.0,), (10,), FAIL),
        ((35.1, 35.1, 34.8), (1, 1, 1), PASS),  # 105 / 3 beds = 35, with float rounding
        ((200.0, 150.0), (10, None), PASS),  # the activity room's area counts, bedless
        ((200.0, None), (10, None), UNKNOWN),  # 20 per bed known, the rest missing
        ((400.0, None), (10, None), PASS),  # the known area already passes
        ((400.0,), (None,), UNKNOWN),
        ((400.0,), (0,), NA),
    ],
)
def test_elderly_area_per_bed(
    areas: tuple[float | None, ...], beds: tuple[int | None, ...], expected: NormStatus
) -> None:
    rooms = [
        room(f"e{i}", "elderly_care", area_m2=a, beds=b)
        for i, (a, b) in enumerate(zip(areas, beds, strict=True))
    ]
    assert status(site(*rooms), "elderly.per_bed") is expected


def test_elderly_per_bed_not_applicable_without_elderly_care() -> None:
    assert status(site(room("a", "culture")), "elderly.per_bed") is NA


@pytest.mark.parametrize(
    ("function", "norm", "area", "expected"),
    [
        ("elderly_care", "elderly.min_area", 350, PASS),
        ("elderly_care", "elderly.min_area", 349, FAIL),
        ("infant_care", "infant.min_area", 200, PASS),
        ("infant_care", "infant.min_area", 199, FAIL),
        ("culture", "infant.min_area", 10, NA),
        ("culture", "elderly.min_area", 10, NA),
    ],
)
def test_facility_area_when_offering_a_function(
    function: str, norm: str, area: float, expected: NormStatus
) -> None:
    assert status(site(room("a", function), floor_area_m2=area), norm) is expected


@pytest.mark.parametrize(
    ("area", "places", "expected"),
    [(180, 20, PASS), (179.9, 20, FAIL), (180, None, UNKNOWN), (None, 20, UNKNOWN)],
)
def test_infant_area_per_place(
    area: float | None, places: int | None, expected: NormStatus
) -> None:
    s = site(room("i", "infant_care", area_m2=area, places=places))
    assert status(s, "infant.per_place") is expected


# --- floors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "prefix", "pack"),
    [
        ("infant_care", "infant", BAOTOU),
        ("after_school", "child", BAOTOU),
        ("infant_care", "infant", load_pack("national")),
    ],
)
@pytest.mark.parametrize(
    ("floor", "semi", "height", "ground"),
    [
        (3, False, PASS, PASS),
        (4, False, FAIL, PASS),
        (1, False, PASS, PASS),
        (-1, False, PASS, FAIL),  # basement
        (-1, True, PASS, FAIL),  # semi-basement
        (1, True, PASS, FAIL),  # a semi-basement numbered as the ground floor
    ],
)
def test_children_rooms_on_floor_3_or_below_and_above_ground(
    function: str,
    prefix: str,
    pack: Any,
    floor: int,
    semi: bool,
    height: NormStatus,
    ground: NormStatus,
) -> None:
    s = site(room("ok", function, floor=2), room("x", function, floor=floor, semi_basement=semi))
    report = evaluate_compliance(s, pack)
    floor_result = report.result(f"{prefix}.floor")
    ground_result = report.result(f"{prefix}.below_ground")
    assert floor_result is not None
    assert ground_result is not None
    assert floor_result.status is height
    assert ground_result.status is ground
    if height is FAIL:
        assert floor_result.rooms == ("x",)
        assert (floor_result.measured, floor_result.required, floor_result.comparison) == (
            4,
            3,
            "<=",
        )
    if ground is FAIL:
        assert ground_result.rooms == ("x",)


def test_floor_limits_not_applicable_without_the_function() -> None:
    s = site(room("a", "culture", floor=-2))
    assert status(s, "child.floor") is NA
    assert status(s, "infant.below_ground") is NA


@pytest.mark.parametrize(
    ("floor", "semi", "expected"),
    [(-1, False, PASS), (-2, False, FAIL), (-1, True, PASS), (1, False, PASS)],
)
def test_elderly_rooms_underground_only_on_b1(floor: int, semi: bool, expected: NormStatus) -> None:
    s = site(room("e", "elderly_care", floor=floor, semi_basement=semi))
    assert status(s, "elderly.basement", HANGZHOU) is expected


@pytest.mark.parametrize(
    ("floor", "area", "expected"),
    [(3, 500, NA), (4, 200, PASS), (4, 200.5, FAIL), (5, None, UNKNOWN)],
)
def test_elderly_rooms_on_floor_4_at_most_200_m2(
    floor: int, area: float | None, expected: NormStatus
) -> None:
    s = site(room("e", "elderly_care", floor=floor, area_m2=area, licensed_capacity=10))
    assert status(s, "elderly.upper_room_area") is expected


@pytest.mark.parametrize(
    ("floor", "fields", "expected"),
    [
        (3, {"licensed_capacity": 80}, NA),
        (4, {"licensed_capacity": 30}, PASS),
        (4, {"licensed_capacity": 31}, FAIL),
        (4, {"area_m2": 97.5}, PASS),  # 97.5 / 3.25 = 30 people
        (4, {"area_m2": 104}, FAIL),  # 104 / 3.25 = 32 people
        (4, {}, UNKNOWN),
    ],
)
def test_elderly_rooms_on_floor_4_at_most_30_people(
    floor: int, fields: dict[str, float], expected: NormStatus
) -> None:
    s = site(room("e", "elderly_care", floor=floor, **fields))
    result = evaluate_compliance(s, BAOTOU).result("elderly.upper_room_people")
    assert result is not None
    assert result.status is expected


def test_one_failing_room_fails_even_if_another_is_unknown() -> None:
    s = site(
        room("big", "elderly_care", floor=4, area_m2=250),
        room("unknown", "elderly_care", floor=5),
    )
    result = evaluate_compliance(s, BAOTOU).result("elderly.upper_room_area")
    assert result is not None
    assert (result.status, result.rooms, result.measured) == (FAIL, ("big",), 250)


# --- fitness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "indoor", "outdoor", "expected"),
    [
        (True, 100, None, PASS),  # 0.1 m² per resident exactly
        (True, 99, None, UNKNOWN),  # short indoors; outdoor land not recorded
        (True, 99, 300, PASS),  # 0.3 m² outdoors
        (True, 99, 299, FAIL),
        (False, 0, None, NA),
        (None, 150, None, PASS),
        (None, 99, 299, UNKNOWN),  # fails, but may not apply
    ],
)
def test_fitness_area_per_resident(
    new: bool | None, indoor: float, outdoor: float | None, expected: NormStatus
) -> None:
    rooms = [room("f", "fitness", area_m2=indoor)] if indoor else [room("c", "culture")]
    s = site(*rooms, residents=1000, new_community=new)
    assert status(s, "fitness.area", outdoor_fitness_m2=outdoor) is expected


def test_fitness_unknown_without_residents() -> None:
    s = site(room("f", "fitness", area_m2=500), new_community=True)
    assert status(s, "fitness.area") is UNKNOWN


# --- the whole report -----------------------------------------------------------------------


def test_a_bare_site_gets_unknown_or_not_applicable_never_a_pass_or_a_crash() -> None:
    report = evaluate_compliance(site(room("a", "elderly_care", beds=5)), BAOTOU)
    assert len(report.results) == len(BAOTOU.norms)
    for result in report.results:
        if result.norm.startswith(("area.", "elderly.per_bed", "elderly.min_area")):
            assert result.status is UNKNOWN, result.norm
        assert result.title_zh
        assert result.title_en
        assert result.source.article_en
    tallied = sum(report.counts.values()) + sum(report.recommended_counts.values())
    assert tallied == len(report.results)
    assert report.recommended_counts["unknown"] == 2  # the preferred area levels


def test_the_site_names_its_pack() -> None:
    s = site(room("a", "culture"), jurisdiction="hangzhou")
    assert evaluate_compliance(s).pack == "hangzhou"
    with pytest.raises(UnknownJurisdiction):
        evaluate_compliance(site(room("a", "culture"), jurisdiction="atlantis"))


def test_the_report_serialises_with_both_languages() -> None:
    s = site(room("a", "culture"), floor_area_m2=700)
    data = evaluate_compliance(s, BAOTOU).model_dump(mode="json")
    centre = next(r for r in data["results"] if r["norm"] == "area.centre")
    assert centre["status_zh"] == "符合"
    assert centre["status_en"] == "complies"
    assert centre["source"] == {
        "document": "baotou_measures",
        "article_zh": "第十条",
        "article_en": "art. 10",
    }


@pytest.mark.parametrize(("function", "expected"), [("infant_care", PASS), ("dining", FAIL)])
def test_baotou_recommends_elderly_or_infant_care(function: str, expected: NormStatus) -> None:
    result = evaluate_compliance(site(room("a", function)), BAOTOU).result("mix.elderly_or_infant")
    assert result is not None
    assert (result.status, result.level.value) == (expected, "recommended")


_ROOM = st.fixed_dictionaries(
    {
        "function": st.sampled_from([None, *(f.value for f in Function)]),
        "floor": st.integers(-3, 8),
        "semi_basement": st.booleans(),
        "area_m2": st.one_of(st.none(), st.floats(1, 2000)),
        "beds": st.one_of(st.none(), st.integers(0, 50)),
        "places": st.one_of(st.none(), st.integers(0, 50)),
        "licensed_capacity": st.one_of(st.none(), st.integers(0, 80)),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    rooms=st.lists(_ROOM, max_size=8),
    households=st.one_of(st.none(), st.integers(0, 5000)),
    floor_area=st.one_of(st.none(), st.floats(1, 20000)),
    residents=st.one_of(st.none(), st.integers(0, 20000)),
    new=st.one_of(st.none(), st.booleans()),
    outdoor=st.one_of(st.none(), st.floats(0, 5000)),
    jurisdiction=st.sampled_from(["national", "hangzhou", "baotou", "qingdao"]),
)
def test_any_registry_entry_gives_a_verdict_per_norm_and_no_unfounded_pass(
    rooms: list[dict[str, Any]],
    households: int | None,
    floor_area: float | None,
    residents: int | None,
    new: bool | None,
    outdoor: float | None,
    jurisdiction: str,
) -> None:
    s = site(
        *(room(f"r{i}", **r) for i, r in enumerate(rooms)),
        households=households,
        floor_area_m2=floor_area,
        residents=residents,
        new_community=new,
        jurisdiction=jurisdiction,
    )
    report = evaluate_compliance(s, outdoor_fitness_m2=outdoor)
    pack = load_pack(jurisdiction)
    assert [r.norm for r in report.results] == list(pack.norms)
    for result in report.results:
        if result.status in (PASS, FAIL):
            assert result.measured is not None, result.norm
        if result.status is PASS and result.required is not None and result.norm != "fitness.area":
            slack = 1e-9 * max(1.0, abs(result.required))
            if result.comparison == ">=":
                assert result.measured >= result.required - slack, result
            else:
                assert result.measured <= result.required + slack, result
        if result.norm.startswith("area.per_households") and not households:
            assert result.status is UNKNOWN
