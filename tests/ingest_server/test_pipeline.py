"""The decode → dedupe → store step without MQTT (real SQLite files)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest_server._metrics import Metrics
from ingest_server._migrations import migrate
from ingest_server._pipeline import Inbound, Pipeline
from ingest_server._records import Records
from ingest_server._registry import DevicePlace
from ingest_server.db import make_engine
from ingest_server.store import SqliteStore
from protocol import PREFIX, ManualClock
from tests.ingest_server.factories import smoke_dict

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine, NOW)
    store = SqliteStore(tmp_path / "t.db")
    places = {"smk-1": DevicePlace("s1", "gw1", "r1")}
    clock = ManualClock(NOW)
    yield Pipeline(store, Records(engine), places.get, Metrics(), clock.now)
    store.close()
    engine.dispose()


def inbound(tail: str, body: dict[str, object], **kw: object) -> Inbound:
    return Inbound(f"{PREFIX}/s1/gw1/{tail}", json.dumps(body).encode(), NOW, **kw)  # type: ignore[arg-type]


def test_alarm_lane_readings_are_stored_and_tagged(pipeline: Pipeline) -> None:
    alarm = {
        "v": 1,
        "gateway": "gw1",
        "sent_at": NOW.isoformat(),
        "seq": 7,
        "reading": smoke_dict("al-1", "smk-1", NOW - timedelta(seconds=2), "alarm"),
        "actions": ["sounder"],
    }
    result = pipeline.process([inbound("up/alarm", alarm), inbound("up/alarm", alarm)])
    assert [s.id for s in result.stored] == ["al-1"]
    assert result.duplicates == 1
    assert result.stored[0].room == "r1"
    assert not result.stored[0].unknown_device


def test_foreign_topics_are_neither_stored_nor_dead_lettered(pipeline: Pipeline) -> None:
    result = pipeline.process([inbound("down/config", {"x": 1}, foreign=True)])
    assert (result.stored, result.dead, result.statuses) == ([], [], [])
    assert pipeline.metrics.get("ignored") == 1
    assert pipeline.metrics.get("messages") == 0


def test_an_older_status_does_not_replace_a_newer_one(pipeline: Pipeline) -> None:
    def status(state: str, minutes: int | None) -> Inbound:
        body: dict[str, object] = {"v": 1, "gateway": "gw1", "state": state}
        if minutes is not None:
            body["ts"] = (NOW - timedelta(minutes=minutes)).isoformat()
        return inbound("status", body)

    pipeline.process([status("online", 1)])
    pipeline.process([status("offline", 5)])  # a late replay
    assert pipeline.records.gateway_statuses()[0]["state"] == "online"
    pipeline.process([status("offline", None)])  # a Last Will carries no time
    assert pipeline.records.gateway_statuses()[0]["state"] == "offline"


def test_redelivered_duplicates_go_to_sinks_again_but_are_not_stored_again(
    pipeline: Pipeline,
) -> None:
    body = {
        "v": 1,
        "gateway": "gw1",
        "sent_at": NOW.isoformat(),
        "seq": 1,
        "readings": [smoke_dict("r-1", "smk-1", NOW), smoke_dict("r-2", "smk-1", NOW)],
    }
    first = pipeline.process([inbound("up/readings", body)])
    assert [s.id for s in first.for_sinks] == ["r-1", "r-2"]
    replay = pipeline.process([inbound("up/readings", body)])
    assert (replay.stored, replay.for_sinks) == ([], [])
    more = {**body, "readings": [*body["readings"], smoke_dict("r-3", "smk-1", NOW)]}  # type: ignore[list-item]
    redelivery = pipeline.process([inbound("up/readings", more, dup=True)])
    assert [s.id for s in redelivery.stored] == ["r-3"]
    assert [s.id for s in redelivery.for_sinks] == ["r-1", "r-2", "r-3"]
    assert pipeline.store.count() == 3


def test_a_flood_of_bad_messages_is_stored_in_full_but_logged_sparingly(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    bad = [Inbound(f"{PREFIX}/s1/gw1/up/readings", b"nope", NOW) for _ in range(100)]
    with caplog.at_level("WARNING", logger="ingest_server._pipeline"):
        result = pipeline.process(bad)
    assert len(result.dead) == 100
    assert pipeline.records.dead_letter_reasons() == {"not_json": 100}
    assert 1 <= len(caplog.records) <= 20
    assert "not_json" in caplog.records[0].getMessage()
