"""The FastAPI application; its lifespan owns the service (consumer, stores) and the scheduler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import dashboards
from ingest_server._errors import RegistryConflict, StoreError, StoreUnavailable
from ingest_server._rollups import RUN_EVERY_S, Rollups
from ingest_server._scheduling import add_clock_interval_job
from ingest_server._service import IngestService
from ingest_server._settings import ServerSettings
from ingest_server._sinks import ReadingSink, SinkRegistry
from ingest_server.alerts import (
    AlertEvent,
    AlertPipeline,
    AlertService,
    PackLoader,
    add_alert_jobs,
)
from ingest_server.alerts._sink import AlertSink
from ingest_server.alerts.api import router as alerts_router
from ingest_server.api import ROUTERS
from ingest_server.inspection_log import InspectionService, InspectionSettings
from ingest_server.inspection_log._alerts import AlertLogWriter
from ingest_server.inspection_log._completion import InspectionSink
from ingest_server.inspection_log._overdue import CHECK_EVERY_S, OverdueWatcher
from ingest_server.inspection_log.api import router as inspection_router
from ingest_server.notify import Dispatcher, SseBroadcaster, build_channels
from protocol import Clock, SystemClock
from rules import Site, load_pack, room_capacity
from rules.live import LiveEngine

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
    BackgroundScheduler, started), ``inspection`` (InspectionService), ``alert_service``,
    ``alert_pipeline`` (live rules → alerts, fed as a sink), ``overdue`` (inspection items
    overdue → alerts), ``rollups`` (daily utilization rollups and findings),
    ``notify_dispatcher``, ``sse``.
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
        async with contextlib.AsyncExitStack() as stack:
            notify = settings.notify_settings()
            channels = build_channels(notify, the_clock)
            dispatcher = await stack.enter_async_context(Dispatcher(notify, channels, the_clock))
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
            stack.callback(registry.remove, inspection_sink)

            log_writer = AlertLogWriter(inspection_service.log)

            def on_alert_event(event: AlertEvent) -> None:
                dispatcher.submit(event)
                log_writer(event)

            alerts = await anyio.to_thread.run_sync(
                _build_alerts, settings, service, the_clock, on_alert_event, dispatcher
            )
            alert_sink = AlertSink(alerts.pipeline)
            registry.add(alert_sink)
            stack.callback(registry.remove, alert_sink)
            add_alert_jobs(scheduler, alerts.pipeline)
            overdue = OverdueWatcher(
                service.registry.snapshot, inspection_service.log, alerts.service, the_clock
            )
            add_clock_interval_job(
                scheduler,
                overdue.check,
                every_s=CHECK_EVERY_S,
                clock=the_clock,
                job_id="inspections.overdue",
            )
            rollups = Rollups(service.engine, service.store, service.registry.snapshot, the_clock)
            add_clock_interval_job(
                scheduler,
                rollups.run,
                every_s=RUN_EVERY_S,
                clock=the_clock,
                job_id="utilization.rollups",
            )

            # Sinks are in place before the first message is consumed.
            service.start()
            stack.callback(service.stop)
            scheduler.start()
            stack.callback(scheduler.shutdown, wait=True)
            # The last engine state, so timers resume where they were after a restart.
            stack.callback(alerts.pipeline.save_snapshot)

            state = app.state
            state.service = service
            state.registry = service.registry
            state.records = service.records
            state.store = service.store
            state.metrics = service.metrics
            state.consumer = service.consumer
            state.engine = service.engine
            state.scheduler = scheduler
            state.inspection = inspection_service
            state.alert_service = alerts.service
            state.alert_pipeline = alerts.pipeline
            state.overdue = overdue
            state.rollups = rollups
            state.notify_dispatcher = dispatcher
            state.sse = next((c for c in channels.values() if isinstance(c, SseBroadcaster)), None)
            yield

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
    app.include_router(alerts_router)
    app.include_router(dashboards.router)
    return app


@dataclass(frozen=True)
class _Alerts:
    service: AlertService
    pipeline: AlertPipeline


def _capacities(sites: Sequence[Site]) -> dict[str, dict[str, int]]:
    """Room capacities from the jurisdiction packs, as the utilization reports state them."""
    result: dict[str, dict[str, int]] = {}
    for site in sites:
        pack = load_pack(site.jurisdiction)
        result[site.id] = {
            room.id: capacity.value
            for room in site.rooms
            if (capacity := room_capacity(room, pack)) is not None
        }
    return result


def _build_alerts(
    settings: ServerSettings,
    service: IngestService,
    clock: Clock,
    on_event: Callable[[AlertEvent], None],
    dispatcher: Dispatcher,
) -> _Alerts:
    """The alert lifecycle and the live rules engine, resumed from the last snapshot."""
    sites = list(service.registry.snapshot().sites)
    loader = PackLoader(settings.rule_pack_dir) if settings.rule_pack_dir else PackLoader()
    packs = loader.load(sites).packs
    alert_service = AlertService(service.engine, clock, sink=on_event)
    alert_service.create_tables()
    engine = LiveEngine(sites, packs, _capacities(sites), start=clock.now())
    pipeline = AlertPipeline(engine, alert_service, clock, reminder=dispatcher.remind)
    if not pipeline.restore():
        pipeline.tick()
        pipeline.reconcile()
    return _Alerts(alert_service, pipeline)
