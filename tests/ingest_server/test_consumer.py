"""The consumer against the real Mosquitto: store, dedupe, dead-letter, tag, hand to sinks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from ingest_server import ServerSettings, StoredReading, StoredStatus
from ingest_server._service import IngestService
from protocol import Channel, channel_topic
from tests.ingest_server.conftest import Publisher, wait_for
from tests.ingest_server.factories import batch_payload, occupancy_dict, smoke_dict
from tests.services import Mosquitto


class Collect:
    def __init__(self) -> None:
        self.readings: list[StoredReading] = []
        self.statuses: list[StoredStatus] = []

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        self.readings.extend(stored)

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None:
        self.statuses.extend(statuses)


def test_readings_are_stored_once_tagged_and_handed_to_sinks(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    service = run_service(settings_for(mosquitto))
    sink = Collect()
    service.sinks.add(sink)
    gw = f"{unique_id}-gw"
    now = datetime.now(UTC).replace(microsecond=0)
    topic = channel_topic(unique_id, gw, Channel.READINGS)
    first = [
        smoke_dict("a-1", "smk-1", now),
        occupancy_dict("a-2", "pres-1", now, 4),
        smoke_dict("a-3", "stranger-1", now),
    ]
    publisher.publish_all([(topic, batch_payload(gw, first, seq=1))])
    # The same readings again (an edge replay) plus one new one.
    replay = [*first, occupancy_dict("a-4", "pres-1", now + timedelta(seconds=1), 5)]
    publisher.publish_all([(topic, batch_payload(gw, replay, seq=2))])
    status = f'{{"v":1,"gateway":"{gw}","state":"online","ts":"{now.isoformat()}"}}'.encode()
    publisher.publish_all([(channel_topic(unique_id, gw, Channel.STATUS), status)])
    wait_for(lambda: len(sink.statuses) == 1, 10, "the gateway status")
    wait_for(lambda: service.store.count() == 4, 10, "four readings stored")
    assert sorted(s.id for s in sink.readings) == ["a-1", "a-2", "a-3", "a-4"]
    assert service.metrics.get("duplicates") == 3
    by_id = {s.id: s for s in service.store.series("smk-1", now, now + timedelta(seconds=5))}
    assert by_id["a-1"].room == "r1"
    assert by_id["a-1"].site == unique_id
    assert not by_id["a-1"].unknown_device
    stranger = service.store.series("stranger-1", now, now + timedelta(seconds=5))
    assert stranger[0].unknown_device
    assert stranger[0].room is None
    assert service.records.gateway_statuses(unique_id)[0]["state"] == "online"


def test_bad_payload_is_dead_lettered_and_good_ones_still_stored(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    service = run_service(settings_for(mosquitto))
    gw = f"{unique_id}-gw"
    topic = channel_topic(unique_id, gw, Channel.READINGS)
    now = datetime.now(UTC)
    publisher.publish_all(
        [
            (topic, b"{not json"),
            (topic, batch_payload(gw, [smoke_dict("b-1", "smk-1", now)])),
        ]
    )
    wait_for(lambda: service.store.count() == 1, 10, "the good reading")
    wait_for(lambda: service.records.dead_letter_reasons() == {"not_json": 1}, 10, "dead letter")
    total, letters = service.records.dead_letters()
    assert total == 1
    assert letters[0].payload == b"{not json"
    assert letters[0].topic == topic
