"""Hostile input: every bad payload is dead-lettered with its reason; the consumer keeps going."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_server import ServerSettings
from ingest_server._metrics import Metrics
from ingest_server._migrations import migrate
from ingest_server._pipeline import Inbound, Pipeline
from ingest_server._records import Records
from ingest_server._service import IngestService
from ingest_server.db import make_engine
from ingest_server.store import SqliteStore
from protocol import PREFIX, Channel, channel_topic
from tests.ingest_server.conftest import Publisher, wait_for
from tests.ingest_server.factories import batch_payload, smoke_dict
from tests.services import Mosquitto

TEN_MB = 10 * 1024 * 1024


def hostile_messages(site: str, gw: str, now: datetime) -> list[tuple[str, bytes, str]]:
    """One (topic, payload, expected reason) per error class."""
    topic = channel_topic(site, gw, Channel.READINGS)
    ok = smoke_dict("x", "smk-1", now)

    def batch(**over: object) -> bytes:
        body = json.loads(batch_payload(gw, [ok]))
        return json.dumps(body | over).encode()

    future = now.replace(year=now.year + 10)
    return [
        (topic, b'{"v":1,"gateway":', "not_json"),
        (topic, b"\xff\xfe\x00garbage", "not_json"),
        (topic, b"[1,2,3]", "not_json"),
        (topic, batch(v=2), "unsupported_version"),
        (topic, batch(v=None), "unsupported_version"),
        (topic, batch(readings=[ok | {"kind": "laser"}]), "unknown_kind"),
        (topic, batch(readings=[ok | {"state": "burning"}]), "invalid_field"),
        (topic, batch(readings=[ok | {"battery_pct": 500}]), "out_of_range"),
        (topic, batch(readings=[ok] * 501), "too_many_readings"),
        (topic, batch(readings=[ok | {"ts": future.isoformat()}]), "timestamp_out_of_bounds"),
        (topic, batch(sent_at=future.isoformat()), "timestamp_out_of_bounds"),
        (topic, batch(gateway="someone-else"), "gateway_mismatch"),
        (f"{PREFIX}/{site}/bad.gw/up/readings", batch(), "bad_topic"),
        (channel_topic(site, gw, Channel.STATUS), b'{"v":1,"gateway":"x"}', "invalid_field"),
        (channel_topic(site, gw, Channel.ALARM), batch(), "invalid_field"),
    ]


def test_a_thousand_hostile_payloads(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    service = run_service(settings_for(mosquitto))
    gw = f"{unique_id}-gw"
    now = datetime.now(UTC)
    kinds = hostile_messages(unique_id, gw, now)
    messages = [kinds[i % len(kinds)] for i in range(998)]
    big = (channel_topic(unique_id, gw, Channel.READINGS), b"{" + b" " * TEN_MB + b"}", "too_large")
    messages += [big, big]
    expected = Counter(reason for _, _, reason in messages)
    good_topic = channel_topic(unique_id, gw, Channel.READINGS)
    # Good readings interleaved with the hostile ones must all be stored.
    outgoing: list[tuple[str, bytes]] = []
    for i, (topic, payload, _) in enumerate(messages):
        outgoing.append((topic, payload))
        if i % 100 == 0:
            good = batch_payload(gw, [smoke_dict(f"good-{i}", "smk-1", now)])
            outgoing.append((good_topic, good))
    publisher.publish_all(outgoing, timeout=120)

    wait_for(lambda: service.metrics.get("messages") == len(outgoing), 60, "every message")
    assert service.records.dead_letter_reasons() == dict(expected)
    assert service.metrics.dead_letters() == dict(expected)
    assert service.store.count() == 10
    total, letters = service.records.dead_letters(reason="too_large")
    assert total == 2
    assert letters[0].size == TEN_MB + 2
    assert len(letters[0].payload) == 4096
    assert "limit" in letters[0].detail

    # Still consuming afterwards.
    publisher.publish_all([(good_topic, batch_payload(gw, [smoke_dict("after", "smk-1", now)]))])
    wait_for(lambda: service.store.count() == 11, 10, "a reading after the hostile ones")


@settings(max_examples=150, deadline=None)
@given(
    topic_tail=st.sampled_from(["up/readings", "up/alarm", "status", "down/cmd", "x"]),
    payload=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_pipeline_never_raises_on_arbitrary_payloads(topic_tail: str, payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'r.db'}")
        migrate(engine, datetime.now(UTC))
        store = SqliteStore(Path(tmp) / "t.db")
        try:
            pipeline = Pipeline(
                store, Records(engine), lambda _d: None, Metrics(), lambda: datetime.now(UTC)
            )
            now = datetime.now(UTC) - timedelta(seconds=1)
            result = pipeline.process([Inbound(f"{PREFIX}/s1/gw1/{topic_tail}", payload, now)])
            assert len(result.dead) + len(result.stored) + len(result.statuses) >= 1
        finally:
            store.close()
            engine.dispose()
