"""Jurisdiction packs: the policy norms, inspection intervals and occupant load factors as data.

A pack is a YAML file in ``rules/packs/norms/``; a site names its pack (``Site.jurisdiction``).
A pack may ``extends`` another: the child's documents, norms, inspection items, occupant load
factors and function uses replace the parent's entry of the same id, and ``null`` removes one.
Each file is validated on its own (errors name the file and the field), then the chain is
resolved and every reference (a source's document, a function's occupant use) is checked.

Exceptions::

    PackError (ValueError)
    ├── InvalidPack            a pack file that cannot be used; names the file and the field
    └── UnknownJurisdiction    no pack with that id
"""

from __future__ import annotations

import calendar
import enum
import functools
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from importlib import resources
from typing import Annotated, Any, Literal, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from protocol import DoorRole
from rules.facility import DeviceKind, Function

__all__ = [
    "Document",
    "FitnessAreaNorm",
    "FloorLimitNorm",
    "FunctionMixNorm",
    "InspectionItem",
    "Interval",
    "IntervalOverride",
    "InvalidPack",
    "Measure",
    "MinimumNorm",
    "MonthDay",
    "Norm",
    "NormLevel",
    "OccupantLoad",
    "Pack",
    "PackError",
    "PackFile",
    "SiteFlag",
    "SourceRef",
    "TimeWindow",
    "UnknownJurisdiction",
    "UpperFloorRoomsNorm",
    "UtilizationSettings",
    "available_packs",
    "load_pack",
    "parse_pack_file",
    "resolve_pack",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_T = TypeVar("_T")
_PACK_DIR = ("packs", "norms")


class PackError(ValueError):
    """A rule pack that cannot be used."""


class InvalidPack(PackError):
    """A pack file that does not validate; the message names the file and the field."""


class UnknownJurisdiction(PackError):
    """No pack has the requested id."""

    def __init__(self, jurisdiction: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"no rule pack for jurisdiction {jurisdiction!r}; known: {', '.join(known) or 'none'}"
        )
        self.jurisdiction = jurisdiction
        self.known = known


# --- building blocks -------------------------------------------------------------------------


class Document(BaseModel):
    """A policy document or standard that norms cite."""

    model_config = _FROZEN

    number: str = Field(min_length=1, max_length=200, description="文号 or standard number")
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    secondary: bool = Field(
        default=False,
        description="Not among the originals the packs were written from (seeds/): cited as the "
        "rule catalogue gives it, article numbers not checked against the text",
    )


class SourceRef(BaseModel):
    """Where a figure comes from: a document id of the pack and the article in it."""

    model_config = _FROZEN

    document: str = Field(min_length=1)
    article_zh: str = Field(min_length=1)
    article_en: str = Field(min_length=1)


class NormLevel(enum.StrEnum):
    REQUIRED = "required"  # the document says 应 / 不应 / 不少于
    RECOMMENDED = "recommended"  # 宜 / 有条件的…: reported, never counted as a failure to comply


class Measure(enum.StrEnum):
    HOUSEHOLDS_AREA = "households_area"  # site floor area per 100 households
    SITE_AREA = "site_area"  # site floor area (when ``function`` is set: only if offered)
    AREA_PER_BED = "area_per_bed"  # floor area of the function's rooms per bed
    AREA_PER_PLACE = "area_per_place"  # floor area of the function's rooms per place


class _NormBase(BaseModel):
    model_config = _FROZEN

    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: SourceRef
    level: NormLevel = NormLevel.REQUIRED


class MinimumNorm(_NormBase):
    """A measured value must reach ``value`` (or ``value_new`` / ``value_existing``)."""

    kind: Literal["minimum"]
    measure: Measure
    function: Function | None = None
    value: float | None = Field(default=None, gt=0)
    value_new: float | None = Field(default=None, gt=0)
    value_existing: float | None = Field(default=None, gt=0)
    unit: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        variants = (self.value_new is None, self.value_existing is None)
        if self.value is None and any(variants):
            raise ValueError("give value, or both value_new and value_existing")
        if self.value is not None and not all(variants):
            raise ValueError("give value or value_new/value_existing, not both")
        per_unit = self.measure in (Measure.AREA_PER_BED, Measure.AREA_PER_PLACE)
        if per_unit and self.function is None:
            raise ValueError(f"measure {self.measure.value} needs a function")
        if self.measure is Measure.HOUSEHOLDS_AREA and self.function is not None:
            raise ValueError("households_area takes no function")
        return self


class FunctionMixNorm(_NormBase):
    """At least ``minimum`` of ``functions`` (all nine when empty) are offered."""

    kind: Literal["function_mix"]
    minimum: int = Field(ge=1, le=9)
    functions: frozenset[Function] = frozenset()

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.functions and self.minimum > len(self.functions):
            raise ValueError("minimum is larger than the set of functions")
        return self

    @property
    def counted(self) -> frozenset[Function]:
        return self.functions or frozenset(Function)


class FloorLimitNorm(_NormBase):
    """Every room of ``function`` lies between ``lowest_floor`` and ``max_floor``.

    Floors count as the registry does (1 = ground, -1 = first basement); a semi-basement
    counts as level 0 and is refused when ``semi_basement_allowed`` is false.
    """

    kind: Literal["floor_limit"]
    function: Function
    max_floor: int | None = Field(default=None, ge=1)
    lowest_floor: int | None = Field(default=None, le=1)
    semi_basement_allowed: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.max_floor is None) == (self.lowest_floor is None):
            raise ValueError("give exactly one of max_floor and lowest_floor")
        if self.max_floor is not None and not self.semi_basement_allowed:
            raise ValueError("semi_basement_allowed goes with lowest_floor")
        return self


class UpperFloorRoomsNorm(_NormBase):
    """Each room of ``function`` on ``from_floor`` or above is at most ``max_area_m2`` /
    holds at most ``max_people`` (its capacity)."""

    kind: Literal["upper_floor_rooms"]
    function: Function
    from_floor: int = Field(ge=1)
    max_area_m2: float | None = Field(default=None, gt=0)
    max_people: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.max_area_m2 is None) == (self.max_people is None):
            raise ValueError("give exactly one of max_area_m2 and max_people")
        return self


class FitnessAreaNorm(_NormBase):
    """Indoor fitness area per resident, or else outdoor fitness area per resident."""

    kind: Literal["fitness_area"]
    indoor_m2_per_resident: float = Field(gt=0)
    outdoor_m2_per_resident: float | None = Field(default=None, gt=0)
    new_communities_only: bool = False


Norm = Annotated[
    MinimumNorm | FunctionMixNorm | FloorLimitNorm | UpperFloorRoomsNorm | FitnessAreaNorm,
    Field(discriminator="kind"),
]


class OccupantLoad(BaseModel):
    """Floor area per occupant for one use of a room."""

    model_config = _FROZEN

    m2_per_person: float = Field(gt=0, le=1000)
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: SourceRef


class Interval(BaseModel):
    """A calendar interval: months are calendar months (31 Jan + 1 month = 28/29 Feb)."""

    model_config = _FROZEN

    months: int = Field(default=0, ge=0, le=120)
    days: int = Field(default=0, ge=0, le=3660)
    hours: int = Field(default=0, ge=0, le=87_840)
    minutes: int = Field(default=0, ge=0, le=5_270_400)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not (self.months or self.days or self.hours or self.minutes):
            raise ValueError("an interval must be longer than zero")
        return self

    def after(self, moment: datetime) -> datetime:
        """``moment`` plus this interval (months first, then days, hours and minutes)."""
        if self.months:
            month0 = moment.month - 1 + self.months
            year = moment.year + month0 // 12
            month = month0 % 12 + 1
            day = min(moment.day, calendar.monthrange(year, month)[1])
            moment = moment.replace(year=year, month=month, day=day)
        return moment + timedelta(days=self.days, hours=self.hours, minutes=self.minutes)

    def before(self, moment: datetime) -> datetime:
        """``moment`` minus this interval."""
        moment = moment - timedelta(days=self.days, hours=self.hours, minutes=self.minutes)
        if self.months:
            month0 = moment.month - 1 - self.months
            year = moment.year + month0 // 12
            month = month0 % 12 + 1
            day = min(moment.day, calendar.monthrange(year, month)[1])
            moment = moment.replace(year=year, month=month, day=day)
        return moment


class SiteFlag(enum.StrEnum):
    """Fire-safety classifications of a site that change its inspection intervals."""

    PUBLIC_GATHERING = "public_gathering"  # 公众聚集场所
    KEY_UNIT = "key_unit"  # 消防安全重点单位
    PUBLIC_INSTITUTION = "public_institution"  # 机关、团体、事业单位


class IntervalOverride(BaseModel):
    model_config = _FROZEN

    when: SiteFlag
    every: Interval


class TimeWindow(BaseModel):
    """A local-time window; ``end`` before ``start`` wraps past midnight."""

    model_config = _FROZEN

    start: time
    end: time

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.start == self.end:
            raise ValueError("a window needs different start and end")
        return self

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class MonthDay(BaseModel):
    """A yearly deadline: the end of ``day`` of ``month`` (local time); 29 Feb clamps to 28."""

    model_config = _FROZEN

    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.day > calendar.monthrange(2024, self.month)[1]:
            raise ValueError(f"month {self.month} has no day {self.day}")
        return self

    def on_or_after(self, moment: datetime) -> datetime:
        """The first deadline at or after ``moment`` (an aware local time)."""
        for year in (moment.year, moment.year + 1):
            day = min(self.day, calendar.monthrange(year, self.month)[1])
            end = datetime(year, self.month, day, tzinfo=moment.tzinfo) + timedelta(days=1)
            if end >= moment:
                return end
        raise AssertionError("a yearly deadline recurs within two years")


class InspectionItem(BaseModel):
    """One inspectable item and its interval."""

    model_config = _FROZEN

    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: SourceRef
    every: Interval
    warn_before: Interval
    first_after_install: Interval | None = None
    deadline: MonthDay | None = Field(
        default=None,
        description="A yearly deadline: due ``every`` after the deadline the last one met",
    )
    subject: Literal["site", "device"] = "site"
    device_kinds: frozenset[DeviceKind] = frozenset()
    door_roles: frozenset[DoorRole] = frozenset()
    counts_also: frozenset[str] = Field(
        default=frozenset(), description="Other record kinds that count as this item's completion"
    )
    while_open: bool = Field(default=False, description="Due only while the site is open")
    when: SiteFlag | None = Field(default=None, description="Applies only to sites with the flag")
    site_functions: frozenset[Function] = Field(
        default=frozenset(), description="Applies only to sites offering one of these functions"
    )
    window: TimeWindow | None = Field(
        default=None, description="Completions count only inside this local-time window"
    )
    overrides: tuple[IntervalOverride, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.subject == "device" and not self.device_kinds:
            raise ValueError("a device item needs device_kinds")
        if self.subject == "site" and (self.device_kinds or self.door_roles):
            raise ValueError("device_kinds and door_roles are for device items")
        if self.first_after_install is not None and self.subject != "device":
            raise ValueError("first_after_install is for device items")
        if self.deadline is not None and (self.while_open or self.window is not None):
            raise ValueError("a deadline item is not also a while-open or windowed item")
        return self

    def interval_for(self, flags: frozenset[SiteFlag]) -> Interval:
        """The interval for a site with ``flags`` (the first matching override wins)."""
        return next((o.every for o in self.overrides if o.when in flags), self.every)


class UtilizationSettings(BaseModel):
    model_config = _FROZEN

    underuse_threshold: float = Field(gt=0, le=1, description="Utilisation rate below = under-used")
    underuse_window_days: int = Field(ge=1, le=366)
    counter_reset: time = Field(description="Local time a door counter is reset (room empty)")
    source: SourceRef
    threshold_source: SourceRef


# --- files and resolved packs ----------------------------------------------------------------


class PackFile(BaseModel):
    """One pack file as written: entries may be ``null`` to remove the parent's entry."""

    model_config = _FROZEN

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    extends: str | None = None
    version: str = Field(min_length=1)
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    documents: dict[str, Document | None] = {}
    norms: dict[str, Norm | None] = {}
    occupant_load: dict[str, OccupantLoad | None] = {}
    function_uses: dict[Function, str] = {}
    inspections: dict[str, InspectionItem | None] = {}
    utilization: UtilizationSettings | None = None


class Pack(BaseModel):
    """A resolved pack: its own entries over those of the packs it extends."""

    model_config = _FROZEN

    id: str
    version: str
    chain: tuple[str, ...] = Field(description="This pack, then the packs it extends")
    title_zh: str
    title_en: str
    documents: Mapping[str, Document]
    norms: Mapping[str, Norm]
    occupant_load: Mapping[str, OccupantLoad]
    function_uses: Mapping[Function, str]
    inspections: Mapping[str, InspectionItem]
    utilization: UtilizationSettings

    def document(self, ref: SourceRef) -> Document:
        return self.documents[ref.document]


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in _UNION_TAGS)


# pydantic puts the discriminator tag and "function-after" wrappers into error locations.
_UNION_TAGS = frozenset(
    {"minimum", "function_mix", "floor_limit", "upper_floor_rooms", "fitness_area"}
)


def parse_pack_file(text: str, source: str) -> PackFile:
    """Parse one pack file; errors name ``source`` and the field."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise InvalidPack(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidPack(f"{source}: expected a mapping, got {type(data).__name__}")
    try:
        return PackFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise InvalidPack(f"{source}: {_location(err['loc'])}: {err['msg']}") from None


def _merge(
    parent: dict[str, tuple[_T, str]], child: Mapping[Any, _T | None], source: str
) -> dict[str, tuple[_T, str]]:
    merged = dict(parent)
    for key, value in child.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = (value, source)
    return merged


def resolve_pack(files: Mapping[str, tuple[PackFile, str]], jurisdiction: str) -> Pack:
    """Resolve ``jurisdiction`` from ``files`` (pack id → (file, source name))."""
    if jurisdiction not in files:
        raise UnknownJurisdiction(jurisdiction, tuple(sorted(files)))
    chain: list[str] = []
    current: str | None = jurisdiction
    while current is not None:
        if current in chain:
            raise InvalidPack(f"{files[chain[0]][1]}: extends forms a cycle: {[*chain, current]}")
        if current not in files:
            _child_file, child_source = files[chain[-1]]
            raise InvalidPack(f"{child_source}: extends: no pack {current!r}")
        chain.append(current)
        current = files[current][0].extends

    documents: dict[str, tuple[Document, str]] = {}
    norms: dict[str, tuple[Norm, str]] = {}
    loads: dict[str, tuple[OccupantLoad, str]] = {}
    uses: dict[str, tuple[str, str]] = {}
    items: dict[str, tuple[InspectionItem, str]] = {}
    utilization: tuple[UtilizationSettings, str] | None = None
    for pack_id in reversed(chain):
        pack_file, source = files[pack_id]
        documents = _merge(documents, pack_file.documents, source)
        norms = _merge(norms, pack_file.norms, source)
        loads = _merge(loads, pack_file.occupant_load, source)
        uses = _merge(uses, {f.value: u for f, u in pack_file.function_uses.items()}, source)
        items = _merge(items, pack_file.inspections, source)
        if pack_file.utilization is not None:
            utilization = (pack_file.utilization, source)
    top_file, top_source = files[jurisdiction]
    if utilization is None:
        raise InvalidPack(f"{top_source}: utilization: no pack in the chain {chain} gives it")

    def check_ref(ref: SourceRef, where: str, source: str) -> None:
        if ref.document not in documents:
            raise InvalidPack(
                f"{source}: {where}.source.document: unknown document {ref.document!r}"
            )

    for norm_id, (norm, source) in norms.items():
        check_ref(norm.source, f"norms.{norm_id}", source)
    for use, (load, source) in loads.items():
        check_ref(load.source, f"occupant_load.{use}", source)
    for item_id, (item, source) in items.items():
        check_ref(item.source, f"inspections.{item_id}", source)
    check_ref(utilization[0].source, "utilization", utilization[1])
    check_ref(utilization[0].threshold_source, "utilization.threshold", utilization[1])
    for function, (use, source) in uses.items():
        if use not in loads:
            raise InvalidPack(f"{source}: function_uses.{function}: unknown occupant use {use!r}")

    return Pack(
        id=top_file.id,
        version=top_file.version,
        chain=tuple(chain),
        title_zh=top_file.title_zh,
        title_en=top_file.title_en,
        documents={k: v for k, (v, _) in documents.items()},
        norms={k: v for k, (v, _) in norms.items()},
        occupant_load={k: v for k, (v, _) in loads.items()},
        function_uses={Function(k): v for k, (v, _) in uses.items()},
        inspections={k: v for k, (v, _) in items.items()},
        utilization=utilization[0],
    )


@functools.cache
def _packaged_files() -> dict[str, tuple[PackFile, str]]:
    folder = resources.files("rules").joinpath(*_PACK_DIR)
    files: dict[str, tuple[PackFile, str]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        source = "/".join(("rules", *_PACK_DIR, entry.name))
        pack_file = parse_pack_file(entry.read_text(encoding="utf-8"), source)
        if f"{pack_file.id}.yaml" != entry.name:
            raise InvalidPack(f"{source}: id: {pack_file.id!r} does not match the file name")
        files[pack_file.id] = (pack_file, source)
    return files


def available_packs() -> tuple[str, ...]:
    """The ids of the packaged jurisdiction packs."""
    return tuple(sorted(_packaged_files()))


@functools.cache
def load_pack(jurisdiction: str) -> Pack:
    """The resolved packaged pack for ``jurisdiction`` (a site's ``jurisdiction`` field)."""
    return resolve_pack(_packaged_files(), jurisdiction)
