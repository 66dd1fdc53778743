"""The alert router mounted on a small FastAPI app, through TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ingest_server.alerts import AlertPipeline, AlertService
from ingest_server.alerts.api import router
from protocol import DoorState, ManualClock
from tests.rules.live.factories import door


@pytest.fixture
def client(service: AlertService) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.alert_service = service
    app.include_router(router)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def firing_id(pipeline: AlertPipeline, clock: ManualClock, service: AlertService) -> int:
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    clock.advance(60)
    pipeline.tick()
    [alert] = service.list_alerts(rule="door.held_open")
    return alert.id


def test_list_get_acknowledge_assign_note_resolve(client: TestClient, firing_id: int) -> None:
    listed = client.get("/alerts", params={"state": "firing", "site": "s1"})
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [firing_id]
    assert listed.json()[0]["message"]["zh"].endswith("被长时间开启")

    ack = client.post(f"/alerts/{firing_id}/acknowledge", json={"actor": "王值班"})
    assert ack.status_code == 200
    assert ack.json()["state"] == "acknowledged"
    assigned = client.post(f"/alerts/{firing_id}/assign", json={"actor": "王", "assignee": "李"})
    assert assigned.json()["assignee"] == "李"
    assert client.post(f"/alerts/{firing_id}/notes", json={"actor": "李", "text": "ok"}).is_success
    done = client.post(f"/alerts/{firing_id}/resolve", json={"actor": "李", "note": "closed"})
    assert done.json()["state"] == "resolved"

    detail = client.get(f"/alerts/{firing_id}").json()
    assert [h["action"] for h in detail["history"]] == [
        "pending",
        "fired",
        "acknowledged",
        "assigned",
        "note",
        "resolved",
    ]
    assert detail["history"][-1]["actor"] == "李"
    assert detail["history"][-1]["note"] == "closed"


def test_silence(client: TestClient, firing_id: int) -> None:
    answer = client.post(
        f"/alerts/{firing_id}/silence", json={"actor": "a", "duration_s": 600, "reason": "drill"}
    )
    assert answer.status_code == 200
    assert answer.json()["silenced_until"] is not None
    too_long = client.post(f"/alerts/{firing_id}/silence", json={"actor": "a", "duration_s": 1e6})
    assert too_long.status_code == 422
    assert "at most 43200 s" in too_long.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/alerts/999/acknowledge", {"actor": "a"}, 404, "no alert 999"),
        ("/alerts/{id}/resolve", {"actor": "a"}, 422, "note"),
        ("/alerts/{id}/resolve", {"actor": "a", "note": "   "}, 422, "needs a note"),
        ("/alerts/{id}/acknowledge", {"actor": ""}, 422, "actor"),
        ("/alerts/{id}/acknowledge", {"actor": "a", "extra": 1}, 422, "extra"),
        ("/alerts/{id}/silence", {"actor": "a", "duration_s": -5}, 422, "duration_s"),
    ],
)
def test_bad_requests_say_why(
    client: TestClient, firing_id: int, path: str, body: dict[str, object], status: int, reason: str
) -> None:
    answer = client.post(path.format(id=firing_id), json=body)
    assert answer.status_code == status
    assert reason in str(answer.json()["detail"])


def test_conflicts_are_409(client: TestClient, firing_id: int) -> None:
    client.post(f"/alerts/{firing_id}/acknowledge", json={"actor": "a"})
    again = client.post(f"/alerts/{firing_id}/acknowledge", json={"actor": "a"})
    assert again.status_code == 409
    assert "only a firing alert" in again.json()["detail"]


def test_unknown_alert_and_bad_filters(client: TestClient) -> None:
    assert client.get("/alerts/12345").status_code == 404
    assert client.get("/alerts", params={"state": "on_fire"}).status_code == 422
    assert client.get("/alerts", params={"limit": 0}).status_code == 422
    assert client.get("/alerts/channels").json() == {}


def test_without_a_service_the_router_answers_503() -> None:
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/alerts").status_code == 503
        assert client.get("/alerts/stream").status_code == 503
