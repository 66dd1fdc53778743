"""Manual records: accepted when complete, refused with the offending field named."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_server.inspection_log import (
    CHECKLISTS,
    Category,
    InspectionLog,
    InvalidRecord,
    Query,
    parse_manual_record,
)
from protocol import ManualClock


def _record(clock: ManualClock, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "category": "patrol",
        "occurred_at": (clock.now() - timedelta(minutes=5)).isoformat(),
        "inspector": "张三",
        "checklist": {
            "exits_clear": "pass",
            "fire_doors_closed": "fail",
            "night_patrol": "not_applicable",
        },
        "remarks": "二楼防火门被杂物顶住，已清理",
        "attachment": "photos/2026-01-05/door-2f.jpg",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def test_a_complete_record_is_appended_with_the_inspector_as_actor(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    entry = log.record_manual(unique_id, _record(clock))
    assert entry.category == "patrol"
    assert entry.actor == "张三"
    assert entry.payload["checklist"]["fire_doors_closed"] == "fail"
    assert entry.payload["attachment"] == "photos/2026-01-05/door-2f.jpg"
    assert entry.occurred == clock.now() - timedelta(minutes=5)
    assert [e.seq for e in log.entries(Query(site=unique_id))] == [1]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"inspector": None}, "inspector"),
        ({"inspector": ""}, "inspector"),
        (
            {"checklist": {"exits_clear": "pass", "fire_exit_painted": "pass"}},
            "checklist.fire_exit_painted",
        ),
        ({"checklist": {"exits_clear": "maybe"}}, "checklist.exits_clear"),
        ({"checklist": {}}, "checklist"),
        ({"category": "coffee_break"}, "category"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-01-05T07:00:00"}, "occurred_at"),  # no time zone
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_records_are_refused_with_the_field_named(
    log: InspectionLog, clock: ManualClock, unique_id: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRecord) as info:
        log.record_manual(unique_id, _record(clock, **changes))
    assert info.value.field == field
    assert log.head(unique_id) is None


def test_a_time_in_the_future_is_refused(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    future = (clock.now() + timedelta(hours=1)).isoformat()
    with pytest.raises(InvalidRecord) as info:
        log.record_manual(unique_id, _record(clock, occurred_at=future))
    assert info.value.field == "occurred_at"
    assert "future" in str(info.value)


def test_checklists_are_per_record_type(clock: ManualClock) -> None:
    # A patrol item is unknown to a maintenance record.
    with pytest.raises(InvalidRecord) as info:
        parse_manual_record(
            _record(clock, category="maintenance", checklist={"exits_clear": "pass"}), clock.now()
        )
    assert info.value.field == "checklist.exits_clear"
    ok = parse_manual_record(
        _record(clock, category="maintenance", checklist={"battery_replaced": "pass"}), clock.now()
    )
    assert ok.category == "maintenance"


_KNOWN = set().union(*(set(items) for items in CHECKLISTS.values()))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    item=st.text(min_size=1, max_size=30).filter(lambda s: s not in _KNOWN),
    category=st.sampled_from([c.value for c in Category if c.manual]),
)
def test_any_unknown_checklist_item_is_refused_by_name(
    clock: ManualClock, item: str, category: str
) -> None:
    with pytest.raises(InvalidRecord) as info:
        parse_manual_record(
            _record(clock, category=category, checklist={item: "pass"}), clock.now()
        )
    assert info.value.field == f"checklist.{item}"
