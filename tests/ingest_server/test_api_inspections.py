"""The inspection schedule endpoint fed by the inspection log, through the real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest_server import ServerSettings, create_app
from protocol import Channel, channel_topic
from tests.access import sign_in
from tests.ingest_server.conftest import Publisher, wait_for
from tests.ingest_server.factories import batch_payload, smoke_dict
from tests.services import Mosquitto


@pytest.fixture
def client(
    mosquitto: Mosquitto, settings_for: Callable[..., ServerSettings]
) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(mosquitto))) as c:
        sign_in(c)
        wait_for(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        yield c


def _by_item(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["item"], r["subject"]): r for r in rows}


def test_a_patrol_record_and_a_detector_test_complete_their_items(
    client: TestClient, publisher: Publisher, unique_id: str
) -> None:
    due = _by_item(client.get(f"/sites/{unique_id}/inspections/due").json())
    # A new site has done nothing: its daily patrol and its detector's test are never done.
    assert due[("patrol.daily", unique_id)]["status"] == "never_done"
    assert due[("smoke.functional", "smk-1")]["status"] == "never_done"

    now = datetime.now(UTC)
    patrol = {
        "category": "patrol",
        "occurred_at": (now - timedelta(minutes=10)).isoformat(),
        "inspector": "王芳",
        "checklist": {"exits_clear": "pass", "fire_doors_closed": "pass"},
    }
    assert client.post(f"/inspection-log/{unique_id}/records", json=patrol).status_code == 201

    # The detector's test button: TEST readings, written into the log once, as an automatic entry.
    gw = f"{unique_id}-gw"
    readings = [
        smoke_dict(f"t-{i}", "smk-1", now - timedelta(seconds=30 - i), "test") for i in range(3)
    ]
    publisher.publish_all(
        [(channel_topic(unique_id, gw, Channel.READINGS), batch_payload(gw, readings))]
    )

    def test_logged() -> bool:
        entries = client.get(f"/inspection-log/{unique_id}/entries").json()["entries"]
        return any(e["category"] == "test_mode_alarm" for e in entries)

    wait_for(test_logged, 10, "the detector test in the inspection log")
    entries = client.get(f"/inspection-log/{unique_id}/entries").json()["entries"]
    assert [e["category"] for e in entries].count("test_mode_alarm") == 1

    every = _by_item(
        client.get(f"/sites/{unique_id}/inspections/due", params={"all": "true"}).json()
    )
    assert every[("patrol.daily", unique_id)]["status"] == "ok"
    assert every[("smoke.functional", "smk-1")]["status"] == "ok"
    assert every[("smoke.functional", "smk-1")]["last_source"] == "automatic"
    # The log verifies after all that.
    assert client.get(f"/inspection-log/{unique_id}/verify").json()["ok"] is True
    assert client.get("/sites/nope/inspections/due").status_code == 404
