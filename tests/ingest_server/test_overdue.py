"""An inspection item that falls overdue raises an alert and a log entry; doing it resolves it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ingest_server import ServerSettings, create_app
from protocol import ManualClock
from tests.ingest_server.conftest import wait_for
from tests.services import Mosquitto


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def client(
    mosquitto: Mosquitto, settings_for: Callable[..., ServerSettings], clock: ManualClock
) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(mosquitto), clock=clock)) as c:
        wait_for(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        yield c


def _patrol(when: datetime) -> dict[str, object]:
    return {
        "category": "patrol",
        "occurred_at": when.isoformat(),
        "inspector": "王芳",
        "checklist": {"exits_clear": "pass", "fire_doors_closed": "pass"},
    }


def test_overdue_patrol_raises_an_alert_and_a_log_entry_until_done(
    client: TestClient, clock: ManualClock, unique_id: str
) -> None:
    site = unique_id
    overdue = client.app.state.overdue  # type: ignore[attr-defined]
    # The server runs the check on its own, hourly in clock time; the test calls it directly.
    assert client.app.state.scheduler.get_job("inspections.overdue") is not None  # type: ignore[attr-defined]
    assert (
        client.post(
            f"/inspection-log/{site}/records", json=_patrol(clock.now() - timedelta(hours=1))
        ).status_code
        == 201
    )
    overdue.check()

    def open_overdue() -> list[dict[str, object]]:
        return [
            a
            for a in client.get("/alerts", params={"site": site}).json()
            if a["rule"] == "inspection.overdue" and a["state"] != "resolved"
        ]

    assert open_overdue() == []

    clock.advance(timedelta(days=2))
    overdue.check()
    [alert] = open_overdue()
    assert alert["subject"] == f"{site}/patrol.daily/{site}"
    assert alert["severity"] == "minor"
    assert alert["message"]["zh"].startswith("每日防火巡查")
    overdue.check()  # a second check changes nothing
    assert len(open_overdue()) == 1

    entries = client.get(
        f"/inspection-log/{site}/entries", params={"category": "inspection_overdue"}
    ).json()["entries"]
    assert [e["payload"]["item"] for e in entries] == ["patrol.daily"]

    assert (
        client.post(
            f"/inspection-log/{site}/records", json=_patrol(clock.now() - timedelta(minutes=5))
        ).status_code
        == 201
    )
    overdue.check()
    assert open_overdue() == []
    resolved = client.get(f"/alerts/{alert['id']}").json()
    assert resolved["state"] == "resolved"
    assert client.get(f"/inspection-log/{site}/verify").json()["ok"] is True
