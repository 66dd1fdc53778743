from __future__ import annotations

import pytest

from rules import (
    FloorLimitNorm,
    InvalidPack,
    MinimumNorm,
    UnknownJurisdiction,
    available_packs,
    load_pack,
    parse_pack_file,
    resolve_pack,
)

BASE = """
id: base
version: "1"
title_zh: 基础
title_en: Base
documents:
  doc: {number: "X-1", title_zh: 文件, title_en: Document}
norms:
  area.centre:
    kind: minimum
    measure: site_area
    value: 600
    unit: m²
    title_zh: 面积
    title_en: Area
    source: {document: doc, article_zh: 第十条, article_en: art. 10}
  infant.floor:
    kind: floor_limit
    function: infant_care
    max_floor: 3
    title_zh: 楼层
    title_en: Floor
    source: {document: doc, article_zh: 第十四条, article_en: art. 14}
utilization:
  underuse_threshold: 0.2
  underuse_window_days: 30
  counter_reset: "03:00"
  source: {document: doc, article_zh: 一, article_en: "1"}
  threshold_source: {document: doc, article_zh: 一, article_en: "1"}
"""

CHILD = """
id: child
extends: base
version: "2"
title_zh: 子
title_en: Child
documents:
  city: {number: "C-1", title_zh: 市文件, title_en: City document}
norms:
  area.centre:
    kind: minimum
    measure: site_area
    value_new: 1000
    value_existing: 600
    unit: m²
    title_zh: 面积
    title_en: Area
    source: {document: city, article_zh: 三, article_en: "§3"}
  infant.floor: null
"""


def _files(*texts: tuple[str, str]) -> dict[str, tuple[object, str]]:
    files = {}
    for text, name in texts:
        parsed = parse_pack_file(text, name)
        files[parsed.id] = (parsed, name)
    return files


def test_every_packaged_pack_resolves_and_cites_known_documents() -> None:
    assert set(available_packs()) == {"national", "hangzhou", "baotou", "qingdao"}
    for jurisdiction in available_packs():
        pack = load_pack(jurisdiction)
        for norm in pack.norms.values():
            assert norm.source.document in pack.documents
        assert "patrol.daily" in pack.inspections
        assert pack.function_uses


def test_hangzhou_extends_national_and_overrides_the_area_norms() -> None:
    pack = load_pack("hangzhou")
    assert pack.chain == ("hangzhou", "national")
    norm = pack.norms["area.per_households"]
    assert isinstance(norm, MinimumNorm)
    assert (norm.value_new, norm.value_existing) == (100, 60)
    assert norm.source.article_en == "§3(1)"
    assert "area.per_households.preferred" not in pack.norms
    assert isinstance(pack.norms["infant.floor"], FloorLimitNorm)  # inherited
    assert pack.occupant_load["day_care"].m2_per_person == 3.25


def test_baotou_cites_its_articles() -> None:
    pack = load_pack("baotou")
    articles = {k: n.source.article_zh for k, n in pack.norms.items()}
    assert articles["elderly.per_bed"] == "第十三条"
    assert articles["infant.per_place"] == "第十四条"
    assert articles["child.floor"] == "第十五条"
    assert articles["fitness.area"] == "第十九条"
    assert articles["mix.count"] == "第十二条"
    assert articles["area.centre"] == "第十条"
    assert pack.norms["elderly.upper_room_area"].source.document == "gb50016"


def test_child_entries_replace_and_null_removes() -> None:
    pack = resolve_pack(_files((BASE, "base.yaml"), (CHILD, "child.yaml")), "child")  # type: ignore[arg-type]
    assert pack.chain == ("child", "base")
    assert set(pack.norms) == {"area.centre"}
    assert set(pack.documents) == {"doc", "city"}
    assert pack.version == "2"


def test_unknown_jurisdiction_names_the_known_ones() -> None:
    with pytest.raises(UnknownJurisdiction, match=r"'shenzhen'.*baotou, hangzhou, national"):
        load_pack("shenzhen")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("value: 600", "value: -1"), r"base\.yaml: norms\.area\.centre\.value"),
        (
            ("max_floor: 3", "max_floor: 3\n    lowest_floor: 1"),
            r"norms\.infant\.floor: .*exactly one",
        ),
        (("function: infant_care", "function: karaoke"), r"norms\.infant\.floor\.function"),
        (("kind: minimum", "kind: maximum"), r"norms\.area\.centre"),
        (('counter_reset: "03:00"', 'counter_reset: "25:00"'), r"utilization\.counter_reset"),
        (('version: "1"', 'version: "1"\nsurprise: 1'), r"base\.yaml: surprise"),
        (("norms:", "norms: [\n"), r"base\.yaml:\d+:\d+: not valid YAML"),
    ],
)
def test_a_bad_pack_file_names_the_file_and_field(edit: tuple[str, str], match: str) -> None:
    with pytest.raises(InvalidPack, match=match):
        parse_pack_file(BASE.replace(*edit), "base.yaml")


def test_a_reference_to_an_unknown_document_names_the_file() -> None:
    bad = CHILD.replace("document: city", "document: nowhere")
    with pytest.raises(InvalidPack, match=r"child\.yaml: norms\.area\.centre\.source\.document"):
        resolve_pack(_files((BASE, "base.yaml"), (bad, "child.yaml")), "child")  # type: ignore[arg-type]


def test_extends_must_exist_and_must_not_cycle() -> None:
    orphan = CHILD.replace("extends: base", "extends: nowhere")
    with pytest.raises(InvalidPack, match=r"child\.yaml: extends: no pack 'nowhere'"):
        resolve_pack(_files((orphan, "child.yaml")), "child")  # type: ignore[arg-type]
    loop = BASE.replace('version: "1"', 'version: "1"\nextends: child')
    with pytest.raises(InvalidPack, match="cycle"):
        resolve_pack(_files((loop, "base.yaml"), (CHILD, "child.yaml")), "child")  # type: ignore[arg-type]


def test_a_deadline_must_be_a_real_day() -> None:
    text = (
        BASE
        + """
inspections:
  ops.report:
    title_zh: 报告
    title_en: Report
    every: {months: 12}
    deadline: {month: 2, day: 30}
    warn_before: {days: 30}
    source: {document: doc, article_zh: 一, article_en: "1"}
"""
    )
    with pytest.raises(InvalidPack, match=r"inspections\.ops\.report\.deadline: .*no day 30"):
        parse_pack_file(text, "base.yaml")
