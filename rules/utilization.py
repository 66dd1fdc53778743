"""Occupancy series and utilization metrics, restricted to a site's opening hours.

Occupancy is a step function: each sample's value holds until the next sample. It comes from
absolute counts (a presence / people-count sensor), or from a door counter's entries and exits
since the previous reading: occupancy = entries − exits since the daily reset (local time when
the room is empty, default 03:00), never below zero. Both corrections (a residual count at the
reset, exits that would take the count below zero) are reported with when and how much.

Metrics per room, per function and for the site, by hour of day, weekday and ISO week, over the
open time for which there is data (RULES.md D):

- ``average``: time-weighted average occupancy; ``average_when_occupied``;
- ``frequency``: share of open time with someone there (% of open time used);
- ``occupancy_rate`` = average when occupied ÷ capacity;
- ``utilisation_rate`` = person-hours ÷ capacity-hours (= frequency × occupancy rate);
- ``utilization_peak`` = peak ÷ capacity; person-hours; visits (entries); minutes over capacity;
- per block: current occupancy, occupied episodes and their mean dwell, the hour-of-week heatmap,
  the busiest hour and weekday.

Findings: under-used functions (utilisation rate below the pack's threshold) and pairs of rooms
whose busy hours hardly overlap (candidates for staggered use, 错时使用).

Samples are plain typed tuples so a store can feed them straight from a query; the arithmetic
runs in numpy because a 30-day report for a 20-room site at 1-minute samples is ~900k points.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, computed_field

from rules._packs import Pack, SourceRef, load_pack
from rules.capacity import Capacity, room_capacity
from rules.facility import FUNCTION_NAMES_ZH, Function, Site

__all__ = [
    "ComplementaryPair",
    "CountSample",
    "CounterSample",
    "DailyRollup",
    "DriftCorrection",
    "DriftReport",
    "OccupancySeries",
    "Stats",
    "UnderusedFunction",
    "UtilizationBlock",
    "UtilizationReport",
    "WeekStats",
    "daily_rollups",
    "occupancy_from_count_columns",
    "occupancy_from_counter",
    "occupancy_from_counter_columns",
    "occupancy_from_counts",
    "open_periods",
    "utilization_report",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_FROZEN = ConfigDict(frozen=True, extra="forbid")
_HOUR = 3600.0

# A people-count sensor reports every minute or so; a value older than this is no longer
# evidence of who is in the room, so the time after it counts as "no data", not as occupied.
DEFAULT_MAX_HOLD = timedelta(minutes=15)
# An hour-of-week cell is "busy" for a room when its average occupancy reaches this share of
# the room's busiest cell: relative, so small and large rooms are compared on their own terms.
BUSY_SHARE = 0.5
# Two rooms complement each other when at most this share of the smaller busy set overlaps the
# other's busy hours: one room could host both uses in turn.
MAX_BUSY_OVERLAP = 0.2
# A room whose busiest hour-of-week averages under one person is not busy at any hour: its
# "peaks" are noise and would pair it with everything.
MIN_BUSY_OCCUPANCY = 1.0
# The findings list the best candidates only; a manager reads a handful, not 190 pairs.
MAX_PAIRS = 10


FUNCTION_NAMES_EN: dict[Function, str] = {
    Function.ELDERLY_CARE: "Elderly care",
    Function.INFANT_CARE: "Infant care",
    Function.AFTER_SCHOOL: "After-school care",
    Function.DINING: "Community dining",
    Function.HOUSEKEEPING: "Housekeeping and convenience services",
    Function.HEALTH: "Health services",
    Function.FITNESS: "Fitness",
    Function.CULTURE: "Culture and leisure",
    Function.CHILDREN_PLAY: "Children's play",
}


# --- inputs and occupancy series -------------------------------------------------------------


class CountSample(NamedTuple):
    """An absolute people count observed at ``ts``."""

    ts: datetime
    value: int


class CounterSample(NamedTuple):
    """Entries and exits a door counter saw since its previous sample, reported at ``ts``."""

    ts: datetime
    entries: int
    exits: int


class DriftCorrection(BaseModel):
    """A correction applied to a counter-derived occupancy."""

    model_config = _FROZEN

    at: datetime
    reason: Literal["daily_reset", "below_zero"]  # residual count at the reset / excess exits
    before: int = Field(description="What the count was (or would have been) before")
    after: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount(self) -> int:
        """The correction applied: negative when drift was removed, positive when added."""
        return self.after - self.before


@dataclass(frozen=True)
class OccupancySeries:
    """A step function of occupancy: ``values[i]`` holds from ``times[i]`` to ``times[i+1]``.

    Times are POSIX seconds; a NaN value means no data from that time on. ``arrivals`` are
    entries (counter) or count increases (absolute counts) at ``arrival_times``.
    """

    times: FloatArray
    values: FloatArray
    arrival_times: FloatArray
    arrivals: FloatArray
    corrections: tuple[DriftCorrection, ...] = ()
    derived_from: Literal["count", "counter"] = "count"

    def value_at(self, moment: datetime) -> float | None:
        i = int(np.searchsorted(self.times, moment.timestamp(), side="right")) - 1
        if i < 0 or math.isnan(self.values[i]):
            return None
        return float(self.values[i])


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


def _columns(*columns: Sequence[float] | FloatArray) -> list[FloatArray]:
    """Columns as float arrays, sorted by the first (a store usually returns them sorted)."""
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    if len({len(a) for a in arrays}) > 1:
        raise ValueError("columns differ in length")
    if len(arrays[0]) > 1 and not bool(np.all(np.diff(arrays[0]) >= 0)):
        order = np.argsort(arrays[0], kind="stable")
        arrays = [a[order] for a in arrays]
    return arrays


def _posix(samples: Sequence[CountSample] | Sequence[CounterSample]) -> FloatArray:
    return np.fromiter((s.ts.timestamp() for s in samples), dtype=np.float64, count=len(samples))


def occupancy_from_counts(
    samples: Iterable[CountSample], *, max_hold: timedelta | None = DEFAULT_MAX_HOLD
) -> OccupancySeries:
    """An occupancy series from absolute counts; a value holds at most ``max_hold``."""
    rows = list(samples)
    values = np.fromiter((s.value for s in rows), dtype=np.float64, count=len(rows))
    return occupancy_from_count_columns(_posix(rows), values, max_hold=max_hold)


def occupancy_from_count_columns(
    times: Sequence[float] | FloatArray,
    values: Sequence[float] | FloatArray,
    *,
    max_hold: timedelta | None = DEFAULT_MAX_HOLD,
) -> OccupancySeries:
    """``occupancy_from_counts`` for columns: POSIX seconds and counts (as a store holds them)."""
    t, v = _columns(times, values)
    if not len(t):
        return OccupancySeries(_empty(), _empty(), _empty(), _empty())
    v = np.maximum(v, 0.0)
    sample_t = t
    rise = np.diff(v)
    contiguous = np.ones(len(rise), dtype=bool)
    if max_hold is not None:
        hold = max_hold.total_seconds()
        gaps = np.diff(t) > hold
        contiguous = ~gaps
        stale_t = t[:-1][gaps] + hold
        # After the last sample, too, the value stops being evidence.
        stale_t = np.append(stale_t, t[-1] + hold)
        order = np.argsort(np.concatenate([t, stale_t]), kind="stable")
        t = np.concatenate([t, stale_t])[order]
        v = np.concatenate([v, np.full(len(stale_t), np.nan)])[order]
    up = (rise > 0) & contiguous
    return OccupancySeries(t, v, sample_t[1:][up], rise[up])


def occupancy_from_counter(
    samples: Iterable[CounterSample],
    *,
    timezone: str,
    reset_at: time = time(3, 0),
    start: datetime | None = None,
    initial: int = 0,
) -> OccupancySeries:
    """An occupancy series from a door counter's entries and exits.

    Counts from ``initial`` at ``start`` (default: the first sample; earlier samples are
    ignored), resets to zero every day at ``reset_at`` local time (the room is empty then;
    anything left is drift), and never goes below zero (exits beyond the count are dropped).
    Both corrections are reported. After the first reset that follows the last sample there is
    no data.
    """
    rows = list(samples)
    return occupancy_from_counter_columns(
        _posix(rows),
        np.fromiter((s.entries for s in rows), dtype=np.float64, count=len(rows)),
        np.fromiter((s.exits for s in rows), dtype=np.float64, count=len(rows)),
        timezone=timezone,
        reset_at=reset_at,
        start=start,
        initial=initial,
    )


def occupancy_from_counter_columns(
    times: Sequence[float] | FloatArray,
    entries: Sequence[float] | FloatArray,
    exits: Sequence[float] | FloatArray,
    *,
    timezone: str,
    reset_at: time = time(3, 0),
    start: datetime | None = None,
    initial: int = 0,
) -> OccupancySeries:
    """``occupancy_from_counter`` for columns: POSIX seconds, entries and exits."""
    t, entries, exits = _columns(times, entries, exits)
    if start is not None:
        kept = t >= start.timestamp()
        t, entries, exits = t[kept], entries[kept], exits[kept]
    if not len(t):
        return OccupancySeries(_empty(), _empty(), _empty(), _empty(), derived_from="counter")
    first = start.timestamp() if start is not None else float(t[0])
    zone = ZoneInfo(timezone)
    resets = _daily_times(first, float(t[-1]), zone, reset_at)
    resets = resets[resets > first]
    # Segment k runs from reset k-1 (or the start) to reset k; each counts up from its base.
    segment = np.searchsorted(resets, t, side="right")
    delta = entries - exits
    occupancy = np.empty_like(delta)
    corrections: list[DriftCorrection] = []
    level_at_reset: list[float] = []
    for k in range(len(resets) + 1):
        lo, hi = np.searchsorted(segment, [k, k + 1])
        base = float(initial) if k == 0 else 0.0
        if hi > lo:
            # Lindley recursion in closed form: x_i = max(0, x_{i-1} + d_i) with x_0 = base is
            # S_i − min(0, min_{j≤i} S_j) where S is base plus the running sum of d.
            run = base + np.cumsum(delta[lo:hi])
            floor = np.minimum(np.minimum.accumulate(run), 0.0)
            occupancy[lo:hi] = run - floor
            dropped = -np.diff(np.concatenate([[0.0], floor]))
            for i in np.nonzero(dropped > 0)[0]:
                after = float(occupancy[lo + i])
                corrections.append(
                    DriftCorrection(
                        at=_utc(float(t[lo + i])),
                        reason="below_zero",
                        before=int(after - dropped[i]),
                        after=int(after),
                    )
                )
            last = float(occupancy[hi - 1])
        else:
            last = base
        if k < len(resets):
            level_at_reset.append(last)
    reset_vals = np.zeros(len(resets))
    for at, level in zip(resets, level_at_reset, strict=True):
        if level > 0:
            corrections.append(
                DriftCorrection(at=_utc(float(at)), reason="daily_reset", before=int(level))
            )
    corrections.sort(key=lambda c: c.at)
    lead = [first] if first < t[0] else []
    out_t = np.concatenate([lead, resets, t])
    out_v = np.concatenate([[float(initial)] * len(lead), reset_vals, occupancy])
    # A reset and a sample at the same instant: the sample (counted after the reset) wins.
    rank = np.concatenate([np.zeros(len(lead) + len(resets)), np.ones(len(t))])
    order = np.lexsort((rank, out_t))
    out_t, out_v = out_t[order], out_v[order]
    keep = np.append(np.diff(out_t) > 0, True)
    out_t, out_v = out_t[keep], out_v[keep]
    # Past the first reset after the last sample the counter has said nothing about that day:
    # no data, rather than a count held for ever.
    tail = _daily_times(float(t[-1]), float(t[-1]) + 2 * 86_400, zone, reset_at)
    tail = tail[tail > t[-1]]
    if len(tail):
        out_t = np.append(out_t, tail[0])
        out_v = np.append(out_v, np.nan)
    return OccupancySeries(
        out_t,
        out_v,
        t[entries > 0],
        entries[entries > 0],
        tuple(corrections),
        "counter",
    )


def _utc(posix: float) -> datetime:
    return datetime.fromtimestamp(posix, tz=UTC)


def _daily_times(start: float, end: float, zone: ZoneInfo, at: time) -> FloatArray:
    """POSIX times of ``at`` local time on every day from ``start`` to ``end``."""
    day = _utc(start).astimezone(zone).date() - timedelta(days=1)
    last = _utc(end).astimezone(zone).date() + timedelta(days=1)
    out = []
    while day <= last:
        out.append(datetime.combine(day, at, tzinfo=zone).timestamp())
        day += timedelta(days=1)
    arr = np.array(out, dtype=np.float64)
    return arr[(arr >= start) & (arr <= end)]


# --- opening hours and cells -----------------------------------------------------------------


def open_periods(site: Site, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The site's open periods between ``start`` and ``end`` (UTC, merged, clipped).

    A site without recorded opening hours counts as open the whole time.
    """
    if not site.opening_hours:
        return [(start.astimezone(UTC), end.astimezone(UTC))] if end > start else []
    zone = ZoneInfo(site.timezone)
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    raw: list[tuple[datetime, datetime]] = []
    while day <= last:
        for hours in site.opening_hours:
            if day.weekday() in hours.days:
                a = datetime.combine(day, hours.open, tzinfo=zone).astimezone(UTC)
                b = datetime.combine(day, hours.close, tzinfo=zone).astimezone(UTC)
                a, b = max(a, start.astimezone(UTC)), min(b, end.astimezone(UTC))
                if b > a:
                    raw.append((a, b))
        day += timedelta(days=1)
    raw.sort()
    merged: list[tuple[datetime, datetime]] = []
    for a, b in raw:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


@dataclass(frozen=True)
class _Cells:
    """Open time cut at local hour boundaries: one cell per (open, local hour) piece."""

    start: FloatArray
    end: FloatArray
    weekday: IntArray
    hour: IntArray
    week: tuple[str, ...]  # ISO week label per cell

    def index(self, at: FloatArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        i = np.searchsorted(self.start, at, side="right") - 1
        inside = (i >= 0) & (at < self.end[np.maximum(i, 0)])
        return i, inside


def _cells(periods: Sequence[tuple[datetime, datetime]], zone: ZoneInfo) -> _Cells:
    starts: list[float] = []
    ends: list[float] = []
    weekdays: list[int] = []
    hours: list[int] = []
    weeks: list[str] = []
    for a, b in periods:
        local = a.astimezone(zone)
        boundary = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        while boundary < b:
            nxt = boundary + timedelta(hours=1)
            lo, hi = max(boundary, a), min(nxt, b)
            if hi > lo:
                when = lo.astimezone(zone)
                iso = when.isocalendar()
                starts.append(lo.timestamp())
                ends.append(hi.timestamp())
                weekdays.append(when.weekday())
                hours.append(when.hour)
                weeks.append(f"{iso.year}-W{iso.week:02d}")
            boundary = nxt
    return _Cells(
        np.array(starts, dtype=np.float64),
        np.array(ends, dtype=np.float64),
        np.array(weekdays, dtype=np.int64),
        np.array(hours, dtype=np.int64),
        tuple(weeks),
    )


# --- accumulation ----------------------------------------------------------------------------


@dataclass
class _CellSums:
    """Per-cell sums of one occupancy curve (a room, or the sum over several rooms)."""

    data: FloatArray  # seconds with data
    person: FloatArray  # person-seconds
    capacity: FloatArray  # capacity-seconds (capacity of the rooms with data)
    occupied: FloatArray  # seconds with occupancy > 0
    over: FloatArray  # seconds with a room over its capacity
    peak: FloatArray  # highest occupancy (NaN: no data)
    peak_at: FloatArray  # first time of the peak
    visits: FloatArray
    episodes: int = 0
    episode_seconds: float = 0.0
    capacity_known: bool = True


def _sorted_union(arrays: Sequence[FloatArray]) -> FloatArray:
    """The sorted distinct values of already-sorted arrays (timsort merges the runs)."""
    joined: FloatArray = np.sort(np.concatenate(arrays), kind="stable")
    if len(joined) < 2:
        return joined
    distinct: FloatArray = joined[np.concatenate([[True], np.diff(joined) > 0])]
    return distinct


def _sum_by(index: IntArray, weights: FloatArray, n: int) -> FloatArray:
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64, copy=False)


def _accumulate(
    times: FloatArray,
    values: FloatArray,
    capacity: FloatArray,
    over: npt.NDArray[np.bool_],
    arrival_times: FloatArray,
    arrivals: FloatArray,
    cells: _Cells,
    capacity_known: bool,
) -> _CellSums:
    n = len(cells.start)
    if n == 0 or len(times) == 0:
        zeros = np.zeros(n)
        return _CellSums(
            zeros, zeros, zeros, zeros, zeros, np.full(n, np.nan), np.full(n, np.nan), zeros
        )
    edges = _sorted_union([times, cells.start, cells.end])
    a, b = edges[:-1], edges[1:]
    point = np.searchsorted(times, a, side="right") - 1
    has_point = point >= 0
    point = np.maximum(point, 0)
    value = np.where(has_point, values[point], np.nan)
    cell, inside = cells.index(a)
    keep = inside & ~np.isnan(value)
    a, b, value, cell = a[keep], b[keep], value[keep], cell[keep]
    cap = capacity[point[keep]]
    is_over = over[point[keep]]
    d = b - a
    occupied = value > 0
    data = _sum_by(cell, d, n)
    person = _sum_by(cell, value * d, n)
    cap_s = _sum_by(cell, cap * d, n)
    occ_s = _sum_by(cell, d * occupied, n)
    over_s = _sum_by(cell, d * is_over, n)
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, cell, value)
    at_peak = value == peak[cell]
    peak_at = np.full(n, np.inf)
    np.minimum.at(peak_at, cell[at_peak], a[at_peak])
    peak[np.isinf(peak)] = np.nan
    peak_at[np.isinf(peak_at)] = np.nan
    arrival_cell, arrival_in = cells.index(arrival_times)
    visits = _sum_by(arrival_cell[arrival_in], arrivals[arrival_in], n)
    # An occupied episode continues while the occupied pieces touch end to start.
    if len(a):
        touches = np.concatenate([[False], (b[:-1] == a[1:]) & occupied[:-1]])
        episodes = int(np.count_nonzero(occupied & ~touches))
    else:
        episodes = 0
    return _CellSums(
        data,
        person,
        cap_s,
        occ_s,
        over_s,
        peak,
        peak_at,
        visits,
        episodes,
        float(occ_s.sum()),
        capacity_known,
    )


# --- outputs ---------------------------------------------------------------------------------


class Stats(BaseModel):
    """Utilization figures over a set of open time (a whole window, an hour, a weekday…)."""

    model_config = _FROZEN

    open_hours: float
    data_hours: float
    person_hours: float
    capacity_hours: float | None
    average: float | None
    average_when_occupied: float | None
    frequency: float | None
    occupancy_rate: float | None
    utilisation_rate: float | None
    peak: float | None
    peak_at: datetime | None
    utilization_peak: float | None
    visits: int
    minutes_over_capacity: float


class WeekStats(BaseModel):
    model_config = _FROZEN

    week: str
    stats: Stats


class UtilizationBlock(BaseModel):
    """Utilization of one room, one function (its rooms together) or the whole site."""

    model_config = _FROZEN

    level: Literal["room", "function", "site"]
    id: str
    title_zh: str
    title_en: str
    rooms: tuple[str, ...]
    capacity: int | None
    capacities: tuple[Capacity, ...]
    capacity_unknown: tuple[str, ...]
    current: float | None
    summary: Stats
    episodes: int
    mean_dwell_minutes: float | None
    by_hour: tuple[Stats, ...]
    by_weekday: tuple[Stats, ...]
    by_week: tuple[WeekStats, ...]
    heatmap: tuple[tuple[float | None, ...], ...]
    busiest_hour: int | None
    busiest_weekday: int | None


class UnderusedFunction(BaseModel):
    """A function whose utilisation rate over the report window is below the pack's threshold.

    The policy finding is over ``policy_window_days`` (the pack's window, default 30 days):
    ask for a report of that length to make it.
    """

    model_config = _FROZEN

    function: Function
    utilisation_rate: float
    threshold: float
    window_days: float
    policy_window_days: int
    source: SourceRef
    message_zh: str
    message_en: str


class ComplementaryPair(BaseModel):
    model_config = _FROZEN

    rooms: tuple[str, str]
    functions: tuple[Function | None, Function | None]
    busy_hours: tuple[int, int]
    overlap_hours: int
    overlap: float
    source: SourceRef
    message_zh: str
    message_en: str


class DriftReport(BaseModel):
    model_config = _FROZEN

    room: str
    corrections: tuple[DriftCorrection, ...]


class UtilizationReport(BaseModel):
    model_config = _FROZEN

    site: str
    timezone: str
    start: datetime
    end: datetime
    hours_basis: Literal["opening_hours", "all_hours"]
    pack: str
    rooms: tuple[UtilizationBlock, ...]
    functions: tuple[UtilizationBlock, ...]
    total: UtilizationBlock
    underused: tuple[UnderusedFunction, ...]
    underuse_unknown: tuple[Function, ...]
    complementary: tuple[ComplementaryPair, ...]
    drift: tuple[DriftReport, ...]
    no_data: tuple[str, ...]


def _ratio(num: float, den: float | None) -> float | None:
    return num / den if den else None


def _stats(sums: _CellSums, cells: _Cells, mask: npt.NDArray[np.bool_]) -> Stats:
    open_s = float((cells.end - cells.start)[mask].sum())
    data = float(sums.data[mask].sum())
    person = float(sums.person[mask].sum())
    occupied = float(sums.occupied[mask].sum())
    cap = float(sums.capacity[mask].sum()) if sums.capacity_known else None
    peaks = sums.peak[mask]
    peak: float | None = None
    peak_at: datetime | None = None
    if peaks.size and not np.all(np.isnan(peaks)):
        peak = float(np.nanmax(peaks))
        first = float(np.nanmin(np.where(peaks == peak, sums.peak_at[mask], np.nan)))
        peak_at = _utc(first)
    average = _ratio(person, data)
    when_occupied = _ratio(person, occupied)
    mean_cap = _ratio(cap, data) if cap is not None else None
    return Stats(
        open_hours=open_s / _HOUR,
        data_hours=data / _HOUR,
        person_hours=person / _HOUR,
        capacity_hours=cap / _HOUR if cap is not None else None,
        average=average,
        average_when_occupied=when_occupied,
        frequency=_ratio(occupied, data),
        occupancy_rate=_ratio(when_occupied, mean_cap) if when_occupied is not None else None,
        utilisation_rate=_ratio(person, cap),
        peak=peak,
        peak_at=peak_at,
        utilization_peak=_ratio(peak, mean_cap) if peak is not None else None,
        visits=round(float(sums.visits[mask].sum())),
        minutes_over_capacity=float(sums.over[mask].sum()) / 60,
    )


def _block(
    level: Literal["room", "function", "site"],
    block_id: str,
    titles: tuple[str, str],
    rooms: tuple[str, ...],
    capacities: tuple[Capacity, ...],
    unknown: tuple[str, ...],
    current: float | None,
    sums: _CellSums,
    cells: _Cells,
) -> UtilizationBlock:
    everything = np.ones(len(cells.start), dtype=bool)
    by_hour = tuple(_stats(sums, cells, cells.hour == h) for h in range(24))
    by_weekday = tuple(_stats(sums, cells, cells.weekday == d) for d in range(7))
    week_labels = np.array(cells.week, dtype=object)
    by_week = tuple(
        WeekStats(week=w, stats=_stats(sums, cells, week_labels == w))
        for w in sorted(set(cells.week))
    )
    heat: list[tuple[float | None, ...]] = []
    for d in range(7):
        row: list[float | None] = []
        for h in range(24):
            mask = (cells.weekday == d) & (cells.hour == h)
            data = float(sums.data[mask].sum())
            row.append(float(sums.person[mask].sum()) / data if data else None)
        heat.append(tuple(row))

    def busiest(stats: tuple[Stats, ...]) -> int | None:
        known = [(s.average, i) for i, s in enumerate(stats) if s.average is not None]
        return max(known, key=lambda x: (x[0], -x[1]))[1] if known else None

    summary = _stats(sums, cells, everything)
    return UtilizationBlock(
        level=level,
        id=block_id,
        title_zh=titles[0],
        title_en=titles[1],
        rooms=rooms,
        capacity=sum(c.value for c in capacities) if not unknown else None,
        capacities=capacities,
        capacity_unknown=unknown,
        current=current,
        summary=summary,
        episodes=sums.episodes,
        mean_dwell_minutes=sums.episode_seconds / sums.episodes / 60 if sums.episodes else None,
        by_hour=by_hour,
        by_weekday=by_weekday,
        by_week=by_week,
        heatmap=tuple(heat),
        busiest_hour=busiest(by_hour),
        busiest_weekday=busiest(by_weekday),
    )


@dataclass
class _Merged:
    times: FloatArray
    values: FloatArray
    capacity: FloatArray
    over: npt.NDArray[np.bool_]
    arrival_times: FloatArray = field(default_factory=_empty)
    arrivals: FloatArray = field(default_factory=_empty)


def _merge(series: Sequence[tuple[OccupancySeries, float]]) -> _Merged:
    """Sum of several rooms' occupancy; capacity and "over" count only rooms with data."""
    if not series:
        return _Merged(_empty(), _empty(), _empty(), np.zeros(0, dtype=bool))
    times = _sorted_union([s.times for s, _ in series])
    total = np.zeros(len(times))
    cap = np.zeros(len(times))
    over = np.zeros(len(times), dtype=bool)
    some = np.zeros(len(times), dtype=bool)
    for s, capacity in series:
        i = np.searchsorted(s.times, times, side="right") - 1
        v = (
            np.where(i >= 0, s.values[np.maximum(i, 0)], np.nan)
            if len(s.times)
            else np.full(len(times), np.nan)
        )
        has = ~np.isnan(v)
        total += np.where(has, v, 0.0)
        cap += np.where(has, capacity, 0.0)
        over |= has & (v > capacity)
        some |= has
    total[~some] = np.nan
    arrival_times = np.concatenate([s.arrival_times for s, _ in series])
    arrivals = np.concatenate([s.arrivals for s, _ in series])
    return _Merged(times, total, cap, over, arrival_times, arrivals)


def utilization_report(
    site: Site,
    series: Mapping[str, OccupancySeries],
    *,
    start: datetime,
    end: datetime,
    pack: Pack | None = None,
) -> UtilizationReport:
    """Utilization of ``site`` from ``start`` to ``end`` (the current values are at ``end``).

    ``series``: occupancy per room id (rooms without one are listed in ``no_data``).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    pack = pack if pack is not None else load_pack(site.jurisdiction)
    zone = ZoneInfo(site.timezone)
    periods = open_periods(site, start, end)
    cells = _cells(periods, zone)
    window_start, window_end = start.timestamp(), end.timestamp()

    room_blocks: list[UtilizationBlock] = []
    per_room: dict[str, tuple[OccupancySeries, Capacity | None]] = {}
    no_data: list[str] = []
    for room in site.rooms:
        s = series.get(room.id)
        if s is None:
            no_data.append(room.id)
            continue
        capacity = room_capacity(room, pack)
        per_room[room.id] = (s, capacity)
        cap_value = float(capacity.value) if capacity is not None else math.inf
        caps = np.full(len(s.times), cap_value if capacity is not None else 0.0)
        sums = _accumulate(
            s.times,
            s.values,
            caps,
            s.values > cap_value,
            s.arrival_times,
            s.arrivals,
            cells,
            capacity is not None,
        )
        room_blocks.append(
            _block(
                "room",
                room.id,
                (room.name, room.name_en or room.name),
                (room.id,),
                (capacity,) if capacity is not None else (),
                () if capacity is not None else (room.id,),
                s.value_at(end) if window_start < window_end else None,
                sums,
                cells,
            )
        )

    def group(
        level: Literal["function", "site"], gid: str, titles: tuple[str, str], ids: list[str]
    ) -> UtilizationBlock:
        members = [(per_room[i][0], per_room[i][1]) for i in ids]
        caps = tuple(c for _, c in members if c is not None)
        unknown = tuple(i for i in ids if per_room[i][1] is None)
        merged = _merge([(s, float(c.value) if c is not None else math.inf) for s, c in members])
        merged.capacity[np.isinf(merged.capacity)] = 0.0
        sums = _accumulate(
            merged.times,
            merged.values,
            merged.capacity,
            merged.over,
            merged.arrival_times,
            merged.arrivals,
            cells,
            not unknown,
        )
        currents = [s.value_at(end) for s, _ in members]
        known = [c for c in currents if c is not None]
        return _block(
            level,
            gid,
            titles,
            tuple(ids),
            caps,
            unknown,
            sum(known) if known else None,
            sums,
            cells,
        )

    function_blocks: list[UtilizationBlock] = []
    for function in Function:
        ids = [r.id for r in site.rooms if r.function is function and r.id in per_room]
        if ids:
            function_blocks.append(
                group(
                    "function", function.value, (FUNCTION_NAMES_ZH[function], function.value), ids
                )
            )
    total = group("site", site.id, (site.name, site.name_en or site.name), list(per_room))

    window_days = (end - start).total_seconds() / 86_400
    settings = pack.utilization
    underused = []
    for block in function_blocks:
        rate = block.summary.utilisation_rate
        if rate is not None and rate < settings.underuse_threshold:
            function = Function(block.id)
            underused.append(
                UnderusedFunction(
                    function=function,
                    utilisation_rate=rate,
                    threshold=settings.underuse_threshold,
                    window_days=window_days,
                    policy_window_days=settings.underuse_window_days,
                    source=settings.source,
                    message_zh=(
                        f"{FUNCTION_NAMES_ZH[function]}近{window_days:.0f}天利用率"
                        f"{rate:.0%}，低于{settings.underuse_threshold:.0%}，建议调整功能设置"
                    ),
                    message_en=(
                        f"{FUNCTION_NAMES_EN[function]} used at {rate:.0%} over "
                        f"{window_days:.0f} days, below {settings.underuse_threshold:.0%}: "
                        "consider adjusting the function"
                    ),
                )
            )

    return UtilizationReport(
        site=site.id,
        timezone=site.timezone,
        start=start,
        end=end,
        hours_basis="opening_hours" if site.opening_hours else "all_hours",
        pack=pack.id,
        rooms=tuple(room_blocks),
        functions=tuple(function_blocks),
        total=total,
        underused=tuple(underused),
        underuse_unknown=tuple(
            Function(b.id) for b in function_blocks if b.summary.utilisation_rate is None
        ),
        complementary=_complementary(room_blocks, site, settings.source),
        drift=tuple(
            DriftReport(room=r, corrections=s.corrections)
            for r, (s, _) in per_room.items()
            if s.corrections
        ),
        no_data=tuple(no_data),
    )


def _complementary(
    blocks: Sequence[UtilizationBlock], site: Site, source: SourceRef
) -> tuple[ComplementaryPair, ...]:
    busy: dict[str, set[int]] = {}
    for block in blocks:
        cells = [v for row in block.heatmap for v in row]
        top = max((v for v in cells if v is not None), default=0.0)
        if top >= MIN_BUSY_OCCUPANCY:
            busy[block.id] = {
                i for i, v in enumerate(cells) if v is not None and v >= BUSY_SHARE * top
            }
    pairs: list[ComplementaryPair] = []
    for x, y in itertools.combinations(sorted(busy), 2):
        common = len(busy[x] & busy[y])
        overlap = common / min(len(busy[x]), len(busy[y]))
        if overlap > MAX_BUSY_OVERLAP:
            continue
        rx, ry = site.room(x), site.room(y)
        fx = rx.function if rx is not None else None
        fy = ry.function if ry is not None else None
        zx, zy = (rx.name if rx else x), (ry.name if ry else y)
        ex = (rx.name_en or rx.name) if rx else x
        ey = (ry.name_en or ry.name) if ry else y
        pairs.append(
            ComplementaryPair(
                rooms=(x, y),
                functions=(fx, fy),
                busy_hours=(len(busy[x]), len(busy[y])),
                overlap_hours=common,
                overlap=overlap,
                source=source,
                message_zh=f"{zx}与{zy}的使用高峰基本错开（重叠{overlap:.0%}），可考虑错时使用",
                message_en=(
                    f"{ex} and {ey} are busy at different hours ({overlap:.0%} overlap): "
                    "candidates for staggered use"
                ),
            )
        )
    pairs.sort(key=lambda p: (p.overlap, -(p.busy_hours[0] + p.busy_hours[1]), p.rooms))
    return tuple(pairs[:MAX_PAIRS])


class DailyRollup(BaseModel):
    """One row of the daily rollup table: a room, a function or the site on one local day."""

    model_config = _FROZEN

    day: date
    level: Literal["room", "function", "site"]
    id: str
    capacity: int | None
    stats: Stats
    episodes: int
    drift_corrections: int


def daily_rollups(
    site: Site,
    series: Mapping[str, OccupancySeries],
    *,
    day: date,
    pack: Pack | None = None,
) -> tuple[DailyRollup, ...]:
    """The rollup rows of ``site`` for the local calendar ``day`` (a scheduled job's work)."""
    zone = ZoneInfo(site.timezone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    report = utilization_report(site, series, start=start, end=end, pack=pack)
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    drift = {d.room: sum(1 for c in d.corrections if lo <= c.at < hi) for d in report.drift}
    rows = []
    for block in (*report.rooms, *report.functions, report.total):
        count = (
            drift.get(block.id, 0)
            if block.level == "room"
            else sum(drift.get(r, 0) for r in block.rooms)
        )
        rows.append(
            DailyRollup(
                day=day,
                level=block.level,
                id=block.id,
                capacity=block.capacity,
                stats=block.summary,
                episodes=block.episodes,
                drift_corrections=count,
            )
        )
    return tuple(rows)
