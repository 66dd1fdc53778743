"""Fixtures of the notifier tests: local receivers and alert values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from ingest_server.alerts import AlertEvent, AlertPublic, AlertState, EventKind
from rules.live import Severity, Text
from tests.notify.receivers import HttpReceiver, SmtpReceiver
from tests.rules.live.factories import T0


@pytest.fixture
def http_receiver() -> Iterator[Callable[..., HttpReceiver]]:
    started: list[HttpReceiver] = []

    def make(mode: str = "ok", **kwargs: object) -> HttpReceiver:
        receiver = HttpReceiver(mode, **kwargs)  # type: ignore[arg-type]
        receiver.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()


def make_alert(**over: object) -> AlertPublic:
    values: dict[str, object] = {
        "id": 7,
        "rule": "smoke.alarm",
        "subject": "s1/r1",
        "site": "s1",
        "room": "r1",
        "device": "smk1",
        "gateway": None,
        "state": AlertState.FIRING,
        "severity": Severity.CRITICAL,
        "message": Text(zh="火警：幸福里 日间照料室 烟感报警", en="Fire alarm: Day-care room"),
        "details": {"count": 3, "devices": ["smk1"]},
        "assignee": None,
        "occurrences": 1,
        "first_seen": T0,
        "last_seen": T0,
        "since": T0,
        "fired_at": T0,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
    }
    values.update(over)
    return AlertPublic.model_validate(values)


def make_event(kind: EventKind = EventKind.FIRED, at_s: float = 0, **over: object) -> AlertEvent:
    return AlertEvent(
        kind=kind, alert=make_alert(**over), at=T0 + timedelta(seconds=at_s), actor="engine"
    )
