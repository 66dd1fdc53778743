"""One object that holds the inspection log and everything built on it, for the server to keep
in ``app.state.inspection`` and hand to the alert lifecycle and the scheduler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine

from ingest_server.inspection_log._export import Exporter
from ingest_server.inspection_log._log import InspectionLog
from ingest_server.inspection_log._pdfwriter import CjkFont, find_cjk_font, load_font
from ingest_server.inspection_log._reports import (
    MonthlyProvider,
    QuarterlyProvider,
    ReportService,
    log_monthly_inputs,
    log_quarterly_inputs,
    schedule_report_jobs,
)
from ingest_server.inspection_log._settings import InspectionSettings
from protocol import Clock

__all__ = ["InspectionService"]


@dataclass
class InspectionService:
    """The log, its exporter and its report generator, wired from settings."""

    settings: InspectionSettings
    log: InspectionLog
    exporter: Exporter
    reports: ReportService
    site_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: InspectionSettings,
        engine: Engine,
        clock: Clock,
        *,
        site_names: Mapping[str, str] | None = None,
        sites: Callable[[], list[str]] | None = None,
        monthly_inputs: MonthlyProvider | None = None,
        quarterly_inputs: QuarterlyProvider | None = None,
    ) -> InspectionService:
        """Build the service. ``sites`` lists the sites reports are made for (default: sites with
        log entries); the providers default to what the log itself knows."""
        names = dict(site_names or {})
        log = InspectionLog(engine, clock, retention=settings.retention(), signer=settings.signer())
        configured = settings.cjk_font

        def font() -> CjkFont:
            return load_font(find_cjk_font(configured))

        exporter = Exporter(
            log, site_names=names, tz=settings.zone(), font=font, signer=settings.signer()
        )
        reports = ReportService(
            reports_dir=settings.reports_dir,
            clock=clock,
            tz=settings.zone(),
            font=font,
            sites=sites or log.sites,
            monthly_inputs=monthly_inputs or log_monthly_inputs(log, names),
            quarterly_inputs=quarterly_inputs or log_quarterly_inputs(log, names),
        )
        return cls(settings=settings, log=log, exporter=exporter, reports=reports, site_names=names)

    def schedule(self, scheduler: object) -> None:
        """Add the monthly, quarterly and retention jobs to an APScheduler 3 scheduler."""
        schedule_report_jobs(scheduler, self.reports, self.log)
