"""Consumer behaviour: backpressure, sink isolation, MQTT 5 with shared subscriptions,
broker restarts, foreign topics."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from ingest_server import ServerSettings, StoredReading, StoredStatus
from ingest_server._service import IngestService
from protocol import AlarmEvent, Channel, SmokeReading, SmokeState, channel_topic, encode
from tests.ingest_server.conftest import Publisher, wait_for
from tests.ingest_server.factories import batch_payload, smoke_dict
from tests.services import Mosquitto


class Blocking:
    """A sink that holds the writer thread until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen = 0

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        self.seen += len(stored)
        self.release.wait(30)

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None:
        pass


class Broken:
    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        raise RuntimeError("a bug in a sink")

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None:
        raise RuntimeError("a bug in a sink")


def messages(site: str, gw: str, n: int, prefix: str = "m") -> list[tuple[str, bytes]]:
    topic = channel_topic(site, gw, Channel.READINGS)
    now = datetime.now(UTC)
    return [
        (topic, batch_payload(gw, [smoke_dict(f"{prefix}-{i}", "smk-1", now)])) for i in range(n)
    ]


def test_a_slow_writer_holds_the_backlog_at_the_broker_not_in_memory(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    service = run_service(settings_for(mosquitto, queue_size=3, batch_max=2))
    sink = Blocking()
    service.sinks.add(sink)
    publisher.publish_all(messages(unique_id, f"{unique_id}-gw", 60))
    wait_for(lambda: service.consumer.queue_depth() == 3, 10, "the queue to fill")
    depths = []
    for _ in range(10):
        depths.append(service.consumer.queue_depth())
        threading.Event().wait(0.02)
    assert max(depths) <= 3
    assert service.store.count() <= 2
    sink.release.set()
    wait_for(lambda: service.store.count() == 60, 20, "every reading once released")


@pytest.mark.allow_error_logs
def test_a_failing_sink_loses_nothing_and_other_sinks_still_run(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    service = run_service(settings_for(mosquitto))
    good = Blocking()
    good.release.set()
    service.sinks.add(Broken())
    service.sinks.add(good)
    publisher.publish_all(messages(unique_id, f"{unique_id}-gw", 5))
    wait_for(lambda: good.seen == 5, 10, "the good sink to see every reading")
    assert service.store.count() == 5
    assert service.metrics.get("sink_errors") >= 1


def test_mqtt5_shared_subscription_splits_the_load(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    common = {"mqtt_protocol": "5", "mqtt_share_group": "ingest"}
    a = run_service(settings_for(mosquitto, mqtt_client_id=f"a-{unique_id}", **common))
    b = run_service(settings_for(mosquitto, mqtt_client_id=f"b-{unique_id}", **common))
    publisher.publish_all(messages(unique_id, f"{unique_id}-gw", 200))
    wait_for(
        lambda: a.metrics.get("messages") + b.metrics.get("messages") == 200, 20, "all messages"
    )
    assert a.metrics.get("messages") > 0
    assert b.metrics.get("messages") > 0
    # Both write the same store files: each reading exactly once.
    assert a.store.count() == 200


def test_consumer_rides_out_a_broker_restart(
    own_mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    unique_id: str,
) -> None:
    service = run_service(settings_for(own_mosquitto))
    gw = f"{unique_id}-gw"
    own_mosquitto.restart()
    wait_for(lambda: service.consumer.connected, 30, "the consumer to reconnect")
    pub = Publisher(own_mosquitto, f"pub-{unique_id}")
    try:
        pub.publish_all(messages(unique_id, gw, 20))
    finally:
        pub.close()
    wait_for(lambda: service.store.count() == 20, 20, "readings after the broker restart")


def test_traffic_of_other_sites_is_not_consumed(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    # The consumer subscribes to one site only; another site's traffic must not be consumed.
    service = run_service(settings_for(mosquitto))
    publisher.publish_all(messages(f"{unique_id}x", "gw-x", 3))
    publisher.publish_all(messages(unique_id, f"{unique_id}-gw", 1, prefix="mine"))
    wait_for(lambda: service.store.count() == 1, 10, "the reading of the subscribed site")
    assert service.records.dead_letter_reasons() == {}


class Recording(Blocking):
    """Holds the writer on its first batch; records the order readings reach the sinks."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        self.order += [s.id for s in stored]
        self.release.wait(30)


def test_an_alarm_overtakes_a_telemetry_backlog(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    publisher: Publisher,
    unique_id: str,
) -> None:
    gw = f"{unique_id}-gw"
    service = run_service(settings_for(mosquitto, queue_size=3, batch_max=2))
    sink = Recording()
    service.sinks.add(sink)
    # 60 telemetry messages: the writer holds its first batch, 3 wait in the queue, the rest
    # at the broker; then a smoke alarm.
    publisher.publish_all(messages(unique_id, gw, 60))
    wait_for(lambda: service.consumer.queue_depth() == 3, 10, "the telemetry queue to fill")
    alarm = AlarmEvent(
        gateway=gw,
        seq=1,
        sent_at=datetime.now(UTC),
        reading=SmokeReading(
            id="fire-1", device="smk-1", ts=datetime.now(UTC), state=SmokeState.ALARM
        ),
    )
    publisher.publish_all([(channel_topic(unique_id, gw, Channel.ALARM), encode(alarm))])
    # Its own session delivers it at once, past the 57 readings queued before it.
    wait_for(lambda: service.consumer.queue_depth() == 4, 10, "the alarm beside the backlog")
    sink.release.set()
    wait_for(lambda: service.store.count() == 61, 20, "every reading once released")
    # Only the batch the writer held (at most batch_max = 2 messages) went before it.
    assert sink.order.index("fire-1") <= 2, sink.order[:10]
