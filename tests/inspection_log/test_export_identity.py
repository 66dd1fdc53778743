"""The exports are byte for byte what they were before the row-level fast path: every format,
language, time zone (DST and half-hour offsets included), filter and awkward payload gives the
same bytes as the frozen reference (``reference_export.py``); the shortcuts it takes (local time
per UTC hour, payload separators without parsing) equal the per-value computation on any input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_server.inspection_log import (
    Category,
    CjkFont,
    Exporter,
    InspectionLog,
    NewEntry,
    Query,
    format_ts,
)
from ingest_server.inspection_log import _export as export
from ingest_server.inspection_log._models import canonical_json
from protocol import ManualClock
from tests.inspection_log import reference_export as reference

T0 = datetime(2025, 3, 8, 20, 0, tzinfo=UTC)
ZONES = ("Asia/Shanghai", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC")

# One payload per category, with the text a spreadsheet or a JSON encoder finds awkward: quotes,
# backslashes, separators inside strings, formula starts, newlines, floats, nulls, booleans.
PAYLOADS: list[tuple[Category, dict[str, Any], str]] = [
    (
        Category.ALARM_RAISED,
        {
            "alert_id": "a1",
            "rule": "smoke.alarm",
            "severity": "critical",
            "room": "r1",
            "device": "s1",
            "message": '=HYPERLINK("x"), a: b',
        },
        "rules",
    ),
    (
        Category.ALARM_ACKNOWLEDGED,
        {
            "alert_id": "a1",
            "by": "值班员王芳",
            "raised_at": "2025-03-08T20:00:00+00:00",
            "response_seconds": 37.2,
        },
        "-王芳",
    ),
    (Category.ALARM_RESOLVED, {"alert_id": "a1", "resolution": 'back\\slash "q"'}, "+x"),
    (Category.DETECTOR_SELF_TEST, {"device": "s1", "room": "r1", "result": "fail"}, "gateway"),
    (Category.TEST_MODE_ALARM, {"device": "s1", "started_by": "@me"}, "王芳"),
    (
        Category.FIRE_DOOR_DURING_ALARM,
        {"device": "d1", "state": "open", "seconds_after_alarm": 45.0},
        "rules",
    ),
    (Category.DEVICE_SILENT, {"device": "s1", "timeout_seconds": 1e7}, "rules"),
    (Category.DEVICE_BACK, {"device": "s1", "silent_seconds": 0.001}, "rules"),
    (Category.GATEWAY_SILENT, {"gateway": "g1", "reason": "last_will"}, "rules"),
    (Category.GATEWAY_BACK, {"gateway": "g1"}, "rules"),
    (
        Category.INSPECTION_OVERDUE,
        {"item": "patrol.daily", "due_at": "2025-03-09T00:00:00+08:00"},
        "rules",
    ),
    (
        Category.DRILL,
        {
            "alarm_at": "2025-03-09T02:30:00+00:00",
            "rooms": ["r1", "r2"],
            "participants": 12,
            "remarks": "line\nbreak\r\n\tend",
        },
        "张三",
    ),
    (
        Category.PATROL,
        {
            "inspector": "张三",
            "checklist": {
                "exits_clear": "pass",
                "fire_doors_closed": "fail",
                "x,y": "not_applicable",
            },
            "remarks": "二楼走廊通道畅通，防火门关闭",
            "attachment": "a:b,c",
        },
        "张三",
    ),
    (
        Category.PERIODIC_CHECK,
        {"inspector": "李四", "checklist": {"fire_facilities": "not_applicable"}, "subject": "3F"},
        "李四",
    ),
    (Category.EQUIPMENT_TEST, {"inspector": "王五", "checklist": {}}, "王五"),
    (
        Category.MAINTENANCE,
        {"inspector": "赵六", "checklist": {"cleaned": "pass"}, "remarks": '"quoted"'},
        "赵六",
    ),
    (
        Category.CORRECTION,
        {"corrects_seq": 1, "reason": "typo", "amended": {"a": True, "b": None, "c": 1.5}},
        "李四",
    ),
]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> InspectionLog:
    from ingest_server.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('identity')}/records.db")
    clock = ManualClock(T0 + timedelta(days=400))
    log = InspectionLog(engine, clock)
    log.create_tables()
    for s, site in enumerate(("site-a", "site-b")):
        # Every 37 minutes for ~4 days around New York's and Lord Howe's DST changes.
        items = [
            NewEntry(
                category,
                payload,
                actor,
                T0 + timedelta(minutes=37 * i + s, seconds=i % 60, microseconds=i),
            )
            for i in range(150)
            for category, payload, actor in [PAYLOADS[i % len(PAYLOADS)]]
        ]
        log.append_many(site, items)
    return log


def _both(
    log: InspectionLog, query: Query, fmt: str, lang: str, tz: str, font: CjkFont | None = None
) -> tuple[bytes, bytes]:
    names = {"site-a": "=阳光中心", "site-b": "Sun, centre"}
    kwargs: dict[str, Any] = {"site_names": names, "tz": ZoneInfo(tz)}
    if font is not None:
        kwargs["font"] = lambda: font
    new = b"".join(Exporter(log, **kwargs).chunks(query, fmt, lang))  # type: ignore[arg-type]
    old = b"".join(reference.Exporter(log, **kwargs).chunks(query, fmt, lang))  # type: ignore[arg-type]
    return new, old


QUERIES = [
    Query(site="site-a"),
    Query(),
    Query(site="site-b", start=T0 + timedelta(days=1), end=T0 + timedelta(days=2, hours=5)),
    Query(categories=frozenset({Category.PATROL, Category.ALARM_RAISED})),
]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_match_the_reference(
    filled: InspectionLog, fmt: str, lang: str, tz: str
) -> None:
    for query in QUERIES:
        new, old = _both(filled, query, fmt, lang, tz)
        assert len(new) > 200
        assert new == old, (fmt, lang, tz, query)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pdf_matches_the_reference(filled: InspectionLog, font: CjkFont, lang: str) -> None:
    for query in (Query(site="site-a"), Query()):
        new, old = _both(filled, query, "pdf", lang, "America/New_York", font)
        assert new.startswith(b"%PDF")
        assert new == old


def test_public_entry_functions_match_the_reference(filled: InspectionLog) -> None:
    query = Query(categories=frozenset({Category.DRILL, Category.CORRECTION}))
    meta = export.ExportMeta(query, {"site-a": "A"}, ZoneInfo("Asia/Kathmandu"), T0)
    for lang in ("zh", "en"):
        new = b"".join(export.csv_chunks(filled.entries(query), meta, lang))  # type: ignore[arg-type]
        old = b"".join(reference.csv_chunks(filled.entries(query), meta, lang))  # type: ignore[arg-type]
        assert new == old
    new = b"".join(export.json_chunks(filled.span(query), meta))
    old = b"".join(reference.json_chunks(filled.span(query), meta))
    assert new == old
    assert b'"link": true' in new


_ZONE_NAMES = sorted(available_timezones())
_TIMES = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(_ZONE_NAMES), times=st.lists(_TIMES, min_size=1, max_size=20))
def test_local_time_per_hour_equals_per_timestamp(zone: str, times: list[datetime]) -> None:
    tz = ZoneInfo(zone)
    local = export._LocalTimes(tz, export._local)
    short = export._LocalTimes(tz, export._local_short)
    # Neighbours within the hour and across it exercise the cache.
    stamps = [format_ts(t + timedelta(minutes=d)) for t in times for d in (0, 1, 59, 61)]
    for ts in stamps:
        assert local(ts) == reference._local(ts, tz)
        assert short(ts) == reference._local_short(ts, tz)


def test_local_time_over_more_hours_than_it_keeps() -> None:
    tz = ZoneInfo("America/New_York")
    local = export._LocalTimes(tz, export._local)
    stamps = [format_ts(T0 + timedelta(minutes=67 * i, seconds=i % 60)) for i in range(1500)]
    for ts in stamps + stamps[::-1]:
        assert local(ts) == reference._local(ts, tz)
    assert len(local._hours) <= export._HOURS_KEPT


def _outcome(fn: Any, *args: Any) -> str:
    try:
        return str(fn(*args))
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.mark.parametrize(
    "odd",
    [
        "2025-03-08T20:61:00.000000Z",
        "2025-03-08 20:00:00.000000Z",
        "2025-03-08T20:00:00.000000+",
        "2025-02-30T20:00:00.000000Z",
        "2025-03-08T20",
        "",
    ],
)
def test_a_malformed_timestamp_fares_as_before(odd: str) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    local = export._LocalTimes(tz, export._local)
    local("2025-03-08T20:00:00.000000Z")
    assert _outcome(local, odd) == _outcome(reference._local, odd, tz)
    assert _outcome(local, odd) == _outcome(local, odd)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.text(), _JSON, max_size=6))
def test_spaced_payload_equals_parse_and_dump(payload: dict[str, Any]) -> None:
    stored = canonical_json(payload)
    expected = json.dumps(json.loads(stored), ensure_ascii=False, sort_keys=True)
    assert export._spaced(stored) == expected


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.builds(canonical_json, st.dictionaries(st.text(), _JSON, max_size=4)),
        st.builds(
            lambda v, pad: pad[0] + canonical_json(v) + pad[1],
            _JSON,
            st.tuples(
                st.sampled_from(["", " ", "\n", "\t "]),
                st.sampled_from(["", " ", "x", "}", "\r\n"]),
            ),
        ),
        st.text(max_size=30),
    )
)
def test_payload_parsing_fares_as_json_loads(text: str) -> None:
    row = ("s", 1, "", "", "", "", text, "", "")
    parsed = _outcome(lambda: next(iter(export._parse_rows([row])))[1])
    assert parsed == _outcome(json.loads, text)


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=40),
    lo=st.integers(min_value=-10, max_value=410),
    span=st.integers(min_value=0, max_value=200),
    after_seq=st.integers(min_value=0, max_value=45),
    open_end=st.sampled_from(["none", "start", "end"]),
)
def test_a_range_read_finds_back_dated_entries(
    tmp_path_factory: pytest.TempPathFactory,
    offsets: list[int],
    lo: int,
    span: int,
    after_seq: int,
    open_end: str,
) -> None:
    from ingest_server.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('range')}/records.db")
    try:
        log = InspectionLog(engine, ManualClock(T0 + timedelta(days=30)))
        log.create_tables()
        category, payload, actor = PAYLOADS[3]
        # Occurred times in any order: back-dated records break seq ↔ time order.
        log.append_many(
            "s", [NewEntry(category, payload, actor, T0 + timedelta(hours=h)) for h in offsets]
        )
        start = None if open_end == "start" else T0 + timedelta(hours=lo)
        end = None if open_end == "end" else T0 + timedelta(hours=lo + span)
        query = Query(site="s", start=start, end=end)
        every = list(log.entries(Query(site="s")))
        expected = [e.seq for e in every if query.matches(e) and e.seq > after_seq]
        assert [e.seq for e in log.entries(query, after_seq=after_seq)] == expected
    finally:
        engine.dispose()
