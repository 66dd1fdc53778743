"""The alert lifecycle against a real SQLite database, driven by the real engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect

from ingest_server.alerts import (
    AlertEvent,
    AlertNotFound,
    AlertPipeline,
    AlertService,
    AlertState,
    EventKind,
    InvalidAction,
    InvalidInput,
)
from ingest_server.db import Base
from protocol import DoorState, ManualClock, SmokeState
from rules.live import Severity
from tests.rules.live.factories import T0, door, engine, smoke


def _door_alert(service: AlertService) -> int:
    [alert] = service.list_alerts(rule="door.held_open")
    return alert.id


def test_tables_are_prefixed(db: Engine, service: AlertService) -> None:
    names = set(inspect(db).get_table_names())
    assert {"alert_alerts", "alert_transitions", "alert_silences", "alert_engine_snapshot"} <= names


def test_pending_firing_acknowledged_resolved_with_history(
    pipeline: AlertPipeline, service: AlertService, clock: ManualClock, events: list[AlertEvent]
) -> None:
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    alert = service.get(_door_alert(service))
    assert alert.state is AlertState.PENDING
    assert alert.occurrences == 0
    assert events == []  # nobody is told about a pending alert

    clock.advance(60)
    [fired] = pipeline.tick()
    assert fired.kind is EventKind.FIRED
    assert fired.alert.state is AlertState.FIRING
    assert fired.alert.severity is Severity.MAJOR
    assert fired.alert.occurrences == 1
    assert fired.alert.since == T0
    assert fired.alert.first_seen == T0

    clock.advance(5)
    acked = service.acknowledge(alert.id, "王值班", "going to look")
    assert acked.state is AlertState.ACKNOWLEDGED
    assert acked.acknowledged_by == "王值班"
    assert service.assign(alert.id, "李师傅", "王值班").assignee == "李师傅"
    service.add_note(alert.id, "李师傅", "wedge removed")

    clock.advance(10)
    [resolved] = pipeline.on_reading(door("door1", DoorState.CLOSED, clock.now()))
    assert resolved.kind is EventKind.RESOLVED
    assert resolved.alert.resolved_at == clock.now()

    history = service.get(alert.id).history
    assert [(h.action, h.actor, h.from_state, h.to_state) for h in history] == [
        ("pending", "engine", None, AlertState.PENDING),
        ("fired", "engine", AlertState.PENDING, AlertState.FIRING),
        ("acknowledged", "王值班", AlertState.FIRING, AlertState.ACKNOWLEDGED),
        ("assigned", "王值班", None, None),
        ("note", "李师傅", None, None),
        ("cleared", "engine", AlertState.ACKNOWLEDGED, AlertState.RESOLVED),
    ]
    assert history[2].at == T0 + timedelta(seconds=65)
    assert history[4].note == "wedge removed"
    assert [e.kind for e in events] == [
        EventKind.FIRED,
        EventKind.ACKNOWLEDGED,
        EventKind.ASSIGNED,
        EventKind.NOTE,
        EventKind.RESOLVED,
    ]


def test_a_new_occurrence_reopens_the_same_alert(
    pipeline: AlertPipeline, service: AlertService, clock: ManualClock
) -> None:
    for _ in range(2):
        pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
        clock.advance(61)
        pipeline.tick()
        pipeline.on_reading(door("door1", DoorState.CLOSED, clock.now()))
        clock.advance(5)
    [alert] = service.list_alerts(rule="door.held_open")
    assert alert.occurrences == 2
    assert alert.state is AlertState.RESOLVED
    assert alert.acknowledged_by is None


def test_a_pending_alert_that_clears_in_time_is_cancelled_without_an_event(
    pipeline: AlertPipeline, service: AlertService, clock: ManualClock, events: list[AlertEvent]
) -> None:
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    clock.advance(20)
    pipeline.on_reading(door("door1", DoorState.CLOSED, clock.now()))
    alert = service.get(_door_alert(service))
    assert alert.state is AlertState.RESOLVED
    assert alert.occurrences == 0
    assert [h.action for h in alert.history] == ["pending", "cancelled"]
    assert events == []


def test_operator_actions_refused_with_reasons(
    pipeline: AlertPipeline, service: AlertService, clock: ManualClock
) -> None:
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    alert_id = _door_alert(service)
    with pytest.raises(InvalidAction, match="only a firing alert can be acknowledged"):
        service.acknowledge(alert_id, "a")
    with pytest.raises(InvalidInput, match="needs a note"):
        service.resolve(alert_id, "a", "  ")
    with pytest.raises(InvalidInput, match="at most 43200 s"):
        service.silence(alert_id, "a", timedelta(days=2))
    with pytest.raises(InvalidInput):
        service.silence(alert_id, "a", timedelta(0))
    with pytest.raises(AlertNotFound):
        service.acknowledge(9999, "a")
    service.resolve(alert_id, "a", "false alarm, contact misaligned")
    with pytest.raises(InvalidAction, match="already resolved"):
        service.resolve(alert_id, "a", "again")
    with pytest.raises(InvalidAction, match="cannot be assigned"):
        service.assign(alert_id, "b", "a")


def test_silence_is_bounded_logged_and_marks_events(
    pipeline: AlertPipeline, service: AlertService, clock: ManualClock, events: list[AlertEvent]
) -> None:
    pipeline.on_reading(smoke("smk1", SmokeState.ALARM, clock.now()))
    [alert] = service.list_alerts(rule="smoke.alarm")
    assert not events[-1].silenced
    silenced = service.silence(alert.id, "张主任", timedelta(minutes=30), "drill in progress")
    assert silenced.silenced_until == clock.now() + timedelta(minutes=30)
    assert service.get(alert.id).history[-1].action == "silenced"
    assert "drill in progress" in (service.get(alert.id).history[-1].note or "")
    clock.advance(10)
    assert pipeline.on_reading(smoke("smk1", SmokeState.NORMAL, clock.now())) == []
    clock.advance(60)  # the smoke rule keeps firing for 60 s after the detector clears
    [resolved] = pipeline.tick()
    assert resolved.kind is EventKind.RESOLVED
    assert resolved.silenced
    clock.advance(timedelta(minutes=30))
    assert service.get(alert.id).silenced_until is None


def test_manual_resolve_then_the_engine_reopens_on_escalation(
    pipeline: AlertPipeline, service: AlertService, clock: ManualClock
) -> None:
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    clock.advance(60)
    pipeline.tick()
    alert_id = _door_alert(service)
    service.resolve(alert_id, "a", "door wedged for deliveries, closing it")
    clock.advance(300)
    # still held open, but resolved by hand: no new occurrence
    assert [e for e in pipeline.tick() if e.alert.rule == "door.held_open"] == []
    clock.advance(300)
    # ten minutes firing: escalates to critical and reopens
    [event] = [e for e in pipeline.tick() if e.alert.rule == "door.held_open"]
    assert event.kind is EventKind.FIRED
    assert event.alert.severity is Severity.CRITICAL
    assert event.alert.occurrences == 2


def test_filters(pipeline: AlertPipeline, service: AlertService, clock: ManualClock) -> None:
    pipeline.on_reading(smoke("smk1", SmokeState.ALARM, clock.now()))
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    active = {a.rule for a in service.list_alerts(active=True)}
    assert active == {"smoke.alarm", "door.held_open", "door.not_released"}
    critical = service.list_alerts(min_severity=Severity.CRITICAL)
    assert {a.rule for a in critical} == {"smoke.alarm", "door.not_released"}
    firing = service.list_alerts(state=[AlertState.FIRING])
    assert [a.rule for a in firing] == ["smoke.alarm"]
    assert service.list_alerts(site="elsewhere") == []
    assert service.list_alerts(active=False) == []
    assert len(service.list_alerts(limit=1)) == 1


def test_timers_survive_a_restart_through_the_database(
    db: Engine, service: AlertService, clock: ManualClock
) -> None:
    first = AlertPipeline(engine(), service, clock)
    first.on_reading(door("door1", DoorState.OPEN, clock.now()))
    clock.advance(50)
    first.save_snapshot()

    restarted_service = AlertService(db, clock)
    second = AlertPipeline(engine(), restarted_service, clock)
    assert second.restore()
    clock.advance(9)
    assert second.tick() == []
    clock.advance(1)
    [event] = second.tick()
    assert event.kind is EventKind.FIRED
    assert event.alert.rule == "door.held_open"


def test_a_corrupt_snapshot_is_skipped(service: AlertService, clock: ManualClock) -> None:
    service.save_snapshot('{"version": 1, "nonsense": true}', clock.now())
    assert not AlertPipeline(engine(), service, clock).restore()


def test_no_snapshot_means_a_fresh_start(service: AlertService, clock: ManualClock) -> None:
    assert not AlertPipeline(engine(), service, clock).restore()


def test_a_database_outage_delays_decisions_instead_of_losing_them(
    db: Engine, pipeline: AlertPipeline, service: AlertService, clock: ManualClock
) -> None:
    Base.metadata.tables["alert_transitions"].drop(db)
    assert pipeline.on_reading(smoke("smk1", SmokeState.ALARM, clock.now())) == []
    assert pipeline.backlog > 0
    service.create_tables()
    clock.advance(5)
    events = pipeline.tick()
    assert [(e.kind, e.alert.rule) for e in events if e.alert.rule == "smoke.alarm"] == [
        (EventKind.FIRED, "smoke.alarm")
    ]
    assert pipeline.backlog == 0


def test_a_start_without_snapshot_resolves_alerts_no_longer_true(
    db: Engine, pipeline: AlertPipeline, service: AlertService, clock: ManualClock
) -> None:
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    clock.advance(60)
    pipeline.tick()
    pipeline.on_reading(smoke("smk1", SmokeState.ALARM, clock.now()))

    fresh = AlertPipeline(engine(), AlertService(db, clock), clock)
    assert not fresh.restore()
    fresh.on_reading(smoke("smk1", SmokeState.ALARM, clock.now()))  # still alarming
    fresh.tick()
    resolved = {e.alert.rule: e for e in fresh.reconcile()}
    assert set(resolved) == {"door.held_open", "door.not_released"}  # the door state is unknown
    assert resolved["door.held_open"].alert.state is AlertState.RESOLVED
    history = service.get(resolved["door.held_open"].alert.id).history
    assert "restarted without its saved state" in (history[-1].note or "")
    assert [a.rule for a in service.list_alerts(state=[AlertState.FIRING])] == ["smoke.alarm"]
