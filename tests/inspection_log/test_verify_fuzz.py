"""The verifier against adversarial input: any single tampering of a chain is caught at or right
after the tampered entry, and a malformed export file is reported, never raised."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_server.db import make_engine
from ingest_server.inspection_log import (
    Entry,
    InspectionLog,
    Problem,
    Query,
    verify_chain,
    verify_export_file,
)
from protocol import ManualClock
from tests.inspection_log.conftest import sample

CHAIN_LENGTH = 8


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> list[Entry]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/records.db")
    clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
    log = InspectionLog(engine, clock)
    log.create_tables()
    start = clock.now()
    log.append_many("fuzz", (sample(i, start + timedelta(minutes=i)) for i in range(CHAIN_LENGTH)))
    entries = list(log.entries(Query(site="fuzz")))
    engine.dispose()
    return entries


_FIELDS = ("site", "seq", "recorded_at", "occurred_at", "category", "actor", "prev_hash", "hash")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    index=st.integers(0, CHAIN_LENGTH - 1),
    field=st.sampled_from((*_FIELDS, "payload")),
    junk=st.text(min_size=1, max_size=12),
)
def test_any_edited_field_is_caught_at_that_entry_or_the_next(
    chain: list[Entry], index: int, field: str, junk: str
) -> None:
    original = chain[index]
    if field == "payload":
        changed: object = {**original.payload, "tampered": junk}
    elif field == "seq":
        changed = original.seq + len(junk)
    else:
        changed = getattr(original, field) + junk
    tampered = list(chain)
    tampered[index] = original.model_copy(update={field: changed})
    report = verify_chain(tampered, anchors={"fuzz": None})
    assert not report.ok
    assert report.bad_position in (index + 1, index + 2)


@settings(max_examples=60)
@given(index=st.integers(0, CHAIN_LENGTH - 1), action=st.sampled_from(["drop", "swap", "dup"]))
def test_any_dropped_swapped_or_duplicated_entry_is_caught(
    chain: list[Entry], index: int, action: str
) -> None:
    tampered = list(chain)
    if action == "drop":
        if index == CHAIN_LENGTH - 1:
            return  # the newest entry: only a signed head shows it (tested elsewhere)
        del tampered[index]
        expected = {Problem.MISSING}
    elif action == "swap":
        other = (index + 1) % CHAIN_LENGTH
        tampered[index], tampered[other] = tampered[other], tampered[index]
        expected = {Problem.REORDERED, Problem.MISSING}
    else:
        tampered.insert(index, tampered[index])
        expected = {Problem.REORDERED}
    report = verify_chain(tampered, anchors={"fuzz": None})
    assert not report.ok
    assert report.problem in expected
    # Positions are 1-based: the first entry out of place is named.
    if action == "swap":
        assert report.bad_position == min(index, (index + 1) % CHAIN_LENGTH) + 1
    elif action == "dup":
        assert report.bad_position == index + 2  # the second copy
    else:
        assert report.bad_position == index + 1  # the entry after the dropped one


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=10,
            ).map(json.dumps),
        ),
        max_size=6,
    )
)
def test_malformed_export_files_are_reported_not_raised(
    tmp_path: Path, chain: list[Entry], lines: list[str]
) -> None:
    header = '{"format":"linli-inspection-log","version":1,"entries":['
    path = tmp_path / "export.json"
    path.write_text("\n".join([header, *lines, "]}"]), encoding="utf-8")
    report = verify_export_file(path)
    if not report.ok:
        assert report.problem is not None


def test_a_deeply_nested_export_is_reported_not_raised(tmp_path: Path) -> None:
    header = '{"format":"linli-inspection-log","version":1,"entries":['
    deep = tmp_path / "deep.json"
    deep.write_text(header + "\n" + "[" * 100_000 + "\n]}", encoding="utf-8")
    report = verify_export_file(deep)
    assert report.problem == Problem.MALFORMED
    assert report.summary().startswith("BAD: malformed: not JSON")
    other = tmp_path / "other.json"
    other.write_text('{"format": "something else"}', encoding="utf-8")
    assert verify_export_file(other).problem == Problem.MALFORMED
