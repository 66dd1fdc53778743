"""The HTTP API through FastAPI's TestClient (lifespan running, real Mosquitto)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ingest_server import ServerSettings, create_app
from protocol import Channel, channel_topic
from tests.access import sign_in
from tests.ingest_server.conftest import Publisher, wait_for
from tests.ingest_server.factories import batch_payload, occupancy_dict, smoke_dict
from tests.services import Mosquitto


@pytest.fixture
def settings(mosquitto: Mosquitto, settings_for: Callable[..., ServerSettings]) -> ServerSettings:
    return settings_for(mosquitto)


@pytest.fixture
def client(settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        sign_in(c)
        wait_for(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        yield c


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["checks"] == {"broker": True, "store": True, "records": True}
    text = client.get("/metrics").text
    for name in (
        "linli_ingest_messages_total",
        "linli_ingest_stored_total",
        "linli_ingest_duplicates_total",
        "linli_ingest_dead_letters_total",
        "linli_ingest_queue_depth",
        "linli_ingest_store_write_seconds_bucket",
    ):
        assert name in text
    assert client.app.state.scheduler.running  # type: ignore[attr-defined]
    paths = client.get("/openapi.json").json()["paths"]
    assert "/sites/{site_id}/rooms/{room_id}/occupancy" in paths
    assert "/dead-letters" in paths


def test_registry_loaded_from_yaml_and_edited(unique_id: str, settings: ServerSettings) -> None:
    with TestClient(create_app(settings)) as client:
        sign_in(client)
        _edit_registry(client, unique_id)
    # The changes are durable: a restarted app sees them.
    with TestClient(create_app(settings)) as again:
        sign_in(again)
        assert again.get("/sites/s-new/rooms/baby").json()["floor"] == 5
        assert again.get("/devices/smk-new").status_code == 200


def _edit_registry(client: TestClient, unique_id: str) -> None:
    sites = client.get("/sites").json()
    assert sites["total"] == 1
    assert sites["items"][0]["id"] == unique_id
    assert [r["id"] for r in client.get(f"/sites/{unique_id}/rooms").json()] == ["r1", "r2"]

    new = {"id": "s-new", "name": "新站点", "households": 1200}
    assert client.post("/sites", json=new).status_code == 201
    assert client.post("/sites", json=new).status_code == 409
    # An infant-care room on floor 5 is accepted (compliance rules flag it, not the registry).
    room = {"id": "baby", "name": "托育室", "function": "infant_care", "floor": 5}
    assert client.post("/sites/s-new/rooms", json=room).status_code == 201
    bad = client.post("/sites/s-new/rooms", json={**room, "id": "x", "function": "casino"})
    assert bad.status_code == 422
    assert "function" in str(bad.json()["detail"])
    assert client.post("/sites/nope/rooms", json=room).status_code == 404

    gw = {"id": "gw-new"}
    assert client.post("/sites/s-new/gateways", json=gw).status_code == 201
    dev = {"id": "smk-new", "kind": "smoke", "room": "baby"}
    assert client.post("/gateways/gw-new/devices", json=dev).status_code == 201
    stray = client.post("/gateways/gw-new/devices", json={**dev, "id": "d2", "room": "r1"})
    assert stray.status_code == 422
    assert "does not have" in stray.json()["detail"]
    # A room that a device is placed in cannot go away.
    assert client.delete("/sites/s-new/rooms/baby").status_code == 422
    assert client.delete("/sites/s-new").status_code == 409
    assert client.get("/devices/smk-new").json()["gateway"] == "gw-new"
    assert client.get("/devices", params={"site": "s-new"}).json()["total"] == 1
    door = {"id": "door-x", "kind": "door"}
    assert client.post("/gateways/gw-new/devices", json=door).status_code == 422


def test_series_latest_occupancy_and_dead_letters(
    client: TestClient, publisher: Publisher, unique_id: str
) -> None:
    gw = f"{unique_id}-gw"
    topic = channel_topic(unique_id, gw, Channel.READINGS)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    readings = [occupancy_dict(f"o-{i}", "pres-1", t0 + timedelta(minutes=i), i) for i in range(10)]
    readings.append(smoke_dict("s-1", "smk-1", t0, "alarm"))
    publisher.publish_all([(topic, batch_payload(gw, readings)), (topic, b"[]")])
    start, end = t0.isoformat(), (t0 + timedelta(hours=1)).isoformat()
    wait_for(
        lambda: (
            len(
                client.get(
                    "/readings", params={"device": "pres-1", "start": start, "end": end}
                ).json()
            )
            == 10
        ),
        10,
        "ten readings",
    )
    series = client.get("/readings", params={"device": "smk-1", "start": start, "end": end}).json()
    assert series[0]["fields"]["state"] == "alarm"
    assert series[0]["room"] == "r1"
    latest = client.get("/latest", params={"site": unique_id}).json()
    assert {(r["device"], r["id"]) for r in latest} == {("pres-1", "o-9"), ("smk-1", "s-1")}
    occ = client.get(
        f"/sites/{unique_id}/rooms/r1/occupancy",
        params={"start": start, "end": end, "step": 3600},
    ).json()
    assert sum(b["samples"] for b in occ) == 10
    assert max(b["max_count"] for b in occ) == 9

    wait_for(lambda: client.get("/dead-letters").json()["total"] == 1, 10, "the dead letter")
    letter = client.get("/dead-letters", params={"reason": "not_json"}).json()["items"][0]
    assert letter["payload_text"] == "[]"
    assert letter["topic"] == topic
    assert client.get("/dead-letters/reasons").json() == {"not_json": 1}
    gateways = client.get("/gateways", params={"site": unique_id}).json()
    assert gateways[0]["id"] == gw


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        (
            "/readings",
            {"device": "d", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "after start",
        ),
        (
            "/readings",
            {"device": "d", "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
            "longer",
        ),
        (
            "/readings",
            {"device": "d", "start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00Z"},
            "timezone",
        ),
        (
            "/readings",
            {"device": "a/b", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
            "pattern",
        ),
        (
            "/sites/s/rooms/r/occupancy",
            {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "step": 1},
            "greater",
        ),
        (
            "/sites/s/rooms/r/occupancy",
            {"start": "2025-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "step": 60},
            "buckets",
        ),
        ("/dead-letters", {"limit": 5000}, "less than"),
    ],
)
def test_bad_requests_get_422_with_a_reason(
    client: TestClient, path: str, params: dict[str, object], needle: str
) -> None:
    resp = client.get(path, params=params)
    assert resp.status_code == 422
    assert needle in str(resp.json()["detail"])


def test_readyz_says_which_dependency_is_down(
    own_mosquitto: Mosquitto, settings_for: Callable[..., ServerSettings]
) -> None:
    with TestClient(create_app(settings_for(own_mosquitto))) as client:
        sign_in(client)
        wait_for(lambda: client.get("/readyz").status_code == 200, 10, "readiness")
        own_mosquitto.stop()
        wait_for(lambda: client.get("/readyz").status_code == 503, 10, "unreadiness")
        assert client.get("/readyz").json()["checks"]["broker"] is False
        assert client.get("/healthz").status_code == 200
        own_mosquitto.start()
        wait_for(lambda: client.get("/readyz").status_code == 200, 30, "readiness again")
