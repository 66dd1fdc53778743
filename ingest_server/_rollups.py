"""Scheduled utilization work: daily rollups per room, function and site, and the findings
(under-used functions, staggered-use candidates, counter drift) over the pack's window.

Both are stored in the records database (``utilization_daily``, ``utilization_findings``) so the
dashboards and the quarterly report read them without recomputing months of telemetry. The job
is idempotent and catches up: each run fills the local days missing up to yesterday.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Date, Engine, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from ingest_server._occupancy import room_series
from ingest_server._tables import UtcDateTime
from ingest_server.db import Base
from ingest_server.store import TimeSeriesStore
from protocol import Clock
from rules import Registry, Site, daily_rollups, load_pack, utilization_report

__all__ = ["RUN_EVERY_S", "FindingsRow", "RollupRow", "Rollups"]

# A new site (or a server that was down) gets at most a week filled in at once.
BACKFILL_DAYS = 7
# Hourly in clock time: a day's rollup lands within the hour after local midnight.
RUN_EVERY_S = 3600.0


class RollupRow(Base):
    """One room, function or site on one local day (``data``: ``rules.DailyRollup``)."""

    __tablename__ = "utilization_daily"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class FindingsRow(Base):
    """The latest findings of a site over the window ending at ``window_end``."""

    __tablename__ = "utilization_findings"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class Rollups:
    """Computes and stores daily rollups and findings for every registry site."""

    def __init__(
        self,
        engine: Engine,
        store: TimeSeriesStore,
        registry: Callable[[], Registry],
        clock: Clock,
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._store = store
        self._registry = registry
        self._clock = clock

    def run(self) -> int:
        """Fill the missing days up to yesterday and refresh stale findings; rows written."""
        written = 0
        now = self._clock.now()
        for site in self._registry().sites:
            today = now.astimezone(ZoneInfo(site.timezone)).date()
            for day in self._missing_days(site.id, today):
                written += self._roll_day(site, day)
            written += self._refresh_findings(site, today)
        return written

    def _missing_days(self, site: str, today: date) -> list[date]:
        with self._sessions() as session:
            last = session.scalar(
                select(RollupRow.day)
                .where(RollupRow.site == site)
                .order_by(RollupRow.day.desc())
                .limit(1)
            )
        first = today - timedelta(days=BACKFILL_DAYS)
        if last is not None:
            first = max(first, last + timedelta(days=1))
        return [first + timedelta(days=n) for n in range((today - first).days)]

    def _roll_day(self, site: Site, day: date) -> int:
        zone = ZoneInfo(site.timezone)
        start = datetime.combine(day, time(0), zone)
        end = start + timedelta(days=1)
        rows = daily_rollups(site, room_series(self._store, site, start, end), day=day)
        with self._sessions.begin() as session:
            session.execute(
                delete(RollupRow).where(RollupRow.site == site.id, RollupRow.day == day)
            )
            session.add_all(
                RollupRow(
                    site=site.id,
                    day=day,
                    level=r.level,
                    entity=r.id,
                    capacity=r.capacity,
                    data=r.model_dump(mode="json"),
                )
                for r in rows
            )
        return len(rows)

    def _refresh_findings(self, site: Site, today: date) -> int:
        zone = ZoneInfo(site.timezone)
        with self._sessions() as session:
            row = session.get(FindingsRow, site.id)
        if row is not None and row.window_end.astimezone(zone).date() >= today:
            return 0
        pack = load_pack(site.jurisdiction)
        end = datetime.combine(today, time(0), zone)
        start = end - timedelta(days=pack.utilization.underuse_window_days)
        report = utilization_report(
            site, room_series(self._store, site, start, end), start=start, end=end, pack=pack
        )
        data = report.model_dump(
            mode="json", include={"underused", "underuse_unknown", "complementary", "drift"}
        )
        with self._sessions.begin() as session:
            session.merge(
                FindingsRow(
                    site=site.id,
                    computed_at=self._clock.now(),
                    window_start=start,
                    window_end=end,
                    data=data,
                )
            )
        return 1

    def daily(self, site: str, first: date, last: date) -> list[dict[str, Any]]:
        """Stored rollup rows of ``site`` from ``first`` to ``last`` (inclusive)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(RollupRow)
                .where(RollupRow.site == site, RollupRow.day >= first, RollupRow.day <= last)
                .order_by(RollupRow.day, RollupRow.level, RollupRow.entity)
            ).all()
        return [r.data for r in rows]

    def findings(self, site: str) -> dict[str, Any] | None:
        """The latest stored findings of ``site``, with their window."""
        with self._sessions() as session:
            row = session.get(FindingsRow, site)
        if row is None:
            return None
        return {
            "site": site,
            "computed_at": row.computed_at.isoformat(),
            "window_start": row.window_start.isoformat(),
            "window_end": row.window_end.isoformat(),
            **row.data,
        }
