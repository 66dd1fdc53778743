"""Shared fixtures: real services per session; a guard that turns logged errors into failures."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.services import InfluxDB, Mosquitto, ServiceUnavailable


def _start(factory: Callable[[], Mosquitto | InfluxDB]) -> Mosquitto | InfluxDB:
    # A missing service is a failure everywhere, CI included: scripts/test installs both.
    try:
        service = factory()
        service.start()
    except ServiceUnavailable as exc:
        pytest.fail(f"real service unavailable: {exc}", pytrace=False)
    return service


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real Mosquitto shared by the session; tests use unique topics and must not stop it."""
    broker = _start(lambda: Mosquitto(tmp_path_factory.mktemp("mosquitto")))
    assert isinstance(broker, Mosquitto)
    yield broker
    broker.stop()


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of the test's own, which the test may stop, kill and restart."""
    broker = _start(lambda: Mosquitto(tmp_path / "mosquitto"))
    assert isinstance(broker, Mosquitto)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    """A real influxd shared by the session; tests use their own database."""
    server = _start(lambda: InfluxDB(tmp_path_factory.mktemp("influxd")))
    assert isinstance(server, InfluxDB)
    yield server
    server.stop()


@pytest.fixture
def own_influxdb(tmp_path: Path) -> Iterator[InfluxDB]:
    """An influxd of the test's own, which the test may stop and restart (outage tests)."""
    server = _start(lambda: InfluxDB(tmp_path / "influxd"))
    assert isinstance(server, InfluxDB)
    yield server
    server.stop()


@pytest.fixture
def unique_id() -> str:
    """A short id, unique to this test, usable as a site, gateway or database name."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _fail_on_logged_errors(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """A handler that logs an exception and carries on must still fail the test.

    Tests that provoke errors on purpose mark themselves ``@pytest.mark.allow_error_logs``.
    """
    yield
    if request.node.get_closest_marker("allow_error_logs"):
        return
    errors = [
        r
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.exc_info is not None
    ]
    if errors:
        pytest.fail(
            "exceptions were logged: "
            + "; ".join(f"{r.name}: {r.getMessage()}" for r in errors[:5]),
            pytrace=False,
        )
