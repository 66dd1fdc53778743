"""The chain: appends, the documented hash, append-only guards, tampering found by the verifier,
concurrency, corrections and the retention purge."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from ingest_server.inspection_log import (
    GENESIS_HASH,
    AlarmRaised,
    Category,
    DetectorSelfTest,
    InspectionLog,
    InvalidRecord,
    NewEntry,
    Problem,
    Query,
    RetentionPolicy,
)
from protocol import ManualClock
from tests.inspection_log.conftest import fill


def _raw(db_path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection without the append-only triggers, as an attacker would use."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS inspection_entries_no_update")
    conn.execute("DROP TRIGGER IF EXISTS inspection_entries_no_delete")
    return conn


def test_entries_chain_per_site_with_gapless_seq(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    fill(log, clock, unique_id, 5)
    fill(log, clock, unique_id + "b", 3)
    got = list(log.entries(Query(site=unique_id)))
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert got[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(got))
    assert [e.seq for e in log.entries(Query(site=unique_id + "b"))] == [1, 2, 3]
    report = log.verify(unique_id)
    assert report.ok, report.summary()
    assert report.checked == 5
    assert report.sites[unique_id].from_genesis


def test_hash_is_sha256_of_the_documented_canonical_form(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    occurred = datetime(2026, 1, 5, 8, 30, 15, 250000, tzinfo=UTC)
    entry = log.append(
        unique_id,
        "detector_self_test",
        {"device": "smoke-1", "result": "pass"},
        "gateway",
        occurred_at=occurred,
    )
    document = {
        "actor": "gateway",
        "category": "detector_self_test",
        "occurred_at": "2026-01-05T08:30:15.250000Z",
        "payload": {"detail": "", "device": "smoke-1", "result": "pass", "room": None},
        "prev_hash": "0" * 64,
        "recorded_at": clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "seq": 1,
        "site": unique_id,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry.canonical() == canonical.encode("utf-8")
    assert entry.hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_the_log_has_no_way_to_change_or_remove_an_entry(log: InspectionLog) -> None:
    public = {name for name in dir(log) if not name.startswith("_")}
    assert not {n for n in public if n.startswith(("update", "delete", "edit", "remove"))}


def test_sqlite_triggers_refuse_update_and_delete(
    log: InspectionLog, clock: ManualClock, engine: Engine, unique_id: str
) -> None:
    fill(log, clock, unique_id, 2)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE inspection_entries SET actor = 'mallory'"))
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM inspection_entries WHERE seq = 1"))
    assert log.verify(unique_id).ok


def test_an_edited_entry_is_named(
    log: InspectionLog, clock: ManualClock, db_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 10)
    conn = _raw(db_path)
    conn.execute(
        "UPDATE inspection_entries SET actor = 'someone else' WHERE site = ? AND seq = 6",
        (unique_id,),
    )
    report = log.verify(unique_id)
    assert not report.ok
    assert (report.bad_seq, report.problem) == (6, Problem.EDITED)
    assert "edited" in report.summary()


def test_an_edited_payload_is_named(
    log: InspectionLog, clock: ManualClock, db_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 10)
    conn = _raw(db_path)
    row = conn.execute(
        "SELECT payload FROM inspection_entries WHERE site = ? AND seq = 3", (unique_id,)
    ).fetchone()
    forged = row[0].replace('"pass"', '"fail"')
    assert forged != row[0]
    conn.execute(
        "UPDATE inspection_entries SET payload = ? WHERE site = ? AND seq = 3", (forged, unique_id)
    )
    report = log.verify(unique_id)
    assert (report.bad_seq, report.problem) == (3, Problem.EDITED)


def test_an_edited_and_rehashed_entry_breaks_the_next_link(
    log: InspectionLog, clock: ManualClock, db_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 10)
    entry = next(iter(log.entries(Query(site=unique_id, categories=None))))
    conn = _raw(db_path)
    forged = entry.model_copy(update={"actor": "mallory"})
    conn.execute(
        "UPDATE inspection_entries SET actor = ?, hash = ? WHERE site = ? AND seq = 1",
        ("mallory", forged.computed_hash(), unique_id),
    )
    report = log.verify(unique_id)
    assert (report.bad_seq, report.problem) == (2, Problem.CHAIN_BROKEN)


def test_a_deleted_entry_is_named(
    log: InspectionLog, clock: ManualClock, db_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 10)
    _raw(db_path).execute("DELETE FROM inspection_entries WHERE site = ? AND seq = 4", (unique_id,))
    report = log.verify(unique_id)
    assert (report.bad_seq, report.problem) == (5, Problem.MISSING)
    assert "seq 4 missing" in (report.reason or "")


def test_a_deleted_first_entry_is_named(
    log: InspectionLog, clock: ManualClock, db_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 4)
    _raw(db_path).execute("DELETE FROM inspection_entries WHERE site = ? AND seq = 1", (unique_id,))
    report = log.verify(unique_id)
    assert (report.bad_seq, report.problem) == (2, Problem.MISSING)


def test_two_swapped_entries_are_named(
    log: InspectionLog, clock: ManualClock, db_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 10)
    conn = _raw(db_path)
    conn.execute("BEGIN")
    conn.execute("UPDATE inspection_entries SET seq = -1 WHERE site = ? AND seq = 7", (unique_id,))
    conn.execute("UPDATE inspection_entries SET seq = 7 WHERE site = ? AND seq = 8", (unique_id,))
    conn.execute("UPDATE inspection_entries SET seq = 8 WHERE site = ? AND seq = -1", (unique_id,))
    conn.execute("COMMIT")
    report = log.verify(unique_id)
    assert (report.bad_seq, report.problem) == (7, Problem.CHAIN_BROKEN)


def test_swapped_rows_in_a_list_are_named_as_reordered(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    from ingest_server.inspection_log import verify_chain

    fill(log, clock, unique_id, 6)
    entries = list(log.entries(Query(site=unique_id)))
    entries[2], entries[3] = entries[3], entries[2]
    report = verify_chain(entries)
    assert (report.bad_seq, report.bad_position, report.problem) == (4, 3, Problem.REORDERED)


def test_concurrent_appends_never_fork_the_chain(
    engine: Engine, clock: ManualClock, unique_id: str
) -> None:
    # Two log instances on one database stand for two server processes: only the (site, seq)
    # constraint and the retry keep them apart.
    logs = [InspectionLog(engine, clock), InspectionLog(engine, clock)]
    logs[0].create_tables()
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(15):
                logs[i % 2].append(
                    unique_id,
                    Category.DETECTOR_SELF_TEST,
                    DetectorSelfTest(device=f"d{i}-{j}", result="pass"),
                    f"writer{i}",
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    entries = list(logs[0].entries(Query(site=unique_id)))
    assert [e.seq for e in entries] == list(range(1, 61))
    assert logs[0].verify(unique_id).ok


def test_a_duplicate_seq_is_refused_by_the_database(
    log: InspectionLog, clock: ManualClock, engine: Engine, unique_id: str
) -> None:
    fill(log, clock, unique_id, 1)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO inspection_entries (site, seq, recorded_at, occurred_at, category,"
                " actor, payload, prev_hash, hash) SELECT site, seq, recorded_at, occurred_at,"
                " category, actor, payload, prev_hash, hash FROM inspection_entries"
            )
        )


def test_a_correction_references_the_corrected_entry_which_stays(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    fill(log, clock, unique_id, 3)
    before = list(log.entries(Query(site=unique_id)))
    fix = log.correct(unique_id, 2, "wrong responder recorded", "李主任", {"by": "值班员张伟"})
    assert fix.seq == 4
    assert fix.category == "correction"
    assert fix.payload["corrects_seq"] == 2
    assert list(log.entries(Query(site=unique_id)))[:3] == before
    with pytest.raises(InvalidRecord) as info:
        log.correct(unique_id, 99, "no such entry", "李主任")
    assert info.value.field == "corrects_seq"
    assert log.verify(unique_id).ok


def test_automatic_payloads_are_validated_with_the_field_named(
    log: InspectionLog, unique_id: str
) -> None:
    with pytest.raises(InvalidRecord) as info:
        log.append(unique_id, "alarm_raised", {"alert_id": "a1", "rule": "smoke"}, "rules")
    assert info.value.field == "payload.severity"
    with pytest.raises(InvalidRecord) as info:
        log.append(unique_id, "no_such_category", {}, "rules")
    assert info.value.field == "category"
    with pytest.raises(InvalidRecord) as info:
        log.append(unique_id, "alarm_raised", DetectorSelfTest(device="d", result="pass"), "x")
    assert info.value.field == "payload"


async def test_append_async_runs_off_the_event_loop(log: InspectionLog, unique_id: str) -> None:
    entry = await log.append_async(
        unique_id,
        Category.ALARM_RAISED,
        AlarmRaised(alert_id="a1", rule="smoke.alarm", severity="critical"),
        "rules",
    )
    assert entry.seq == 1
    assert log.verify(unique_id).ok


def test_retention_keeps_five_years_of_tests_and_purges_only_a_prefix(
    engine: Engine, clock: ManualClock, unique_id: str
) -> None:
    with pytest.raises(ValueError, match="5 years"):
        RetentionPolicy(test_and_maintenance_days=365)
    log = InspectionLog(engine, clock, retention=RetentionPolicy(default_days=365))
    log.create_tables()
    fill(log, clock, unique_id, 6)  # alarm, ack, self-test, alarm, ack, self-test
    clock.advance(timedelta(days=2 * 365))
    fill(log, clock, unique_id, 1)
    purged = log.purge_expired(unique_id)
    # seq 1 and 2 (alarm, ack) are past the 1-year default; seq 3 is a test record kept 5 years
    # and stops the purge, so nothing after it goes either.
    assert purged == 2
    remaining = list(log.entries(Query(site=unique_id)))
    assert remaining[0].seq == 3
    assert remaining[-1].category == "retention_purge"
    assert remaining[-1].payload["purged_through_seq"] == 2
    report = log.verify(unique_id)
    assert report.ok, report.summary()
    assert log.purge_expired(unique_id) == 0


def test_append_many_is_all_or_nothing(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    good = NewEntry(Category.DETECTOR_SELF_TEST, DetectorSelfTest(device="d1", result="pass"), "gw")
    bad = NewEntry(Category.DETECTOR_SELF_TEST, {"device": "d1", "result": "smoke"}, "gw")
    with pytest.raises(InvalidRecord) as info:
        log.append_many(unique_id, [good, bad])
    assert info.value.field == "payload.result"
    assert log.head(unique_id) is None
    stored = log.append_many(unique_id, [good, good])
    assert [e.seq for e in stored] == [1, 2]
    assert stored[1].prev_hash == stored[0].hash


def test_numbers_are_canonical_across_languages(log: InspectionLog, unique_id: str) -> None:
    entry = log.append(
        unique_id,
        Category.ALARM_ACKNOWLEDGED,
        {"alert_id": "a1", "by": "王芳", "response_seconds": 45.0},
        "王芳",
    )
    assert b'"response_seconds":45}' in entry.canonical()
    precise = log.append(
        unique_id,
        Category.ALARM_ACKNOWLEDGED,
        {"alert_id": "a2", "by": "王芳", "response_seconds": 12.34567},
        "王芳",
    )
    assert b'"response_seconds":12.346}' in precise.canonical()
    assert log.verify(unique_id).ok
