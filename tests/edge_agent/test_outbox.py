"""The outbox on its own: ids, lanes, bound, durability across reopening, a full disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent import Lane, Outbox, OutboxWriteFailed, Pending
from protocol import is_valid_id


def _item(lane: Lane, n: int, size: int = 100) -> Pending:
    def build(reading_id: str) -> bytes:
        return json.dumps({"id": reading_id, "n": n, "pad": "x" * size}).encode()

    return Pending(lane, f"d{n % 3}", build, ("sounder",) if lane is Lane.ALARM else ())


def test_ids_are_unique_and_stable_across_reopen(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    stored, refused = outbox.commit([_item(Lane.TELEMETRY, n) for n in range(5)])
    assert refused == 0
    first = [json.loads(row.payload)["id"] for _, row in stored]
    outbox.delete(row.seq for _, row in stored)
    outbox.close()
    again = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    stored2, _ = again.commit([_item(Lane.TELEMETRY, n) for n in range(5)])
    second = [json.loads(row.payload)["id"] for _, row in stored2]
    assert len(set(first) | set(second)) == 10
    assert all(is_valid_id(i) for i in first + second)
    assert {i.split("-")[0] for i in first + second} == {again.epoch}
    assert [r.seq for r in again.pending(Lane.TELEMETRY, 0, 10)] == [r.seq for _, r in stored2]
    again.close()
    other = Outbox(tmp_path / "other.db", max_bytes=1 << 20)
    assert other.epoch != again.epoch
    other.close()


def test_lanes_and_acks(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    outbox.commit([_item(Lane.TELEMETRY, 0), _item(Lane.ALARM, 1), _item(Lane.TELEMETRY, 2)])
    alarms = outbox.pending(Lane.ALARM, 0, 10)
    assert [r.actions for r in alarms] == [("sounder",)]
    telemetry = outbox.pending(Lane.TELEMETRY, 0, 10)
    assert len(telemetry) == 2
    assert outbox.pending(Lane.TELEMETRY, telemetry[0].seq, 10) == telemetry[1:]
    assert outbox.delete([alarms[0].seq, 999]) == 1
    depth = outbox.depth()
    assert (depth.alarms, depth.telemetry) == (0, 2)
    outbox.close()


def test_bound_drops_oldest_telemetry_never_alarms_and_remembers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_bytes=10_000)
    for n in range(100):
        outbox.commit([_item(Lane.ALARM if n % 10 == 0 else Lane.TELEMETRY, n)])
    depth = outbox.depth()
    assert depth.alarms == 10
    assert depth.bytes <= 10_000
    assert depth.dropped == 90 - depth.telemetry
    kept = [json.loads(r.payload)["n"] for r in outbox.pending(Lane.TELEMETRY, 0, 1000)]
    assert kept == sorted(kept)
    assert kept[-1] == 99
    outbox.close()
    again = Outbox(tmp_path / "o.db", max_bytes=10_000)
    assert again.depth() == depth
    again.close()


def test_alarms_alone_may_exceed_the_bound(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_bytes=4096)
    for n in range(40):
        outbox.commit([_item(Lane.ALARM, n)])
    assert outbox.depth().alarms == 40
    outbox.close()


def test_refused_builder_skips_one_reading(tmp_path: Path) -> None:
    def bad(_: str) -> bytes:
        raise ValueError("malformed")

    outbox = Outbox(tmp_path / "o.db", max_bytes=1 << 20)
    stored, refused = outbox.commit(
        [_item(Lane.TELEMETRY, 0), Pending(Lane.TELEMETRY, "d", bad), _item(Lane.TELEMETRY, 1)]
    )
    assert (len(stored), refused) == (2, 1)
    outbox.close()


def test_full_disk_fails_the_commit_and_keeps_nothing_half_done(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_bytes=1 << 30)
    outbox.commit([_item(Lane.TELEMETRY, 0)])
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(OutboxWriteFailed, match="full"):
        outbox.commit([_item(Lane.TELEMETRY, n, size=5000) for n in range(50)])
    depth = outbox.depth()
    assert depth.telemetry == 1
    outbox._db.execute("PRAGMA max_page_count=1073741823")
    stored, _ = outbox.commit([_item(Lane.ALARM, 1)])
    assert len(stored) == 1
    outbox.close()
