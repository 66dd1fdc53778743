"""Compliance of a site's registry entry with the facility norms of its jurisdiction pack.

Every norm of the pack gives one result: pass, fail, not applicable, or unknown when the
registry lacks what the norm needs. A missing figure never passes: where only a lower bound is
known (the sum of the room areas that are given), it passes only if the bound already passes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from rules._packs import (
    FitnessAreaNorm,
    FloorLimitNorm,
    FunctionMixNorm,
    Measure,
    MinimumNorm,
    Norm,
    NormLevel,
    Pack,
    SourceRef,
    UpperFloorRoomsNorm,
    load_pack,
)
from rules.capacity import room_capacity
from rules.facility import FUNCTION_NAMES_ZH, Function, Room, Site

__all__ = ["ComplianceReport", "NormResult", "NormStatus", "evaluate_compliance"]

# Areas are sums of figures given to 0.01 m²; a quotient this close to the limit is the limit
# (exactly 35 m² per bed passes even when the sum is 104.99999999999999 for 3 beds).
_TOLERANCE = 1e-9


class NormStatus(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - measured and meets the norm
    FAIL = "fail"  # measured and does not meet it
    NOT_APPLICABLE = "not_applicable"  # the norm does not concern this site
    UNKNOWN = "unknown"  # the registry lacks a figure the norm needs


STATUS_TEXT: dict[NormStatus, tuple[str, str]] = {
    NormStatus.PASS: ("符合", "complies"),
    NormStatus.FAIL: ("不符合", "does not comply"),
    NormStatus.NOT_APPLICABLE: ("不适用", "not applicable"),
    NormStatus.UNKNOWN: ("数据不足", "data missing"),
}


class NormResult(BaseModel):
    """One norm's verdict for one site, with the figures and where the norm comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    norm: str
    status: NormStatus
    level: NormLevel
    measured: float | None
    required: float | None
    comparison: Literal[">=", "<="]
    unit: str
    rooms: tuple[str, ...] = ()
    title_zh: str
    title_en: str
    source: SourceRef
    document_number: str
    note_zh: str = ""
    note_en: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_zh(self) -> str:
        return STATUS_TEXT[self.status][0]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_en(self) -> str:
        return STATUS_TEXT[self.status][1]


class ComplianceReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str
    pack: str
    pack_version: str
    results: tuple[NormResult, ...]

    def result(self, norm: str) -> NormResult | None:
        return next((r for r in self.results if r.norm == norm), None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """Statuses of the required norms (the scorecard)."""
        return self._tally(NormLevel.REQUIRED)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recommended_counts(self) -> dict[str, int]:
        """Statuses of the recommended levels, which never make a site non-compliant."""
        return self._tally(NormLevel.RECOMMENDED)

    def _tally(self, level: NormLevel) -> dict[str, int]:
        counts = {s.value: 0 for s in NormStatus}
        for result in self.results:
            if result.level is level:
                counts[result.status.value] += 1
        return counts

    def as_text(self) -> str:
        """A plain-text table of the results, one norm a line (for terminals and logs)."""
        lines = [
            f"{self.site} ({self.pack} {self.pack_version}): required {self.counts}, "
            f"recommended {self.recommended_counts}"
        ]
        for r in self.results:
            measured = "—" if r.measured is None else f"{r.measured:g}"
            required = "—" if r.required is None else f"{r.comparison} {r.required:g}"
            status = r.status.value + ("" if r.level.value == "required" else " (recommended)")
            lines.append(
                f"  {status:<29} {r.norm:<30} {measured:>8} {required:>8} {r.unit:<8}"
                f" {r.document_number} {r.source.article_zh}  {r.note_en}"
            )
        return "\n".join(lines)


class _Verdict(BaseModel):
    """What an evaluator finds, before the norm's titles and source are attached."""

    model_config = ConfigDict(frozen=True)

    status: NormStatus
    measured: float | None = None
    required: float | None = None
    comparison: Literal[">=", "<="] = ">="
    unit: str = ""
    rooms: tuple[str, ...] = ()
    note_zh: str = ""
    note_en: str = ""


def _rooms_of(site: Site, function: Function) -> list[Room]:
    return [r for r in site.rooms if r.function is function]


def _offered(site: Site) -> set[Function]:
    return {r.function for r in site.rooms if r.function is not None}


def _meets(measured: float, required: float, comparison: str) -> bool:
    if comparison == ">=":
        return measured >= required - _TOLERANCE * max(1.0, abs(required))
    return measured <= required + _TOLERANCE * max(1.0, abs(required))


def _site_area(site: Site) -> tuple[float | None, bool]:
    """The site's floor area and whether it is exact; else the sum of the room areas given,
    a lower bound."""
    if site.floor_area_m2 is not None:
        return site.floor_area_m2, True
    known = [r.area_m2 for r in site.rooms if r.area_m2 is not None]
    if not known:
        return None, False
    return sum(known), False


def _area_of(rooms: Iterable[Room]) -> tuple[float, bool]:
    rooms = list(rooms)
    return sum(r.area_m2 or 0.0 for r in rooms), all(r.area_m2 is not None for r in rooms)


_LOWER_BOUND = (
    "面积按已登记房间面积之和计（下限）",
    "area is the sum of the room areas given (a lower bound)",
)


def _minimum(norm: MinimumNorm, site: Site, pack: Pack) -> _Verdict:
    unit = norm.unit
    if norm.function is not None and norm.function not in _offered(site):
        return _Verdict(
            status=NormStatus.NOT_APPLICABLE,
            unit=unit,
            note_zh="本设施未提供该功能",
            note_en="the site does not offer this function",
        )
    measured: float | None
    exact: bool
    notes: list[tuple[str, str]] = []
    match norm.measure:
        case Measure.HOUSEHOLDS_AREA:
            area, exact = _site_area(site)
            if not site.households:
                return _unknown(unit, "未登记户数", "households not recorded")
            if area is None:
                return _unknown(unit, "未登记建筑面积", "floor area not recorded")
            measured = area / site.households * 100
        case Measure.SITE_AREA:
            measured, exact = _site_area(site)
            if measured is None:
                return _unknown(unit, "未登记建筑面积", "floor area not recorded")
        case Measure.AREA_PER_BED | Measure.AREA_PER_PLACE:
            assert norm.function is not None
            rooms = _rooms_of(site, norm.function)
            per_bed = norm.measure is Measure.AREA_PER_BED
            counts = [r.beds if per_bed else r.places for r in rooms]
            what_zh, what_en = ("床位数", "beds") if per_bed else ("托位数", "places")
            if all(c is None for c in counts):
                return _unknown(unit, f"未登记{what_zh}", f"{what_en} not recorded")
            total = sum(c or 0 for c in counts)
            if total == 0:
                return _Verdict(
                    status=NormStatus.NOT_APPLICABLE,
                    unit=unit,
                    note_zh=f"{what_zh}为0",
                    note_en=f"no {what_en}",
                )
            area, exact = _area_of(rooms)
            if area == 0:
                return _unknown(unit, "未登记房间面积", "room areas not recorded")
            measured = area / total
    if not exact:
        notes.append(_LOWER_BOUND)

    if norm.value is not None:
        required: float | None = norm.value
        low = high = norm.value
    else:
        assert norm.value_new is not None
        assert norm.value_existing is not None
        if site.new_community is None:
            required = None
            low = min(norm.value_new, norm.value_existing)
            high = max(norm.value_new, norm.value_existing)
            notes.append(
                (
                    f"未登记新建或既有社区（新建≥{norm.value_new:g}，既有≥{norm.value_existing:g}）",
                    f"new or existing community not recorded (new ≥ {norm.value_new:g}, "
                    f"existing ≥ {norm.value_existing:g})",
                )
            )
        else:
            required = norm.value_new if site.new_community else norm.value_existing
            low = high = required

    if _meets(measured, high, ">="):
        status = NormStatus.PASS
    elif exact and not _meets(measured, low, ">="):
        status = NormStatus.FAIL
    else:
        status = NormStatus.UNKNOWN
    return _Verdict(
        status=status,
        measured=measured,
        required=required,
        unit=unit,
        note_zh="；".join(n[0] for n in notes),
        note_en="; ".join(n[1] for n in notes),
    )


def _unknown(unit: str, zh: str, en: str) -> _Verdict:
    return _Verdict(status=NormStatus.UNKNOWN, unit=unit, note_zh=zh, note_en=en)


def _mix(norm: FunctionMixNorm, site: Site, pack: Pack) -> _Verdict:
    unit = "项"
    if not site.rooms:
        return _unknown(unit, "未登记房间", "no rooms recorded")
    offered = _offered(site) & norm.counted
    measured = len(offered)
    return _Verdict(
        status=NormStatus.PASS if measured >= norm.minimum else NormStatus.FAIL,
        measured=measured,
        required=norm.minimum,
        unit=unit,
        note_zh="、".join(FUNCTION_NAMES_ZH[f] for f in Function if f in offered),
        note_en=", ".join(f.value for f in Function if f in offered),
    )


def _level(room: Room) -> int:
    """A room's storey level: a semi-basement, or a floor numbered 0, is level 0."""
    return 0 if room.semi_basement else room.floor


def _floor_limit(norm: FloorLimitNorm, site: Site, pack: Pack) -> _Verdict:
    unit = "层"
    rooms = _rooms_of(site, norm.function)
    if not rooms:
        return _Verdict(
            status=NormStatus.NOT_APPLICABLE,
            unit=unit,
            note_zh="本设施未提供该功能",
            note_en="the site does not offer this function",
        )
    if norm.max_floor is not None:
        measured = max(_level(r) for r in rooms)
        bad = [r.id for r in rooms if _level(r) > norm.max_floor]
        return _Verdict(
            status=NormStatus.FAIL if bad else NormStatus.PASS,
            measured=measured,
            required=norm.max_floor,
            comparison="<=",
            unit=unit,
            rooms=tuple(bad),
        )
    assert norm.lowest_floor is not None
    measured = min(_level(r) for r in rooms)
    bad = [
        r.id
        for r in rooms
        if _level(r) < norm.lowest_floor or (r.semi_basement and not norm.semi_basement_allowed)
    ]
    return _Verdict(
        status=NormStatus.FAIL if bad else NormStatus.PASS,
        measured=measured,
        required=norm.lowest_floor,
        unit=unit,
        rooms=tuple(bad),
        note_zh="半地下室计为第0层；-1为地下一层",
        note_en="a semi-basement counts as level 0; -1 is the first basement",
    )


def _upper_rooms(norm: UpperFloorRoomsNorm, site: Site, pack: Pack) -> _Verdict:
    by_area = norm.max_area_m2 is not None
    unit = "m²" if by_area else "人"
    rooms = [r for r in _rooms_of(site, norm.function) if r.floor >= norm.from_floor]
    if not rooms:
        return _Verdict(
            status=NormStatus.NOT_APPLICABLE,
            unit=unit,
            note_zh=f"{norm.from_floor}层及以上无该功能用房",
            note_en=f"no room of this function on floor {norm.from_floor} or above",
        )
    limit: float
    values: dict[str, float | None] = {}
    notes: list[str] = []
    if norm.max_area_m2 is not None:
        limit = norm.max_area_m2
        values = {r.id: r.area_m2 for r in rooms}
    else:
        assert norm.max_people is not None
        limit = norm.max_people
        for room in rooms:
            capacity = room_capacity(room, pack)
            values[room.id] = None if capacity is None else capacity.value
            if capacity is not None:
                notes.append(f"{room.id}: {capacity.value} ({capacity.basis.value})")
    known = {k: v for k, v in values.items() if v is not None}
    bad = tuple(k for k, v in known.items() if not _meets(v, limit, "<="))
    missing = [k for k, v in values.items() if v is None]
    if bad:
        status = NormStatus.FAIL
    elif missing:
        status = NormStatus.UNKNOWN
    else:
        status = NormStatus.PASS
    note_zh = note_en = "; ".join(notes)
    if missing:
        what_zh, what_en = ("面积", "area") if by_area else ("容量", "capacity")
        note_zh = "; ".join([*notes, f"{', '.join(missing)} 未登记{what_zh}"])
        note_en = "; ".join([*notes, f"{what_en} unknown for {', '.join(missing)}"])
    return _Verdict(
        status=status,
        measured=max(known.values()) if known else None,
        required=limit,
        comparison="<=",
        unit=unit,
        rooms=bad or tuple(missing),
        note_zh=note_zh,
        note_en=note_en,
    )


def _fitness(norm: FitnessAreaNorm, site: Site, pack: Pack, outdoor_m2: float | None) -> _Verdict:
    unit = "m²/人"
    if norm.new_communities_only and site.new_community is False:
        return _Verdict(
            status=NormStatus.NOT_APPLICABLE,
            unit=unit,
            note_zh="仅适用于新建居住区",
            note_en="applies to new residential areas only",
        )
    if not site.residents:
        return _unknown(unit, "未登记居民人数", "residents not recorded")
    indoor, exact = _area_of(_rooms_of(site, Function.FITNESS))
    measured = indoor / site.residents
    notes_zh = ["室内健身面积（已登记健身用房）"]
    notes_en = ["indoor fitness area (fitness rooms in the registry)"]
    if not exact:
        notes_zh.append(_LOWER_BOUND[0])
        notes_en.append(_LOWER_BOUND[1])
    status: NormStatus
    if _meets(measured, norm.indoor_m2_per_resident, ">="):
        status = NormStatus.PASS
    elif norm.outdoor_m2_per_resident is None:
        status = NormStatus.FAIL if exact else NormStatus.UNKNOWN
    elif outdoor_m2 is None:
        status = NormStatus.UNKNOWN
        notes_zh.append("未登记室外健身用地面积")
        notes_en.append("outdoor fitness area not recorded")
    elif _meets(outdoor_m2 / site.residents, norm.outdoor_m2_per_resident, ">="):
        status = NormStatus.PASS
        notes_zh.append(f"室外人均{outdoor_m2 / site.residents:.2f} m²，达标")
        notes_en.append(f"outdoor {outdoor_m2 / site.residents:.2f} m² per resident meets it")
    else:
        status = NormStatus.FAIL if exact else NormStatus.UNKNOWN
        notes_zh.append(f"室外人均{outdoor_m2 / site.residents:.2f} m²")
        notes_en.append(f"outdoor {outdoor_m2 / site.residents:.2f} m² per resident")
    if status is NormStatus.FAIL and norm.new_communities_only and site.new_community is None:
        status = NormStatus.UNKNOWN
        notes_zh.append("未登记是否新建居住区")
        notes_en.append("whether the community is new is not recorded")
    return _Verdict(
        status=status,
        measured=measured,
        required=norm.indoor_m2_per_resident,
        unit=unit,
        note_zh="；".join(notes_zh),
        note_en="; ".join(notes_en),
    )


def _evaluate(norm: Norm, site: Site, pack: Pack, outdoor_m2: float | None) -> _Verdict:
    match norm:
        case MinimumNorm():
            return _minimum(norm, site, pack)
        case FunctionMixNorm():
            return _mix(norm, site, pack)
        case FloorLimitNorm():
            return _floor_limit(norm, site, pack)
        case UpperFloorRoomsNorm():
            return _upper_rooms(norm, site, pack)
        case FitnessAreaNorm():
            return _fitness(norm, site, pack, outdoor_m2)


def evaluate_compliance(
    site: Site, pack: Pack | None = None, *, outdoor_fitness_m2: float | None = None
) -> ComplianceReport:
    """Check ``site`` against every facility norm of ``pack`` (default: the site's own pack).

    ``outdoor_fitness_m2`` is the community's outdoor fitness land, which the registry does not
    hold; without it a site whose indoor fitness area falls short gets "unknown".
    Raises ``UnknownJurisdiction`` when the site names a pack that does not exist.
    """
    pack = pack if pack is not None else load_pack(site.jurisdiction)
    results = []
    for norm_id, norm in pack.norms.items():
        verdict = _evaluate(norm, site, pack, outdoor_fitness_m2)
        results.append(
            NormResult(
                norm=norm_id,
                status=verdict.status,
                level=norm.level,
                measured=verdict.measured,
                required=verdict.required,
                comparison=verdict.comparison,
                unit=verdict.unit,
                rooms=verdict.rooms,
                title_zh=norm.title_zh,
                title_en=norm.title_en,
                source=norm.source,
                document_number=pack.document(norm.source).number,
                note_zh=verdict.note_zh,
                note_en=verdict.note_en,
            )
        )
    return ComplianceReport(
        site=site.id, pack=pack.id, pack_version=pack.version, results=tuple(results)
    )
