"""The dispatcher: isolation of failing channels, routing, language, reminders, escalation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from ingest_server.alerts import AlertState, EventKind
from ingest_server.notify import (
    Dispatcher,
    Notification,
    NotifySettings,
    RetryPolicy,
    SseBroadcaster,
    build_channels,
)
from protocol import ManualClock
from rules.live import Severity
from tests.notify.conftest import make_alert, make_event
from tests.notify.receivers import HttpReceiver
from tests.rules.live.factories import T0


class Recorder:
    """A channel that keeps what it was sent: the lowest seam, under the real dispatcher."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Notification] = []

    async def start(self) -> None:
        return None

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    async def aclose(self) -> None:
        return None


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):  # 10 s at most
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_a_hanging_and_a_failing_webhook_delay_no_other_channel(
    http_receiver: Callable[..., HttpReceiver],
) -> None:
    ok, failing, hanging = http_receiver("ok"), http_receiver("error"), http_receiver("hang")
    settings = NotifySettings.model_validate(
        {
            "channels": [
                {"type": "webhook", "name": "ok", "url": ok.url},
                {"type": "webhook", "name": "failing", "url": failing.url},
                {"type": "webhook", "name": "hanging", "url": hanging.url},
                {"type": "sse", "name": "sse"},
            ],
            "routes": [{"name": "all", "channels": ["hanging", "failing", "ok", "sse"]}],
            "send_timeout_s": 2,
            "max_attempts": 3,
            "backoff_base_s": 0.01,
            # The receivers listen on loopback, an internal address: allowed explicitly.
            "url_allow_list": ["127.0.0.1"],
        }
    )
    channels = build_channels(settings, ManualClock(T0))
    sse = channels["sse"]
    assert isinstance(sse, SseBroadcaster)
    subscription = sse.subscribe()
    async with Dispatcher(settings, channels, ManualClock(T0)) as dispatcher:
        for i in range(3):
            dispatcher.submit(make_event(id=i + 1))
        await asyncio.to_thread(ok.wait_for, 3)
        # The hanging receiver still holds its first request: the others did not wait for it.
        assert hanging.in_flight == 1
        assert len(hanging.requests) == 1
        assert [(await subscription.get()).event for _ in range(3)] == ["fired"] * 3
        await _until(lambda: dispatcher.stats()["failing"].given_up == 3)
        stats = dispatcher.stats()
        assert stats["ok"].sent == 3
        assert stats["failing"].failed_attempts == 9
        assert stats["failing"].last_error is not None
        assert "HTTP 500" in stats["failing"].last_error
        assert stats["hanging"].sent == 0
        assert stats["hanging"].queued == 2
        metrics = dispatcher.prometheus()
        assert 'linli_notify_given_up_total{channel="failing"} 3' in metrics
        assert 'linli_notify_sent_total{channel="ok"} 3' in metrics
        hanging.release.set()


async def test_submit_from_another_thread_never_waits() -> None:
    recorder = Recorder("r")
    settings = NotifySettings.model_validate(
        {"channels": [{"type": "sse", "name": "r"}], "routes": [{"name": "a", "channels": ["r"]}]}
    )
    async with Dispatcher(settings, {"r": recorder}, ManualClock(T0)) as dispatcher:
        await asyncio.to_thread(dispatcher.submit, make_event())
        await _until(lambda: len(recorder.sent) == 1)


def _settings(**route_over: object) -> NotifySettings:
    return NotifySettings.model_validate(
        {
            "channels": [
                {"type": "sse", "name": "zh"},
                {"type": "sse", "name": "en"},
                {"type": "sse", "name": "chief"},
            ],
            "routes": [
                {
                    "name": "duty",
                    "channels": ["zh"],
                    "sites": ["s1"],
                    "min_severity": "major",
                    "remind_every_min": 5,
                    "escalate_after_min": 10,
                    "escalate_to": "district",
                }
                | route_over,
                {"name": "english", "channels": ["en"], "language": "en", "min_severity": "minor"},
                {"name": "district", "channels": ["chief"], "escalation_only": True},
            ],
        }
    )


@pytest.fixture
def recorders() -> dict[str, Recorder]:
    return {name: Recorder(name) for name in ("zh", "en", "chief")}


async def _drain(dispatcher: Dispatcher) -> None:
    await asyncio.wait_for(dispatcher.drain(), 5)


async def test_routing_by_site_severity_and_language(recorders: dict[str, Recorder]) -> None:
    async with Dispatcher(_settings(), recorders, ManualClock(T0)) as dispatcher:
        dispatcher.submit(make_event())
        dispatcher.submit(make_event(id=8, site="s2"))
        dispatcher.submit(make_event(id=9, severity=Severity.MINOR))
        dispatcher.submit(make_event(id=10, severity=Severity.WARNING))
        await _drain(dispatcher)
    assert [n.alert.id for n in recorders["zh"].sent] == [7]
    assert recorders["zh"].sent[0].title.startswith("【紧急】告警：火警")
    assert [n.alert.id for n in recorders["en"].sent] == [7, 8, 9]
    assert recorders["en"].sent[0].title.startswith("[CRITICAL] Alert: Fire alarm")
    assert recorders["chief"].sent == []


async def test_reminders_until_acknowledged_then_escalation_and_resolution(
    recorders: dict[str, Recorder],
) -> None:
    clock = ManualClock(T0)
    async with Dispatcher(_settings(), recorders, clock) as dispatcher:
        dispatcher.submit(make_event())
        firing = [make_alert()]
        for minutes in (1, 4):
            clock.set(T0 + timedelta(minutes=minutes))
            dispatcher.remind(firing)
        clock.set(T0 + timedelta(minutes=5))
        dispatcher.remind(firing)
        clock.set(T0 + timedelta(minutes=6))
        dispatcher.remind(firing)
        clock.set(T0 + timedelta(minutes=10))
        dispatcher.remind(firing)  # second reminder, and the escalation to the district
        clock.set(T0 + timedelta(minutes=12))
        dispatcher.remind([])  # acknowledged: no longer firing
        clock.set(T0 + timedelta(minutes=20))
        dispatcher.remind([])
        dispatcher.submit(make_event(EventKind.RESOLVED, 1200, state=AlertState.RESOLVED))
        await _drain(dispatcher)
    assert [(n.kind.value, n.at - T0) for n in recorders["zh"].sent] == [
        ("fired", timedelta(0)),
        ("reminder", timedelta(minutes=5)),
        ("reminder", timedelta(minutes=10)),
        ("resolved", timedelta(minutes=20)),
    ]
    assert "提醒：尚未确认" in recorders["zh"].sent[1].title
    assert [n.kind.value for n in recorders["chief"].sent] == ["escalation", "resolved"]


async def test_the_rule_can_ask_for_faster_reminders(recorders: dict[str, Recorder]) -> None:
    clock = ManualClock(T0)
    async with Dispatcher(_settings(), recorders, clock) as dispatcher:
        firing = [make_alert(remind_every_s=120)]
        clock.set(T0 + timedelta(minutes=2))
        dispatcher.remind(firing)
        await _drain(dispatcher)
    assert [n.kind.value for n in recorders["zh"].sent] == ["reminder"]


async def test_escalation_only_for_critical(recorders: dict[str, Recorder]) -> None:
    clock = ManualClock(T0 + timedelta(minutes=30))
    async with Dispatcher(_settings(), recorders, clock) as dispatcher:
        dispatcher.remind([make_alert(severity=Severity.MAJOR)])
        await _drain(dispatcher)
    assert recorders["chief"].sent == []


async def test_silenced_subjects_reach_only_routes_that_ignore_silence(
    recorders: dict[str, Recorder],
) -> None:
    settings = _settings(respect_silence=False)
    silenced_until = T0 + timedelta(minutes=30)
    async with Dispatcher(settings, recorders, ManualClock(T0)) as dispatcher:
        dispatcher.submit(make_event(silenced_until=silenced_until))
        await _drain(dispatcher)
        assert dispatcher.suppressed == 1
    assert len(recorders["zh"].sent) == 1
    assert recorders["en"].sent == []


async def test_updates_only_to_routes_that_want_them(recorders: dict[str, Recorder]) -> None:
    settings = _settings(include_updates=True)
    async with Dispatcher(settings, recorders, ManualClock(T0)) as dispatcher:
        dispatcher.submit(make_event(EventKind.UPDATED))
        dispatcher.submit(make_event(EventKind.ACKNOWLEDGED))
        await _drain(dispatcher)
    assert [n.kind.value for n in recorders["zh"].sent] == ["updated", "acknowledged"]
    assert recorders["en"].sent == []


async def test_a_full_queue_drops_the_oldest(http_receiver: Callable[..., HttpReceiver]) -> None:
    hanging = http_receiver("hang")
    settings = NotifySettings.model_validate(
        {
            "channels": [{"type": "webhook", "name": "h", "url": hanging.url}],
            "routes": [{"name": "a", "channels": ["h"]}],
            "queue_size": 2,
            "url_allow_list": ["127.0.0.1"],
        }
    )
    policy = RetryPolicy(timeout_s=5, max_attempts=1)
    channels = build_channels(settings)
    async with Dispatcher(settings, channels, ManualClock(T0), policy=policy) as dispatcher:
        dispatcher.submit(make_event(id=1))
        await asyncio.to_thread(hanging.wait_for, 1)
        for i in range(2, 6):
            dispatcher.submit(make_event(id=i))
        stats = dispatcher.stats()["h"]
        assert (stats.queued, stats.dropped) == (2, 2)
        hanging.release.set()


def test_settings_refuse_unknown_channels_and_routes() -> None:
    with pytest.raises(ValueError, match="unknown channels"):
        NotifySettings.model_validate({"routes": [{"name": "a", "channels": ["nope"]}]})
    with pytest.raises(ValueError, match="escalates to unknown"):
        NotifySettings.model_validate(
            {
                "channels": [{"type": "sse", "name": "s"}],
                "routes": [
                    {
                        "name": "a",
                        "channels": ["s"],
                        "escalate_to": "b",
                        "escalate_after_min": 5,
                    }
                ],
            }
        )
    with pytest.raises(ValueError, match="url"):
        NotifySettings.model_validate({"channels": [{"type": "webhook", "name": "w", "url": "x"}]})
