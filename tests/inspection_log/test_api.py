"""The HTTP router, mounted on a bare FastAPI app as the server will mount it."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine

from ingest_server.inspection_log import InspectionService, InspectionSettings
from ingest_server.inspection_log.api import router
from protocol import ManualClock
from tests.inspection_log.conftest import KEY, SITE_NAME, fill


@pytest.fixture
def service(
    engine: Engine, clock: ManualClock, tmp_path: Path, unique_id: str
) -> InspectionService:
    settings = InspectionSettings(
        signing_key=SecretStr(KEY.decode()),
        signing_key_id="test-key",
        reports_dir=tmp_path / "reports",
        _env_file=None,  # type: ignore[call-arg]
    )
    built = InspectionService.build(settings, engine, clock, site_names={unique_id: SITE_NAME})
    built.log.create_tables()
    return built


@pytest.fixture
async def client(service: InspectionService) -> AsyncIterator[httpx.AsyncClient]:
    # httpx's ASGI transport, not starlette's TestClient: the router needs no lifespan.
    app = FastAPI()
    app.include_router(router)
    app.state.inspection = service
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as c:
        yield c


def _patrol(clock: ManualClock, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "category": "periodic_check",
        "occurred_at": (clock.now() - timedelta(hours=1)).isoformat(),
        "inspector": "李明",
        "checklist": {"fire_facilities": "pass", "electrical_system": "fail"},
        "remarks": "配电箱未上锁",
    }
    body.update(changes)
    return body


async def test_manual_records_are_created_or_refused_with_the_field(
    client: httpx.AsyncClient, clock: ManualClock, unique_id: str
) -> None:
    created = await client.post(f"/inspection-log/{unique_id}/records", json=_patrol(clock))
    assert created.status_code == 201, created.text
    assert created.json()["seq"] == 1
    assert created.json()["actor"] == "李明"

    future = (clock.now() + timedelta(days=1)).isoformat()
    for body, field in (
        (_patrol(clock, occurred_at=future), "occurred_at"),
        (_patrol(clock, checklist={"moon_phase": "pass"}), "checklist.moon_phase"),
        ({k: v for k, v in _patrol(clock).items() if k != "inspector"}, "inspector"),
    ):
        refused = await client.post(f"/inspection-log/{unique_id}/records", json=body)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["field"] == field

    page = (await client.get(f"/inspection-log/{unique_id}/entries")).json()
    assert [e["seq"] for e in page["entries"]] == [1]


async def test_corrections_verification_and_signed_head(
    client: httpx.AsyncClient, service: InspectionService, clock: ManualClock, unique_id: str
) -> None:
    fill(service.log, clock, unique_id, 3)
    fixed = await client.post(
        f"/inspection-log/{unique_id}/corrections",
        json={"corrects_seq": 2, "reason": "响应人记录有误", "actor": "李主任"},
    )
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["payload"]["corrects_seq"] == 2
    missing = await client.post(
        f"/inspection-log/{unique_id}/corrections", json={"corrects_seq": 2}
    )
    assert missing.json()["detail"][0]["field"] == "reason"

    report = (await client.get(f"/inspection-log/{unique_id}/verify")).json()
    assert report["ok"] is True
    assert report["sites"][unique_id]["last_seq"] == 4

    head = (await client.get(f"/inspection-log/{unique_id}/head")).json()
    assert head["seq"] == 4
    assert head["alg"] == "HMAC-SHA256"

    export = await client.get(
        "/inspection-log/export", params={"site": unique_id, "format": "json"}
    )
    verdict = (
        await client.post(
            "/inspection-log/extends", json={"head": head, "export": json.loads(export.content)}
        )
    ).json()
    assert verdict["extends"] is True, verdict
    head["seq"] = 3
    verdict = (
        await client.post(
            "/inspection-log/extends", json={"head": head, "export": json.loads(export.content)}
        )
    ).json()
    assert verdict["extends"] is False


async def test_exports_stream_with_type_and_file_name(
    client: httpx.AsyncClient, service: InspectionService, clock: ManualClock, unique_id: str
) -> None:
    fill(service.log, clock, unique_id, 5)
    day = clock.now().astimezone(service.settings.zone()).date().isoformat()
    params = {"site": unique_id, "from": day, "to": day, "format": "csv", "lang": "zh"}
    response = await client.get("/inspection-log/export", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert unique_id in disposition
    assert disposition.endswith('.csv"')
    assert response.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 6

    filtered = await client.get(
        "/inspection-log/export",
        params={**params, "category": ["alarm_raised"], "format": "json"},
    )
    assert filtered.headers["content-type"] == "application/json"
    document = json.loads(filtered.content)
    assert [e["seq"] for e in document["entries"] if not e.get("link")] == [1, 4]
    checked = (await client.post("/inspection-log/verify-export", content=filtered.content)).json()
    assert checked["ok"] is True

    pdf = await client.get("/inspection-log/export", params={**params, "format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.content.rstrip().endswith(b"%%EOF")

    bad = await client.get("/inspection-log/export", params={**params, "category": ["nope"]})
    assert bad.status_code == 422


async def test_reports_on_demand_are_kept_and_served(
    client: httpx.AsyncClient, service: InspectionService, clock: ManualClock, unique_id: str
) -> None:
    fill(service.log, clock, unique_id, 6)
    made = await client.post(
        f"/inspection-log/{unique_id}/reports/monthly", params={"day": "2026-01-10"}
    )
    assert made.status_code == 200, made.text
    assert made.json()["name"] == "monthly-2026-01.zh.pdf"
    listing = (await client.get(f"/inspection-log/{unique_id}/reports")).json()
    assert listing["reports"] == ["monthly-2026-01.zh.pdf"]
    got = await client.get(made.json()["url"])
    assert got.headers["content-type"] == "application/pdf"
    assert got.content.startswith(b"%PDF-")
    escape = await client.get(f"/inspection-log/{unique_id}/reports/..%2F..%2Fsecret.pdf")
    assert escape.status_code == 404


async def test_signing_needs_a_configured_key(
    engine: Engine, clock: ManualClock, tmp_path: Path, unique_id: str
) -> None:
    settings = InspectionSettings(reports_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    app = FastAPI()
    app.include_router(router)
    app.state.inspection = InspectionService.build(settings, engine, clock)
    app.state.inspection.log.create_tables()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as c:
        response = await c.get(f"/inspection-log/{unique_id}/head")
    assert response.status_code == 503
    assert "LINLI_INSPECTION_SIGNING_KEY" in response.text


def test_settings_refuse_weak_signing_keys() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        InspectionSettings(signing_key=SecretStr("change-me"), _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        InspectionSettings(signing_key=SecretStr("short"), _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="1827"):
        InspectionSettings(test_retention_days=400, _env_file=None)  # type: ignore[call-arg]
