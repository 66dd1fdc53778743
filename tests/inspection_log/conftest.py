"""Fixtures of the inspection-log tests: a records database per test, a manual clock, a log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ingest_server.db import make_engine
from ingest_server.inspection_log import (
    AlarmAcknowledged,
    AlarmRaised,
    Category,
    CjkFont,
    DetectorSelfTest,
    HeadSigner,
    InspectionLog,
    NewEntry,
    find_cjk_font,
    load_font,
)
from protocol import ManualClock

KEY = b"k" * 16 + b"0123456789abcdef"
SITE_NAME = "阳光社区嵌入式服务中心"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 0, 0, tzinfo=UTC))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "records.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{db_path}")
    yield eng
    eng.dispose()


@pytest.fixture
def signer() -> HeadSigner:
    return HeadSigner(KEY, "test-key")


@pytest.fixture
def log(engine: Engine, clock: ManualClock, signer: HeadSigner) -> InspectionLog:
    inspection = InspectionLog(engine, clock, signer=signer)
    inspection.create_tables()
    return inspection


@pytest.fixture(scope="session")
def font() -> CjkFont:
    # Parsing the font takes seconds; one per session.
    return load_font(find_cjk_font())


def sample(i: int, when: datetime) -> NewEntry:
    """The ``i``-th of a cycle of automatic entries: alarm, acknowledgement, self-test."""
    kind = i % 3
    if kind == 0:
        return NewEntry(
            Category.ALARM_RAISED,
            AlarmRaised(
                alert_id=f"a{i}", rule="smoke.alarm", severity="critical", room="r1", device="s1"
            ),
            "rules",
            when,
        )
    if kind == 1:
        return NewEntry(
            Category.ALARM_ACKNOWLEDGED,
            AlarmAcknowledged(alert_id=f"a{i - 1}", by="值班员王芳", response_seconds=42.5),
            "王芳",
            when,
        )
    return NewEntry(
        Category.DETECTOR_SELF_TEST,
        DetectorSelfTest(device="smoke-1", room="r1", result="pass"),
        "gateway",
        when,
    )


def fill(log: InspectionLog, clock: ManualClock, site: str, n: int, step_s: float = 60) -> None:
    """``n`` automatic entries ``step_s`` apart, appended one by one."""
    for i in range(n):
        clock.advance(step_s)
        item = sample(i, clock.now())
        log.append(site, item.category, item.payload, item.actor)
