"""The whole server path: a gateway's smoke alarm through the real Mosquitto and consumer becomes
a critical alert, on the on-site display topic, at the duty group's webhook (reminded every
minute until acknowledged) and in the inspection log; an operator acknowledges it through the
API; it resolves when the detector clears, and the webhook hears that too."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from ingest_server import ServerSettings, create_app
from ingest_server.notify import NotifySettings
from protocol import (
    AlarmEvent,
    Channel,
    ManualClock,
    OccupancyReading,
    OccupancySource,
    ReadingBatch,
    SmokeReading,
    SmokeState,
    alerts_topic,
    channel_topic,
    encode,
)
from tests.ingest_server.conftest import Publisher, wait_for
from tests.notify.receivers import HttpReceiver
from tests.services import Mosquitto


class Display:
    """An on-site display subscribed to the site's alerts topic."""

    def __init__(self, broker: Mosquitto, site: str) -> None:
        self.messages: list[bytes] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"display-{site}")
        self.client.on_subscribe = lambda *_a: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append(m.payload)
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(alerts_topic(site), qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def duty_hook() -> Iterator[HttpReceiver]:
    """The duty group's webhook: a real HTTP receiver on loopback."""
    receiver = HttpReceiver("ok")
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def client(
    mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    clock: ManualClock,
    duty_hook: HttpReceiver,
    unique_id: str,
) -> Iterator[TestClient]:
    notify = NotifySettings.model_validate(
        {
            "channels": [
                {"type": "sse", "name": "dashboard"},
                {
                    "type": "mqtt",
                    "name": "displays",
                    "host": mosquitto.host,
                    "port": mosquitto.port,
                    "client_id": f"alerts-{unique_id}",
                },
                {"type": "webhook", "name": "duty", "url": duty_hook.url},
            ],
            "routes": [
                {"name": "dashboard", "channels": ["dashboard"], "min_severity": "info"},
                {"name": "displays", "channels": ["displays"], "min_severity": "warning"},
                {
                    "name": "duty",
                    "channels": ["duty"],
                    "min_severity": "critical",
                    "remind_every_min": 1,
                },
            ],
        }
    )
    settings = settings_for(mosquitto, notify=notify)
    with TestClient(create_app(settings, clock=clock)) as c:
        wait_for(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        yield c


def _count(rid: str, ts: datetime, count: int) -> OccupancyReading:
    return OccupancyReading(
        id=rid, device="pres-1", ts=ts, source=OccupancySource.PRESENCE, count=count
    )


def _smoke_alerts(client: TestClient) -> list[dict[str, Any]]:
    return [a for a in client.get("/alerts").json() if a["rule"] == "smoke.alarm"]


def test_smoke_alarm_to_alert_display_log_ack_and_resolution(
    client: TestClient,
    publisher: Publisher,
    mosquitto: Mosquitto,
    unique_id: str,
    clock: ManualClock,
    duty_hook: HttpReceiver,
) -> None:
    gw = f"{unique_id}-gw"
    display = Display(mosquitto, unique_id)
    try:
        assert display.ready.wait(5)
        alarm = AlarmEvent(
            gateway=gw,
            seq=1,
            sent_at=clock.now(),
            reading=SmokeReading(id="a-1", device="smk-1", ts=clock.now(), state=SmokeState.ALARM),
            actions=["sounder"],
        )
        readings_topic = channel_topic(unique_id, gw, Channel.READINGS)
        # Three people in the room when the alarm sounds; it is empty 40 s later.
        people = ReadingBatch(
            gateway=gw,
            seq=0,
            sent_at=clock.now(),
            readings=[_count("p-1", clock.now() - timedelta(seconds=5), 3)],
        )
        publisher.publish_all([(readings_topic, encode(people))])
        publisher.publish_all([(channel_topic(unique_id, gw, Channel.ALARM), encode(alarm))])
        wait_for(lambda: bool(_smoke_alerts(client)), 10, "the smoke alert")
        clock.advance(40)
        empty = ReadingBatch(
            gateway=gw, seq=3, sent_at=clock.now(), readings=[_count("p-2", clock.now(), 0)]
        )
        publisher.publish_all([(readings_topic, encode(empty))])
        [alert] = _smoke_alerts(client)
        assert (alert["severity"], alert["state"], alert["site"], alert["room"]) == (
            "critical",
            "firing",
            unique_id,
            "r1",
        )
        wait_for(lambda: bool(display.messages), 10, "the alert on the site's display topic")
        assert b"smk-1" in display.messages[0] or b"r1" in display.messages[0]

        # The duty group's webhook got the alarm, and a reminder every minute until someone acts.
        [fired] = duty_hook.wait_for(1)
        assert (fired.json()["kind"], fired.json()["alert"]["id"]) == ("fired", alert["id"])
        for n in (2, 3):
            clock.advance(60)
            client.app.state.alert_pipeline.remind()  # type: ignore[attr-defined]
            assert duty_hook.wait_for(n)[-1].json()["kind"] == "reminder"

        ack = client.post(f"/alerts/{alert['id']}/acknowledge", json={"actor": "值班员张伟"})
        assert ack.status_code == 200, ack.text
        assert ack.json()["state"] == "acknowledged"

        clear = ReadingBatch(
            gateway=gw,
            seq=2,
            sent_at=clock.now(),
            readings=[
                SmokeReading(id="a-2", device="smk-1", ts=clock.now(), state=SmokeState.NORMAL)
            ],
        )
        publisher.publish_all([(channel_topic(unique_id, gw, Channel.READINGS), encode(clear))])
        window = {
            "device": "smk-1",
            "start": (clock.now() - timedelta(hours=1)).isoformat(),
            "end": (clock.now() + timedelta(hours=1)).isoformat(),
        }
        wait_for(
            lambda: (
                [r["id"] for r in client.get("/readings", params=window).json()] == ["a-1", "a-2"]
            ),
            10,
            "the clearing reading stored",
        )
        # The smoke rule keeps firing for a while after the detector clears (against flapping).
        clock.advance(120)
        client.app.state.alert_pipeline.tick()  # type: ignore[attr-defined]
        wait_for(lambda: _smoke_alerts(client)[0]["state"] == "resolved", 10, "resolution")
        kinds = [r.json()["kind"] for r in duty_hook.wait_for(4)]
        assert kinds == ["fired", "reminder", "reminder", "resolved"]

        detail = client.get(f"/alerts/{alert['id']}").json()
        assert [h["action"] for h in detail["history"]] == ["fired", "acknowledged", "cleared"]
        assert detail["history"][1]["actor"] == "值班员张伟"

        entries = client.get(f"/inspection-log/{unique_id}/entries").json()["entries"]
        categories = [e["category"] for e in entries]
        assert categories == ["alarm_raised", "alarm_acknowledged", "alarm_resolved", "drill"]
        assert entries[3]["payload"]["evacuation_seconds"] == 40
        assert entries[3]["payload"]["rooms"] == ["r1"]
        assert entries[1]["actor"] == "值班员张伟"
        assert entries[1]["payload"]["alert_id"] == str(alert["id"])
        assert client.get(f"/inspection-log/{unique_id}/verify").json()["ok"] is True
        assert "linli_notify" in client.get("/metrics").text
    finally:
        display.close()
