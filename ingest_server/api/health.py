"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from ingest_server.api._common import Service

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Broker and stores reachable", response_model=None)
def readyz(service: Service) -> Response:
    checks: dict[str, Any] = {
        "broker": service.consumer.connected,
        "store": service.store.ping(),
        "records": service.records.ping(),
    }
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(request: Request, service: Service) -> PlainTextResponse:
    text = service.metrics.render(service.gauges())
    # Notification channels: sent, failed, retried and dropped per channel.
    dispatcher = getattr(request.app.state, "notify_dispatcher", None)
    if dispatcher is not None:
        text += dispatcher.prometheus()
    return PlainTextResponse(
        text,
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
