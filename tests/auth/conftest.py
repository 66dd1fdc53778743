"""A server with two sites, an alert at the first, and one user per role at each site."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest_server import ServerSettings, create_app
from ingest_server.inspection_log import InspectionSettings
from protocol import DoorReading, DoorRole, DoorState, ManualClock
from tests.access import ADMIN, access_settings, sign_in
from tests.services import Mosquitto

PASSWORD = "matrix-user-password"
ROLES = ("operator", "manager", "inspector", "admin")

REGISTRY = """
sites:
  - id: {a}
    name: 甲社区
    households: 3000
    rooms:
      - {{id: ra, name: 托育室, function: infant_care, floor: 2, area_m2: 120, places: 12}}
    gateways:
      - id: {a}-gw
        devices:
          - {{id: {a}-door, kind: door, role: fire_door, room: ra}}
          - {{id: {a}-smk, kind: smoke, room: ra}}
  - id: {b}
    name: 乙社区
    households: 2000
    rooms:
      - {{id: rb, name: 食堂, function: dining, floor: 1, area_m2: 200}}
    gateways:
      - id: {b}-gw
        devices:
          - {{id: {b}-smk, kind: smoke, room: rb}}
"""


@dataclass
class Deployment:
    client: TestClient  # no credentials of its own: every call names its user
    clock: ManualClock
    a: str
    b: str
    alert_id: int
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> bearer token

    def headers(self, username: str | None) -> dict[str, str]:
        """Headers of ``username`` (None: anonymous)."""
        return {} if username is None else {"Authorization": f"Bearer {self.tokens[username]}"}

    def call(self, username: str | None, method: str, url: str, **kw: Any) -> Any:
        self.client.cookies.clear()
        headers = self.headers(username) | kw.pop("headers", {})
        return self.client.request(method, url, headers=headers, **kw)

    def admin(self, method: str, url: str, **kw: Any) -> Any:
        return self.call(ADMIN, method, url, **kw)


@pytest.fixture(scope="module")
def deployment(
    mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    uid = "m" + uuid.uuid4().hex[:8]
    a, b = f"{uid}a", f"{uid}b"
    tmp: Path = tmp_path_factory.mktemp("auth")
    registry = tmp / "registry.yaml"
    registry.write_text(REGISTRY.format(a=a, b=b), encoding="utf-8")
    settings = ServerSettings(  # type: ignore[call-arg]
        _env_file=None,
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        mqtt_client_id=f"srv-{uid}",
        mqtt_site=a,
        records_url=f"sqlite:///{tmp / 'records.db'}",
        sqlite_path=tmp / "telemetry.db",
        influx_spool_path=tmp / "spool.db",
        registry_path=registry,
        http_port=0,
        **access_settings(),
    )
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    inspection = InspectionSettings(  # type: ignore[call-arg]
        _env_file=None, reports_dir=tmp / "reports", signing_key="matrix-signing-key-" * 3
    )
    with TestClient(create_app(settings, clock=clock, inspection=inspection)) as client:
        token = sign_in(client)
        pipeline = client.app.state.alert_pipeline  # type: ignore[attr-defined]
        pipeline.on_reading(
            DoorReading(
                id="m-1",
                device=f"{a}-door",
                ts=clock.now(),
                state=DoorState.OPEN,
                role=DoorRole.FIRE_DOOR,
            )
        )
        clock.advance(180)
        pipeline.tick()
        [alert] = [x for x in client.get("/alerts", params={"site": a}).json()]
        d = Deployment(client, clock, a, b, alert["id"])
        # Users of A also hold the spare site A "x" that the site-deletion case deletes.
        for sites, suffix in (([a, f"{a}x"], "a"), ([b], "b")):
            for role in ROLES:
                name = f"{role}-{suffix}"
                body = {"username": name, "password": PASSWORD, "role": role, "sites": sites}
                assert client.post("/users", json=body).status_code == 201
                response = client.post("/auth/login", json={"username": name, "password": PASSWORD})
                d.tokens[name] = response.json()["token"]
        client.cookies.clear()
        del client.headers["Authorization"]
        d.tokens[ADMIN] = token
        yield d


def window(clock: ManualClock, hours: int = 24) -> dict[str, str]:
    now = clock.now()
    return {
        "start": (now - timedelta(hours=hours)).isoformat(),
        "end": (now + timedelta(minutes=1)).isoformat(),
    }
