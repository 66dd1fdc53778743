"""The FastAPI application; its lifespan owns the service (consumer, stores) and the scheduler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ingest_server._errors import RegistryConflict, StoreError, StoreUnavailable
from ingest_server._service import IngestService
from ingest_server._settings import ServerSettings
from ingest_server._sinks import ReadingSink, SinkRegistry
from ingest_server.api import ROUTERS
from ingest_server.inspection_log import InspectionService, InspectionSettings
from ingest_server.inspection_log._completion import InspectionSink
from ingest_server.inspection_log.api import router as inspection_router
from protocol import Clock, SystemClock

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    settings: ServerSettings,
    *,
    clock: Clock | None = None,
    sinks: Sequence[ReadingSink] = (),
    inspection: InspectionSettings | None = None,
) -> FastAPI:
    """The server app. ``app.state.sinks`` accepts more sinks until (and after) start-up.

    ``app.state`` while running: ``settings``, ``clock``, ``sinks`` (a SinkRegistry),
    ``service`` (IngestService), ``registry``, ``records``, ``store``, ``metrics``,
    ``consumer``, ``engine`` (records SQLAlchemy engine), ``scheduler`` (APScheduler 3
    BackgroundScheduler, started).
    """
    the_clock: Clock = clock or SystemClock()
    # Without explicit inspection settings, periodic reports go beside the telemetry database.
    inspection_settings = inspection or InspectionSettings(
        reports_dir=settings.sqlite_path.parent / "reports"
    )
    registry = SinkRegistry()
    for sink in sinks:
        registry.add(sink)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await anyio.to_thread.run_sync(IngestService, settings, the_clock, registry)
        service.start()
        scheduler = BackgroundScheduler(timezone="UTC")
        # Hourly is fine-grained enough for day-based retention and cheap.
        scheduler.add_job(
            service.prune,
            "interval",
            hours=1,
            id="retention",
            coalesce=True,
            max_instances=1,
        )
        snapshot = service.registry.snapshot()
        inspection_service = InspectionService.build(
            inspection_settings,
            service.engine,
            the_clock,
            site_names={s.id: s.name for s in snapshot.sites},
            sites=lambda: [s.id for s in service.registry.snapshot().sites],
        )
        await anyio.to_thread.run_sync(inspection_service.log.create_tables)
        inspection_service.schedule(scheduler)
        inspection_sink = InspectionSink(inspection_service.log)
        registry.add(inspection_sink)
        scheduler.start()
        state = app.state
        state.inspection = inspection_service
        state.service = service
        state.registry = service.registry
        state.records = service.records
        state.store = service.store
        state.metrics = service.metrics
        state.consumer = service.consumer
        state.engine = service.engine
        state.scheduler = scheduler
        try:
            yield
        finally:
            registry.remove(inspection_sink)
            scheduler.shutdown(wait=True)
            await anyio.to_thread.run_sync(service.stop)

    app = FastAPI(
        title="Linli ingest server",
        version="0.1.0",
        description="Facility registry, telemetry queries, dead letters and health of Linli.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = the_clock
    app.state.sinks = registry

    @app.exception_handler(RegistryConflict)
    async def _registry_conflict(_request: Request, exc: RegistryConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"time-series store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(StoreError)
    async def _store_error(_request: Request, exc: StoreError) -> JSONResponse:
        log.warning("store query failed: %s", exc)
        return JSONResponse({"detail": f"time-series store error: {exc}"}, status_code=502)

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(inspection_router)
    return app
