"""Each channel against a real local receiver (HTTP, SMTP) or the real Mosquitto."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest_server.notify import (
    DeliveryFailed,
    DingTalkNotifier,
    EmailNotifier,
    FeishuNotifier,
    MqttNotifier,
    Notification,
    NotificationKind,
    SseBroadcaster,
    UrlGuard,
    WebhookNotifier,
    WeComNotifier,
    render,
    webhook_signature,
)
from protocol import ManualClock, alerts_topic
from tests.notify.conftest import make_alert
from tests.notify.receivers import HttpReceiver, Request, SmtpReceiver
from tests.rules.live.factories import T0

# The receivers listen on loopback, an internal address: allowed explicitly.
LOOPBACK = UrlGuard(["127.0.0.1"])


def _notification(language: str = "zh-CN", **over: object) -> Notification:
    alert = make_alert(**over)
    title, text = render(NotificationKind.FIRED, alert, language)
    return Notification(
        kind=NotificationKind.FIRED,
        route="duty",
        language=language,
        title=title,
        text=text,
        at=T0,
        alert=alert,
    )


def test_render_in_both_languages() -> None:
    zh_title, zh_text = render(NotificationKind.FIRED, make_alert(), "zh-CN")
    assert zh_title == "【紧急】告警：火警：幸福里 日间照料室 烟感报警"
    assert "室内人数：3" in zh_text
    assert "开始时间：2026-01-05 10:00:00" in zh_text  # Shanghai time
    en_title, en_text = render(
        NotificationKind.RESOLVED, make_alert(details={"evacuation_s": 95.0}), "en"
    )
    assert en_title == "[CRITICAL] Resolved: Fire alarm: Day-care room"
    assert "Evacuation time: 95 s" in en_text


async def test_webhook_posts_signed_json(http_receiver: Callable[..., HttpReceiver]) -> None:
    receiver = http_receiver("ok")
    clock = ManualClock(T0)
    notifier = WebhookNotifier(
        "hook", receiver.url, secret="s3cret", clock=clock, url_guard=LOOPBACK
    )
    await notifier.send(_notification())
    await notifier.aclose()
    [request] = receiver.requests
    assert request.json()["alert"]["rule"] == "smoke.alarm"
    assert request.json()["kind"] == "fired"
    assert request.headers["x-linli-timestamp"] == str(int(T0.timestamp()))
    assert request.headers["x-linli-signature"] == webhook_signature(
        "s3cret", request.headers["x-linli-timestamp"], request.body
    )


async def test_webhook_500_is_retryable_and_4xx_is_not(
    http_receiver: Callable[..., HttpReceiver],
) -> None:
    notifier = WebhookNotifier("hook", http_receiver("error").url, url_guard=LOOPBACK)
    with pytest.raises(DeliveryFailed, match="HTTP 500") as err:
        await notifier.send(_notification())
    assert err.value.retryable
    await notifier.aclose()


async def test_wecom_markdown(http_receiver: Callable[..., HttpReceiver]) -> None:
    receiver = http_receiver("robot")
    notifier = WeComNotifier("wecom", receiver.url + "?key=abc", url_guard=LOOPBACK)
    await notifier.send(_notification())
    await notifier.aclose()
    body = receiver.requests[0].json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith("**【紧急】告警")
    assert receiver.requests[0].query == {"key": "abc"}


async def test_dingtalk_signs_in_the_query(http_receiver: Callable[..., HttpReceiver]) -> None:
    secret = "SECabc123"

    def verify(request: Request) -> dict[str, object]:
        ts = request.query["timestamp"]
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        ok = request.query["sign"] == expected
        return {"errcode": 0 if ok else 310000, "errmsg": "ok" if ok else "sign not match"}

    receiver = http_receiver("robot", robot_answer=verify)
    clock = ManualClock(T0)
    notifier = DingTalkNotifier(
        "ding", receiver.url + "?access_token=t", secret=secret, clock=clock, url_guard=LOOPBACK
    )
    await notifier.send(_notification("en"))
    [request] = receiver.requests
    assert request.query["timestamp"] == str(int(T0.timestamp() * 1000))
    assert request.query["access_token"] == "t"
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"].startswith("[CRITICAL] Alert")
    wrong = DingTalkNotifier(
        "ding", receiver.url, secret="SECwrong", clock=clock, url_guard=LOOPBACK
    )
    with pytest.raises(DeliveryFailed, match="errcode=310000") as err:
        await wrong.send(_notification())
    assert not err.value.retryable
    await notifier.aclose()
    await wrong.aclose()


async def test_feishu_signs_in_the_body(http_receiver: Callable[..., HttpReceiver]) -> None:
    secret = "feishu-secret"

    def verify(request: Request) -> dict[str, object]:
        body = request.json()
        key = f"{body['timestamp']}\n{secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        return {"code": 0 if body["sign"] == expected else 19021, "msg": "sign match fail"}

    receiver = http_receiver("robot", robot_answer=verify)
    notifier = FeishuNotifier(
        "feishu", receiver.url, secret=secret, clock=ManualClock(T0), url_guard=LOOPBACK
    )
    await notifier.send(_notification())
    body = receiver.requests[0].json()
    assert body["msg_type"] == "text"
    assert body["timestamp"] == str(int(T0.timestamp()))
    assert "室内人数：3" in body["content"]["text"]
    await notifier.aclose()


async def test_email_over_smtp(smtp_receiver: SmtpReceiver) -> None:
    notifier = EmailNotifier(
        "mail",
        "127.0.0.1",
        smtp_receiver.port,
        sender="alerts@linli.invalid",
        recipients=["duty@linli.invalid", "chief@linli.invalid"],
        tls="none",
    )
    await notifier.send(_notification())
    [raw] = smtp_receiver.messages
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "【紧急】告警：火警：幸福里 日间照料室 烟感报警"
    body = message.get_body()
    assert body is not None
    assert "室内人数：3" in body.get_content()
    assert smtp_receiver.envelopes == [
        ("alerts@linli.invalid", ["duty@linli.invalid", "chief@linli.invalid"])
    ]


async def test_email_to_a_closed_port_fails_retryably(smtp_receiver: SmtpReceiver) -> None:
    port = smtp_receiver.port
    smtp_receiver.stop()
    notifier = EmailNotifier("mail", "127.0.0.1", port, sender="a@b.c", recipients=["d@e.f"])
    with pytest.raises(DeliveryFailed) as err:
        await notifier.send(_notification())
    assert err.value.retryable


@pytest.mark.mosquitto
async def test_mqtt_publishes_on_the_site_alerts_topic(mosquitto: object, unique_id: str) -> None:
    host, port = mosquitto.host, mosquitto.port  # type: ignore[attr-defined]
    got: list[bytes] = []
    subscribed, received = threading.Event(), threading.Event()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=unique_id + "s")
    sub.on_connect = lambda c, *_: c.subscribe(alerts_topic(unique_id), qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda _c, _u, m: (got.append(m.payload), received.set())
    sub.connect(host, port)
    sub.loop_start()
    notifier = MqttNotifier("display", host, port, client_id=unique_id + "p")
    try:
        assert await asyncio.to_thread(subscribed.wait, 10)
        await notifier.start()
        for _ in range(500):  # connect in the background, bounded
            if notifier.connected:
                break
            await asyncio.sleep(0.01)
        await notifier.send(_notification(site=unique_id))
        assert await asyncio.to_thread(received.wait, 10)
    finally:
        await notifier.aclose()
        sub.loop_stop()
        sub.disconnect()
    payload = json.loads(got[0])
    assert payload["alert"]["site"] == unique_id
    assert payload["title"].startswith("【紧急】")


async def test_mqtt_send_without_a_broker_fails_retryably() -> None:
    notifier = MqttNotifier("display", "127.0.0.1", 1)
    with pytest.raises(DeliveryFailed, match="not connected") as err:
        await notifier.send(_notification())
    assert err.value.retryable


async def test_sse_slow_subscriber_never_blocks_the_others() -> None:
    sse = SseBroadcaster(queue_size=2)
    slow, fast = sse.subscribe(), sse.subscribe()
    received: list[str] = []

    async def read() -> None:
        async with fast:
            async for message in fast:
                received.append(message.id)

    reader = asyncio.create_task(read())
    for _ in range(10):
        await sse.send(_notification())
        await asyncio.sleep(0)  # let the reader run, as the event loop would between events
    await sse.aclose()
    await asyncio.wait_for(reader, 5)
    assert received == [str(i) for i in range(1, 11)]
    assert slow.dropped == 9  # its queue of 2 keeps event 10 and the end of the stream
    frame = (await slow.get()).frame()
    assert frame.startswith("id: 10\nevent: fired\ndata: {")
    assert frame.endswith("\n\n")
    with pytest.raises(StopAsyncIteration):
        await slow.get()
    assert sse.subscribers == 1


@pytest.mark.mosquitto
async def test_mqtt_channel_recovers_after_a_broker_restart(
    own_mosquitto: Any, unique_id: str
) -> None:
    host, port = own_mosquitto.host, own_mosquitto.port
    notifier = MqttNotifier("display", host, port, client_id=unique_id)
    await notifier.start()
    try:
        await _poll(lambda: notifier.connected)
        await notifier.send(_notification(site=unique_id))
        await asyncio.to_thread(own_mosquitto.stop)
        await _poll(lambda: not notifier.connected)
        with pytest.raises(DeliveryFailed) as err:
            await notifier.send(_notification(site=unique_id))
        assert err.value.retryable
        await asyncio.to_thread(own_mosquitto.start)
        await _poll(lambda: notifier.connected, 40)  # paho's reconnect backoff is capped at 30 s
        await notifier.send(_notification(site=unique_id))
    finally:
        await notifier.aclose()


async def _poll(predicate: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
