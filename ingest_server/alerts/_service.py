"""The alert lifecycle as a state machine keyed by (rule, subject), persisted with SQLAlchemy.

::

    pending ──fire──▶ firing ──acknowledge──▶ acknowledged
       │                 │                         │
       └──cancel──▶ resolved ◀──clear / resolve────┘      resolved ──fire──▶ firing (reopen)

Every change is a row in ``alert_transitions`` (who, when, from, to, note). Methods are
synchronous and do database I/O: call them from a worker thread, never on an event loop.
Events are handed to ``sink`` after their transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ingest_server.alerts._errors import AlertNotFound, InvalidAction, InvalidInput
from ingest_server.alerts._models import (
    ACTIVE_STATES,
    AlertDetail,
    AlertEvent,
    AlertPublic,
    AlertState,
    EventKind,
    TransitionPublic,
)
from ingest_server.alerts._tables import AlertRow, EngineSnapshotRow, SilenceRow, TransitionRow
from ingest_server.db import Base
from protocol import Clock
from rules.live import Change, Decision, Severity, Text

__all__ = ["ENGINE_ACTOR", "AlertService"]

log = logging.getLogger(__name__)

ENGINE_ACTOR = "engine"
# An operator silences a subject for a shift at most; longer needs a rule change, not a mute.
DEFAULT_MAX_SILENCE = timedelta(hours=12)
_MAX_LIMIT = 1000


class AlertService:
    """Applies engine decisions and operator actions to the stored alerts."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        sink: Callable[[AlertEvent], None] | None = None,
        max_silence: timedelta = DEFAULT_MAX_SILENCE,
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._engine = engine
        self._clock = clock
        self._sink = sink
        self.max_silence = max_silence

    def create_tables(self) -> None:
        """Create the ``alert_*`` tables if they are missing."""
        tables = [t for name, t in Base.metadata.tables.items() if name.startswith("alert_")]
        Base.metadata.create_all(self._engine, tables=tables)

    def set_sink(self, sink: Callable[[AlertEvent], None] | None) -> None:
        self._sink = sink

    # -- engine decisions --------------------------------------------------------------------

    def apply(self, decisions: Sequence[Decision]) -> list[AlertEvent]:
        """Apply the engine's decisions in one transaction; return (and emit) the events."""
        if not decisions:
            return []
        events: list[tuple[EventKind, int, str | None]] = []
        with self._sessions.begin() as session:
            for decision in decisions:
                found = self._apply_one(session, decision)
                if found is not None:
                    events.append(found)
            session.flush()
            out = [
                self._event(session, kind, aid, ENGINE_ACTOR, note) for kind, aid, note in events
            ]
        self._emit(out)
        return out

    def _apply_one(self, session: Session, d: Decision) -> tuple[EventKind, int, str | None] | None:
        row = session.scalars(
            select(AlertRow).where(AlertRow.rule == d.rule, AlertRow.subject == d.subject)
        ).one_or_none()
        fresh = row is None
        if row is None:
            if d.change not in (Change.PENDING, Change.FIRED, Change.ESCALATED):
                return None
            row = AlertRow(
                rule=d.rule,
                subject=d.subject,
                site=d.site,
                state=AlertState.RESOLVED.value,
                severity=d.severity.value,
                message_zh=d.message.zh,
                message_en=d.message.en,
                details={},
                occurrences=0,
                first_seen=d.at,
                last_seen=d.at,
            )
            session.add(row)
            session.flush()
        state = AlertState(row.state)
        kind: EventKind | None = None
        match d.change:
            case Change.PENDING:
                if state is AlertState.RESOLVED:
                    self._transition(session, row, AlertState.PENDING, d.at, "pending", fresh=fresh)
                    row.since = d.since
            case Change.CANCELLED:
                if state is AlertState.PENDING:
                    self._transition(session, row, AlertState.RESOLVED, d.at, "cancelled")
                    row.resolved_at = d.at
            case Change.FIRED | Change.ESCALATED:
                if state in (AlertState.PENDING, AlertState.RESOLVED):
                    self._open(session, row, d, fresh=fresh)
                    kind = EventKind.FIRED
                elif Severity(row.severity) is not d.severity:
                    kind = EventKind.ESCALATED
                    self._transition(session, row, None, d.at, "escalated", d.severity)
            case Change.UPDATED:
                if state is AlertState.RESOLVED:
                    return None
                if Severity(row.severity) is not d.severity:
                    self._transition(session, row, None, d.at, "severity", d.severity)
                kind = EventKind.UPDATED
            case Change.RESOLVED:
                if state is AlertState.RESOLVED:
                    return None
                self._transition(session, row, AlertState.RESOLVED, d.at, "cleared")
                row.resolved_at = d.at
                kind = EventKind.RESOLVED
        if d.change is not Change.CANCELLED:
            row.severity = d.severity.value
            row.message_zh, row.message_en = d.message.zh, d.message.en
            row.details = dict(d.details)
            row.room, row.device, row.gateway = d.room, d.device, d.gateway
            if d.remind_every_s is not None:
                row.remind_every_s = d.remind_every_s
        row.last_seen = max(row.last_seen, d.at)
        return (kind, row.id, None) if kind is not None else None

    def _open(self, session: Session, row: AlertRow, d: Decision, *, fresh: bool) -> None:
        """Start a new occurrence: from pending, or reopening a resolved alert."""
        self._transition(session, row, AlertState.FIRING, d.at, "fired", d.severity, fresh=fresh)
        row.occurrences += 1
        row.since = d.since
        row.fired_at = d.at
        row.acknowledged_at = None
        row.acknowledged_by = None
        row.resolved_at = None

    def resolve_absent(self, held: set[tuple[str, str]], now: datetime) -> list[AlertEvent]:
        """Resolve open alerts whose (rule, subject) the engine does not hold."""
        open_states = [s.value for s in ACTIVE_STATES]
        resolved: list[int] = []
        with self._sessions.begin() as session:
            rows = session.scalars(select(AlertRow).where(AlertRow.state.in_(open_states))).all()
            for row in rows:
                if (row.rule, row.subject) in held:
                    continue
                note = "not present when the engine restarted without its saved state"
                self._transition(session, row, AlertState.RESOLVED, now, "cleared", note=note)
                row.resolved_at = now
                resolved.append(row.id)
            session.flush()
            out = [
                self._event(session, EventKind.RESOLVED, i, ENGINE_ACTOR, None) for i in resolved
            ]
        self._emit(out)
        return out

    # -- operator actions --------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, note: str | None = None) -> AlertPublic:
        """firing → acknowledged; reminders stop."""

        def act(session: Session, row: AlertRow, now: datetime) -> EventKind:
            if row.state != AlertState.FIRING:
                raise InvalidAction(
                    f"alert {alert_id} is {row.state}; only a firing alert can be acknowledged"
                )
            self._transition(
                session, row, AlertState.ACKNOWLEDGED, now, "acknowledged", actor=actor, note=note
            )
            row.acknowledged_at = now
            row.acknowledged_by = actor
            return EventKind.ACKNOWLEDGED

        return self._act(alert_id, actor, note, act)

    def assign(self, alert_id: int, assignee: str, actor: str) -> AlertPublic:
        """Give an open alert to someone."""

        def act(session: Session, row: AlertRow, now: datetime) -> EventKind:
            if row.state == AlertState.RESOLVED:
                raise InvalidAction(f"alert {alert_id} is resolved; it cannot be assigned")
            note = f"assigned to {assignee}"
            self._transition(session, row, None, now, "assigned", actor=actor, note=note)
            row.assignee = assignee
            return EventKind.ASSIGNED

        return self._act(alert_id, actor, None, act)

    def resolve(self, alert_id: int, actor: str, note: str) -> AlertPublic:
        """Resolve an open alert by hand, with a note saying why."""
        if not note.strip():
            raise InvalidInput("resolving by hand needs a note")

        def act(session: Session, row: AlertRow, now: datetime) -> EventKind:
            if row.state == AlertState.RESOLVED:
                raise InvalidAction(f"alert {alert_id} is already resolved")
            self._transition(
                session, row, AlertState.RESOLVED, now, "resolved", actor=actor, note=note
            )
            row.resolved_at = now
            return EventKind.RESOLVED

        return self._act(alert_id, actor, note, act)

    def silence(
        self, alert_id: int, actor: str, duration: timedelta, reason: str | None = None
    ) -> AlertPublic:
        """Hold back notifications about the alert's subject (every rule) for ``duration``."""
        if duration <= timedelta(0) or duration > self.max_silence:
            longest = self.max_silence.total_seconds()
            raise InvalidInput(f"a silence lasts more than 0 s and at most {longest:.0f} s")

        def act(session: Session, row: AlertRow, now: datetime) -> EventKind:
            until = now + duration
            session.add(
                SilenceRow(
                    subject=row.subject, until=until, created_at=now, actor=actor, reason=reason
                )
            )
            note = f"silenced until {until.isoformat()}" + (f": {reason}" if reason else "")
            self._transition(session, row, None, now, "silenced", actor=actor, note=note)
            return EventKind.SILENCED

        return self._act(alert_id, actor, reason, act)

    def add_note(self, alert_id: int, actor: str, text: str) -> AlertPublic:
        if not text.strip():
            raise InvalidInput("a note needs text")

        def act(session: Session, row: AlertRow, now: datetime) -> EventKind:
            self._transition(session, row, None, now, "note", actor=actor, note=text)
            return EventKind.NOTE

        return self._act(alert_id, actor, text, act)

    def _act(
        self,
        alert_id: int,
        actor: str,
        note: str | None,
        act: Callable[[Session, AlertRow, datetime], EventKind],
    ) -> AlertPublic:
        now = self._clock.now()
        with self._sessions.begin() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise AlertNotFound(alert_id)
            kind = act(session, row, now)
            session.flush()
            event = self._event(session, kind, row.id, actor, note)
        self._emit([event])
        return event.alert

    # -- queries -----------------------------------------------------------------------------

    def list_alerts(
        self,
        *,
        state: Sequence[AlertState] | None = None,
        site: str | None = None,
        rule: str | None = None,
        subject: str | None = None,
        min_severity: Severity | None = None,
        active: bool | None = None,
        limit: int = 100,
        offset: int = 0,
        sites: Collection[str] | None = None,
    ) -> list[AlertPublic]:
        """Alerts, newest change first; ``sites`` narrows to those sites (None: all)."""
        query = select(AlertRow)
        if state:
            query = query.where(AlertRow.state.in_([s.value for s in state]))
        if active is True:
            query = query.where(AlertRow.state.in_([s.value for s in ACTIVE_STATES]))
        elif active is False:
            query = query.where(AlertRow.state == AlertState.RESOLVED.value)
        if site is not None:
            query = query.where(AlertRow.site == site)
        if sites is not None:
            query = query.where(AlertRow.site.in_(sorted(sites)))
        if rule is not None:
            query = query.where(AlertRow.rule == rule)
        if subject is not None:
            query = query.where(AlertRow.subject == subject)
        if min_severity is not None:
            allowed = [s.value for s in Severity if s.at_least(min_severity)]
            query = query.where(AlertRow.severity.in_(allowed))
        query = query.order_by(AlertRow.last_seen.desc(), AlertRow.id.desc())
        query = query.limit(max(1, min(limit, _MAX_LIMIT))).offset(max(0, offset))
        now = self._clock.now()
        with self._sessions() as session:
            rows = session.scalars(query).all()
            silences = self._silences(session, {r.subject for r in rows}, now)
            return [_public(r, silences.get(r.subject)) for r in rows]

    def site_of(self, alert_id: int) -> str | None:
        """The site of an alert, or None when there is no such alert."""
        with self._sessions() as session:
            return session.scalar(select(AlertRow.site).where(AlertRow.id == alert_id))

    def get(self, alert_id: int) -> AlertDetail:
        """One alert with its full history."""
        with self._sessions() as session:
            row = session.scalars(
                select(AlertRow)
                .where(AlertRow.id == alert_id)
                .options(selectinload(AlertRow.transitions))
            ).one_or_none()
            if row is None:
                raise AlertNotFound(alert_id)
            silence = self._silences(session, {row.subject}, self._clock.now()).get(row.subject)
            base = _public(row, silence)
            history = [
                TransitionPublic(
                    at=t.at,
                    actor=t.actor,
                    action=t.action,
                    from_state=AlertState(t.from_state) if t.from_state else None,
                    to_state=AlertState(t.to_state) if t.to_state else None,
                    severity=Severity(t.severity) if t.severity else None,
                    note=t.note,
                )
                for t in row.transitions
            ]
            return AlertDetail(**base.model_dump(), history=history)

    def firing(self) -> list[AlertPublic]:
        """Firing (unacknowledged) alerts, for reminders and escalation."""
        return self.list_alerts(state=[AlertState.FIRING], limit=_MAX_LIMIT)

    # -- engine snapshot ---------------------------------------------------------------------

    def save_snapshot(self, data: str, taken_at: datetime) -> None:
        """Store the engine's snapshot (JSON), replacing the previous one."""
        with self._sessions.begin() as session:
            row = session.get(EngineSnapshotRow, 1)
            if row is None:
                session.add(EngineSnapshotRow(id=1, taken_at=taken_at, data=data))
            else:
                row.taken_at, row.data = taken_at, data

    def load_snapshot(self) -> str | None:
        with self._sessions() as session:
            row = session.get(EngineSnapshotRow, 1)
            return row.data if row else None

    # -- internals ---------------------------------------------------------------------------

    def _transition(
        self,
        session: Session,
        row: AlertRow,
        to: AlertState | None,
        at: datetime,
        action: str,
        severity: Severity | None = None,
        *,
        actor: str = ENGINE_ACTOR,
        note: str | None = None,
        fresh: bool = False,
    ) -> None:
        before = None if fresh else row.state
        if to is not None:
            row.state = to.value
        session.add(
            TransitionRow(
                alert_id=row.id,
                at=at,
                actor=actor,
                action=action,
                from_state=before if to is not None else None,
                to_state=to.value if to is not None else None,
                severity=severity.value if severity else None,
                note=note,
            )
        )

    def _silences(self, session: Session, subjects: set[str], now: datetime) -> dict[str, datetime]:
        if not subjects:
            return {}
        rows = session.execute(
            select(SilenceRow.subject, SilenceRow.until).where(
                SilenceRow.subject.in_(subjects), SilenceRow.until > now
            )
        ).all()
        result: dict[str, datetime] = {}
        for subject, until in rows:
            result[subject] = max(until, result.get(subject, until))
        return result

    def _event(
        self, session: Session, kind: EventKind, alert_id: int, actor: str, note: str | None
    ) -> AlertEvent:
        row = session.get(AlertRow, alert_id)
        assert row is not None
        now = self._clock.now()
        silence = self._silences(session, {row.subject}, now).get(row.subject)
        return AlertEvent(kind=kind, alert=_public(row, silence), at=now, actor=actor, note=note)

    def _emit(self, events: list[AlertEvent]) -> None:
        if self._sink is None:
            return
        for event in events:
            try:
                self._sink(event)
            except RuntimeError:
                # A sink that is shutting down must not undo a committed transition.
                log.warning("alert event %s of alert %s not dispatched", event.kind, event.alert.id)


def _public(row: AlertRow, silenced_until: datetime | None) -> AlertPublic:
    return AlertPublic(
        id=row.id,
        rule=row.rule,
        subject=row.subject,
        site=row.site,
        room=row.room,
        device=row.device,
        gateway=row.gateway,
        state=AlertState(row.state),
        severity=Severity(row.severity),
        message=Text(zh=row.message_zh, en=row.message_en),
        details=dict(row.details or {}),
        assignee=row.assignee,
        occurrences=row.occurrences,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        since=row.since,
        fired_at=row.fired_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        silenced_until=silenced_until,
        remind_every_s=row.remind_every_s,
    )
