"""Compliance and utilization endpoints over the real server and store (real Mosquitto)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from ingest_server import ServerSettings, create_app
from protocol import Channel, channel_topic
from tests.ingest_server.conftest import Publisher, wait_for
from tests.ingest_server.factories import batch_payload, occupancy_dict
from tests.services import Mosquitto


@pytest.fixture
def client(
    mosquitto: Mosquitto, settings_for: Callable[..., ServerSettings]
) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(mosquitto))) as c:
        wait_for(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        yield c


def test_compliance_of_a_registry_site(client: TestClient, unique_id: str) -> None:
    report = client.get(f"/sites/{unique_id}/compliance").json()
    assert report["site"] == unique_id
    assert report["pack"] == "national"
    by_norm = {r["norm"]: r for r in report["results"]}
    # Its infant-care room is on floor 2: the floor limit passes.
    assert by_norm["infant.floor"]["status"] == "pass"
    assert by_norm["infant.floor"]["measured"] == 2
    # Rooms add up to 320 m² for 3,000 households, but the centre's total floor area is not
    # recorded: the norm is unknown, never a pass and never a false fail.
    assert by_norm["area.per_households"]["status"] == "unknown"
    # No elderly-care rooms: their limits do not apply.
    assert by_norm["elderly.basement"]["status"] == "not_applicable"
    assert by_norm["infant.floor"]["source"]["article_zh"]
    assert client.get("/sites/nope/compliance").status_code == 404


def test_utilization_from_stored_occupancy(
    client: TestClient, publisher: Publisher, unique_id: str
) -> None:
    gw = f"{unique_id}-gw"
    now = datetime.now(UTC)
    t0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    # Six people in the infant-care room (12 places) for one hour, sampled every 5 minutes.
    readings = [
        occupancy_dict(f"u-{i}", "pres-1", t0 + timedelta(minutes=5 * i), 6 if i < 12 else 0)
        for i in range(13)
    ]
    publisher.publish_all(
        [(channel_topic(unique_id, gw, Channel.READINGS), batch_payload(gw, readings))]
    )
    start, end = t0.isoformat(), (t0 + timedelta(hours=2)).isoformat()
    wait_for(
        lambda: (
            len(
                client.get(
                    "/readings", params={"device": "pres-1", "start": start, "end": end}
                ).json()
            )
            == 13
        ),
        10,
        "13 readings",
    )
    report = client.get(
        f"/sites/{unique_id}/utilization", params={"start": start, "end": end}
    ).json()
    room = next(b for b in report["rooms"] if b["id"] == "r1")
    assert room["capacity"] == 12
    assert room["capacities"][0]["basis"] == "places"
    assert room["summary"]["peak"] == 6
    assert room["summary"]["person_hours"] == pytest.approx(6.0)
    # Capacity-hours count only time covered by data: the hour of samples plus the last
    # sample's 15-minute hold, so 6 person-hours of 12 × 1.25 capacity-hours.
    assert room["summary"]["data_hours"] == pytest.approx(1.25)
    assert room["summary"]["utilisation_rate"] == pytest.approx(0.4)
    assert "r2" in report["no_data"]

    too_long = client.get(
        f"/sites/{unique_id}/utilization",
        params={"start": start, "end": (t0 + timedelta(days=200)).isoformat()},
    )
    assert too_long.status_code == 422
    assert "longer than" in too_long.json()["detail"]
    bad_room = client.get(
        f"/sites/{unique_id}/utilization", params={"start": start, "end": end, "rooms": ["r9"]}
    )
    assert bad_room.status_code == 422


def test_daily_rollups_and_findings_are_computed_by_the_job_and_served(
    client: TestClient, publisher: Publisher, unique_id: str
) -> None:
    gw = f"{unique_id}-gw"
    zone = ZoneInfo("Asia/Shanghai")
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    t0 = datetime.combine(yesterday, time(10, 0), zone)
    # Yesterday 10:00–11:00 local: four people in the infant-care room.
    readings = [
        occupancy_dict(f"d-{i}", "pres-1", t0 + timedelta(minutes=5 * i), 4 if i < 12 else 0)
        for i in range(13)
    ]
    publisher.publish_all(
        [(channel_topic(unique_id, gw, Channel.READINGS), batch_payload(gw, readings))]
    )
    window = {
        "device": "pres-1",
        "start": t0.isoformat(),
        "end": (t0 + timedelta(hours=2)).isoformat(),
    }
    wait_for(lambda: len(client.get("/readings", params=window).json()) == 13, 10, "13 readings")

    assert client.get(f"/sites/{unique_id}/findings").status_code == 404
    assert client.app.state.scheduler.get_job("utilization.rollups") is not None  # type: ignore[attr-defined]
    assert client.app.state.rollups.run() > 0  # type: ignore[attr-defined]
    assert client.app.state.rollups.run() == 0  # type: ignore[attr-defined]  # idempotent

    rows = client.get(
        f"/sites/{unique_id}/utilization/daily",
        params={"first": yesterday.isoformat(), "last": yesterday.isoformat()},
    ).json()
    room = next(r for r in rows if r["level"] == "room" and r["id"] == "r1")
    assert room["day"] == yesterday.isoformat()
    assert room["capacity"] == 12
    assert room["stats"]["person_hours"] == pytest.approx(4.0)
    assert room["stats"]["peak"] == 4

    findings = client.get(f"/sites/{unique_id}/findings").json()
    assert findings["site"] == unique_id
    assert {"underused", "complementary", "drift"} <= set(findings)
    bad = client.get(
        f"/sites/{unique_id}/utilization/daily",
        params={"first": "2026-02-01", "last": "2026-01-01"},
    )
    assert bad.status_code == 422
