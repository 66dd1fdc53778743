"""End to end through a real Mosquitto: a smoke alarm published like an edge gateway becomes a
firing critical alert, reaches the SSE stream (served by uvicorn) and a local webhook, is
reminded until acknowledged through the API, and resolves when the detector clears.

The MQTT consumer here is a stand-in (decode, then hand readings to the pipeline), exactly the
calls the ingest consumer makes after its durable write.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import uvicorn
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from ingest_server.alerts import AlertPipeline, AlertService
from ingest_server.alerts.api import router
from ingest_server.notify import Dispatcher, NotifySettings, build_channels
from protocol import (
    AlarmEvent,
    Channel,
    GatewayState,
    GatewayStatus,
    ManualClock,
    ReadingBatch,
    SmokeReading,
    SmokeState,
    channel_topic,
    decode_message,
    encode,
    readings_of,
    server_subscriptions,
)
from rules.facility import Site
from rules.live import LiveEngine
from tests.notify.receivers import HttpReceiver
from tests.rules.live.factories import national
from tests.services import free_port


def _site(site_id: str, gateway: str) -> Site:
    return Site.model_validate(
        {
            "id": site_id,
            "name": "幸福里社区服务中心",
            "rooms": [{"id": "r1", "name": "日间照料室", "floor": 1}],
            "gateways": [
                {"id": gateway, "devices": [{"id": "smk1", "kind": "smoke", "room": "r1"}]}
            ],
        }
    )


class StandInConsumer:
    """Subscribes like the server, decodes, and feeds the pipeline (in paho's thread)."""

    def __init__(self, host: str, port: int, site: str, pipeline: AlertPipeline) -> None:
        self.pipeline = pipeline
        self.subscribed = threading.Event()
        self.errors: list[str] = []
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        filters = [(f, 1) for f in server_subscriptions(site)]
        self.client.on_connect = lambda c, *_: c.subscribe(filters)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        decoded = decode_message(message.topic, message.payload, now=self.pipeline.clock.now())
        if isinstance(decoded.message, GatewayStatus):
            self.pipeline.on_status(decoded.message)
        elif isinstance(decoded.message, ReadingBatch | AlarmEvent):
            self.pipeline.on_readings(readings_of(decoded.message))

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def _next(queue: asyncio.Queue[tuple[str, dict[str, Any]]], event: str, rule: str) -> Any:
    async with asyncio.timeout(10):
        while True:
            kind, data = await queue.get()
            if kind == event and data["alert"]["rule"] == rule:
                return data


async def _poll(predicate: Callable[[], bool]) -> None:
    for _ in range(500):  # 10 s at most
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.mark.mosquitto
async def test_smoke_alarm_to_sse_webhook_reminders_ack_and_resolution(
    mosquitto: Any,
    unique_id: str,
    db: Engine,
    http_receiver: Callable[..., HttpReceiver],
) -> None:
    site_id, gateway = unique_id, unique_id + "g"
    site = _site(site_id, gateway)
    clock = ManualClock(datetime.now(UTC))
    hook = http_receiver("ok")
    settings = NotifySettings.model_validate(
        {
            "channels": [
                {"type": "sse", "name": "dashboard"},
                {"type": "webhook", "name": "duty", "url": hook.url},
            ],
            # The receiver listens on loopback, an internal address: allowed explicitly.
            "url_allow_list": ["127.0.0.1"],
            "routes": [
                {
                    "name": "dashboard",
                    "channels": ["dashboard"],
                    "min_severity": "info",
                    "include_updates": True,
                    "respect_silence": False,
                },
                {
                    "name": "duty",
                    "channels": ["duty"],
                    "min_severity": "critical",
                    "remind_every_min": 1,
                },
            ],
        }
    )
    channels = build_channels(settings, clock)
    engine = LiveEngine([site], {"national": national()}, {}, start=clock.now())
    async with Dispatcher(settings, channels, clock) as dispatcher:
        service = AlertService(db, clock, sink=dispatcher.submit)
        service.create_tables()
        pipeline = AlertPipeline(engine, service, clock, reminder=dispatcher.remind)

        app = FastAPI()
        app.state.alert_service = service
        app.state.sse = channels["dashboard"]
        app.include_router(router)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        serving = asyncio.create_task(server.serve())
        base = f"http://127.0.0.1:{port}"
        stream_events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        connected = asyncio.Event()

        async def read_stream() -> None:
            async with (
                httpx.AsyncClient(timeout=None) as client,
                client.stream("GET", f"{base}/alerts/stream") as response,
            ):
                event = ""
                async for line in response.aiter_lines():
                    if line.startswith(": connected"):
                        connected.set()
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        stream_events.put_nowait((event, json.loads(line[6:])))

        consumer = StandInConsumer(mosquitto.host, mosquitto.port, site_id, pipeline)
        edge = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        edge.connect(mosquitto.host, mosquitto.port)
        edge.loop_start()
        reader: asyncio.Task[None] | None = None
        try:
            await _poll(lambda: server.started)
            reader = asyncio.create_task(read_stream())
            await asyncio.wait_for(connected.wait(), 10)
            assert await asyncio.to_thread(consumer.subscribed.wait, 10)

            status = GatewayStatus(gateway=gateway, state=GatewayState.ONLINE, ts=clock.now())
            edge.publish(channel_topic(site_id, gateway, Channel.STATUS), encode(status), qos=1)
            alarm = AlarmEvent(
                gateway=gateway,
                sent_at=clock.now(),
                seq=1,
                reading=SmokeReading(
                    id=f"{gateway}-1", device="smk1", ts=clock.now(), state=SmokeState.ALARM
                ),
                actions=["sounder"],
            )
            edge.publish(channel_topic(site_id, gateway, Channel.ALARM), encode(alarm), qos=1)

            fired = await _next(stream_events, "fired", "smoke.alarm")
            assert fired["alert"]["severity"] == "critical"
            assert fired["alert"]["state"] == "firing"
            assert fired["title"].startswith("【紧急】告警：火警")
            alert_id = fired["alert"]["id"]
            [first] = await asyncio.to_thread(hook.wait_for, 1)
            assert (first.json()["kind"], first.json()["alert"]["id"]) == ("fired", alert_id)

            for n in (2, 3):  # a reminder every minute until acknowledged
                clock.advance(60)
                await asyncio.to_thread(pipeline.remind)
                requests = await asyncio.to_thread(hook.wait_for, n)
                assert requests[-1].json()["kind"] == "reminder"

            async with httpx.AsyncClient(base_url=base) as client:
                answer = await client.post(
                    f"/alerts/{alert_id}/acknowledge", json={"actor": "王值班"}
                )
                assert answer.status_code == 200, answer.text
            await _next(stream_events, "acknowledged", "smoke.alarm")
            clock.advance(120)
            await asyncio.to_thread(pipeline.remind)

            clear = ReadingBatch(
                gateway=gateway,
                sent_at=clock.now(),
                seq=2,
                readings=[
                    SmokeReading(
                        id=f"{gateway}-2", device="smk1", ts=clock.now(), state=SmokeState.NORMAL
                    )
                ],
            )
            edge.publish(channel_topic(site_id, gateway, Channel.READINGS), encode(clear), qos=1)
            # the smoke rule keeps firing for 60 s after the detector clears; tick until then
            await _poll(lambda: smoke_clearing(pipeline))
            clock.advance(61)
            await asyncio.to_thread(pipeline.tick)
            resolved = await _next(stream_events, "resolved", "smoke.alarm")
            assert resolved["alert"]["state"] == "resolved"
            requests = await asyncio.to_thread(hook.wait_for, 4)
            assert [r.json()["kind"] for r in requests] == [
                "fired",
                "reminder",
                "reminder",
                "resolved",
            ]
            detail = service.get(alert_id)
            assert [h.action for h in detail.history] == ["fired", "acknowledged", "cleared"]
            assert detail.history[1].actor == "王值班"
        finally:
            edge.loop_stop()
            edge.disconnect()
            consumer.stop()
            if reader is not None:
                reader.cancel()
            server.should_exit = True
            await asyncio.wait_for(serving, 10)


def smoke_clearing(pipeline: AlertPipeline) -> bool:
    """The consumer has applied the clearing reading (the smoke timer is clearing)."""
    return any(t.rule == "smoke.alarm" and t.phase.value == "clearing" for t in pipeline.active())
