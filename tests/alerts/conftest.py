"""Fixtures of the alert lifecycle tests: a manual clock, a SQLite database, a pipeline."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ingest_server.alerts import AlertEvent, AlertPipeline, AlertService
from ingest_server.db import make_engine
from protocol import ManualClock
from tests.notify.conftest import http_receiver  # noqa: F401 - a shared fixture
from tests.rules.live.factories import T0, engine

# Starlette asks for its httpx2 fork in its test client and warns when it falls back to httpx;
# the fallback works the same for these tests.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import starlette.testclient  # noqa: F401


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    db = make_engine(f"sqlite:///{tmp_path / 'records.db'}")
    yield db
    db.dispose()


@pytest.fixture
def events() -> list[AlertEvent]:
    return []


@pytest.fixture
def service(db: Engine, clock: ManualClock, events: list[AlertEvent]) -> AlertService:
    service = AlertService(db, clock, sink=events.append)
    service.create_tables()
    return service


@pytest.fixture
def pipeline(service: AlertService, clock: ManualClock) -> AlertPipeline:
    return AlertPipeline(engine(), service, clock)
