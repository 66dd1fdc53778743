"""In-memory stand-ins for the alert and inspection services' HTTP contracts, so the console
and the inspections page are tested against those contracts while the real services are built
elsewhere:

``GET /alerts?site=&severity=&state=``, ``POST /alerts/{id}/ack|assign|resolve`` with
``{by, note, assignee}``, ``GET /alerts/{id}/history``, ``GET /alerts/stream`` (SSE ``alert``).
Tests raise alerts with ``POST /test/alerts``.

``GET /sites/{id}/inspections/due``, ``GET|POST /sites/{id}/inspection-log``,
``GET /sites/{id}/inspection-log/export?format=csv|json|pdf&start&end``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel


class Alert(BaseModel):
    id: str
    rule: str
    subject: str
    site: str
    severity: Literal["critical", "major", "minor", "warning"]
    state: Literal["pending", "firing", "acknowledged", "resolved"] = "firing"
    message_zh: str
    message_en: str
    first_seen: datetime
    last_seen: datetime
    assignee: str | None = None
    occurrences: int = 1


class Action(BaseModel):
    by: str
    note: str = ""
    assignee: str | None = None


class AlertService:
    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.queues: set[asyncio.Queue[Alert]] = set()
        self.router = self._router()

    def _emit(self, alert: Alert) -> None:
        for queue in self.queues:
            queue.put_nowait(alert)

    def _router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/alerts")
        def list_alerts(
            site: str | None = None, severity: str | None = None, state: str | None = None
        ) -> list[Alert]:
            return [
                a
                for a in self.alerts.values()
                if (site is None or a.site == site)
                and (severity is None or a.severity == severity)
                and (state is None or a.state == state)
            ]

        @router.get("/alerts/stream")
        async def stream(request: Request) -> StreamingResponse:
            queue: asyncio.Queue[Alert] = asyncio.Queue()
            self.queues.add(queue)

            async def events() -> AsyncIterator[str]:
                try:
                    yield ": connected\n\n"
                    while not await request.is_disconnected():
                        try:
                            alert = await asyncio.wait_for(queue.get(), 1)
                        except TimeoutError:
                            continue
                        yield f"event: alert\ndata: {alert.model_dump_json()}\n\n"
                finally:
                    self.queues.discard(queue)

            return StreamingResponse(events(), media_type="text/event-stream")

        @router.post("/alerts/{alert_id}/{action}")
        def act(alert_id: str, action: Literal["ack", "assign", "resolve"], body: Action) -> Alert:
            alert = self.alerts.get(alert_id)
            if alert is None:
                raise HTTPException(404, "no such alert")
            update: dict[str, Any] = {
                "ack": {"state": "acknowledged"},
                "assign": {"assignee": body.assignee},
                "resolve": {"state": "resolved"},
            }[action]
            alert = alert.model_copy(update=update)
            self.alerts[alert_id] = alert
            self.history[alert_id].append(
                {"at": datetime.now(UTC).isoformat(), "action": action, **body.model_dump()}
            )
            self._emit(alert)
            return alert

        @router.get("/alerts/{alert_id}/history")
        def history(alert_id: str) -> list[dict[str, Any]]:
            if alert_id not in self.history:
                raise HTTPException(404, "no such alert")
            return self.history[alert_id]

        @router.post("/test/alerts")
        def raise_alert(alert: Alert) -> Alert:
            self.alerts[alert.id] = alert
            self.history[alert.id] = [
                {"at": alert.first_seen.isoformat(), "action": "fired", "by": "rules"}
            ]
            self._emit(alert)
            return alert

        return router


def alert_payload(alert_id: str, site: str, severity: str = "critical") -> str:
    now = datetime.now(UTC).isoformat()
    return json.dumps(
        {
            "id": alert_id,
            "rule": "smoke.alarm",
            "subject": f"{site}-smk-1",
            "site": site,
            "severity": severity,
            "message_zh": "托育室烟感报警",
            "message_en": "Smoke alarm in the nursery",
            "first_seen": now,
            "last_seen": now,
        }
    )


class Record(BaseModel):
    kind: str
    result: str
    by: str
    note: str = ""


class InspectionService:
    def __init__(self) -> None:
        self.log: dict[str, list[dict[str, Any]]] = {}
        self.router = self._router()

    def _router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/sites/{site_id}/inspections/due")
        def due(site_id: str) -> list[dict[str, Any]]:
            return [
                {
                    "item": "patrol.daily",
                    "subject": site_id,
                    "title_zh": "每日防火巡查",
                    "title_en": "Daily fire patrol",
                    "due_at": datetime.now(UTC).isoformat(),
                    "status": "overdue",
                }
            ]

        @router.get("/sites/{site_id}/inspection-log")
        def log(site_id: str) -> list[dict[str, Any]]:
            return self.log.get(site_id, [])

        @router.post("/sites/{site_id}/inspection-log")
        def record(site_id: str, body: Record) -> dict[str, Any]:
            entry = {"at": datetime.now(UTC).isoformat(), **body.model_dump()}
            self.log.setdefault(site_id, []).append(entry)
            return entry

        @router.get("/sites/{site_id}/inspection-log/export")
        def export(
            site_id: str, format: Literal["csv", "json", "pdf"], start: datetime, end: datetime
        ) -> Response:
            entries = self.log.get(site_id, [])
            name = f"inspection-{site_id}.{format}"
            headers = {"Content-Disposition": f'attachment; filename="{name}"'}
            if format == "json":
                return Response(json.dumps(entries), media_type="application/json", headers=headers)
            if format == "csv":
                out = io.StringIO()
                writer = csv.DictWriter(out, ["at", "kind", "result", "by", "note"])
                writer.writeheader()
                writer.writerows(entries)
                body = ("\ufeff" + out.getvalue()).encode()
                return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
            return Response(b"%PDF-1.4\n%%EOF\n", media_type="application/pdf", headers=headers)

        return router
