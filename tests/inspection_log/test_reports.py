"""Monthly and quarterly reports: typed inputs in, PDF with charts out, kept on disk; the scheduler
jobs make last period's reports once."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from ingest_server.inspection_log import (
    AlarmAcknowledged,
    AlarmRaised,
    Category,
    CjkFont,
    ComplianceItem,
    DeviceBack,
    DeviceSilent,
    Drill,
    Finding,
    FunctionUtilization,
    InspectionLog,
    InspectionService,
    InspectionSettings,
    QuarterlyInputs,
    ReportService,
    log_monthly_inputs,
    monthly_reports_job,
    quarterly_reports_job,
)
from protocol import ManualClock
from rules.facility import Function
from tests.inspection_log.conftest import SITE_NAME


def _text(path: Path) -> str:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    return "".join(out.stdout.split())


def _january(log: InspectionLog, site: str) -> None:
    t0 = datetime(2026, 1, 10, 2, tzinfo=UTC)
    log.append(
        site,
        Category.ALARM_RAISED,
        AlarmRaised(alert_id="a1", rule="smoke.alarm", severity="critical"),
        "rules",
        t0,
    )
    log.append(
        site,
        Category.ALARM_ACKNOWLEDGED,
        AlarmAcknowledged(alert_id="a1", by="王芳"),
        "王芳",
        t0 + timedelta(seconds=45),
    )
    log.append(
        site,
        Category.ALARM_RAISED,
        AlarmRaised(alert_id="a2", rule="door.held_open", severity="major"),
        "rules",
        t0 + timedelta(days=1),
    )
    log.append(
        site,
        Category.DEVICE_SILENT,
        DeviceSilent(device="smoke-7"),
        "rules",
        t0 + timedelta(days=2),
    )
    log.append(
        site,
        Category.DEVICE_BACK,
        DeviceBack(device="smoke-7"),
        "rules",
        t0 + timedelta(days=2, hours=3),
    )
    log.append(
        site,
        Category.DRILL,
        Drill(alarm_at=t0, evacuation_seconds=152.5),
        "rules",
        t0 + timedelta(days=3),
    )


def test_monthly_inputs_come_from_the_log(
    log: InspectionLog, clock: ManualClock, unique_id: str
) -> None:
    clock.set(datetime(2026, 2, 3, tzinfo=UTC))
    _january(log, unique_id)
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    inputs = log_monthly_inputs(log, {unique_id: SITE_NAME})(unique_id, start, end)
    assert [a.response_seconds for a in inputs.alarms] == [45.0, None]
    assert inputs.devices[0].device == "smoke-7"
    assert inputs.devices[0].silent_minutes == 180
    assert inputs.drills[0].evacuation_seconds == 152.5
    drills = next(s for s in inputs.inspections if s.item == "drill")
    assert drills.completed == 1


def test_monthly_report_pdf_shows_site_alarms_and_devices(
    engine: Engine, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    clock.set(datetime(2026, 2, 3, tzinfo=UTC))
    settings = InspectionSettings(reports_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    service = InspectionService.build(settings, engine, clock, site_names={unique_id: SITE_NAME})
    service.log.create_tables()
    _january(service.log, unique_id)
    path = service.reports.monthly(unique_id, date(2026, 1, 1), "zh")
    assert path == tmp_path / unique_id / "monthly-2026-01.zh.pdf"
    text = _text(path)
    assert "安全状况月报" in text
    assert SITE_NAME in text
    assert "报警与响应" in text
    assert "smoke-7" in text
    assert "99.60%" in text  # 180 silent minutes of 44,640
    assert "152" in text  # the drill's evacuation time
    english = _text(service.reports.monthly(unique_id, date(2026, 1, 1), "en"))
    assert "Monthlysafetystatusreport" in english


def test_quarterly_report_from_typed_inputs(
    clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    def quarterly(site: str, start: datetime, end: datetime) -> QuarterlyInputs:
        return QuarterlyInputs(
            site=site,
            site_name=SITE_NAME,
            period_start=start,
            period_end=end,
            utilization=(
                FunctionUtilization(
                    function=Function.ELDERLY_CARE, utilisation=0.62, person_hours=5400, visits=2100
                ),
                FunctionUtilization(
                    function=Function.DINING, utilisation=0.18, person_hours=900, visits=3000
                ),
            ),
            heatmap=tuple(tuple(float((d * h) % 7) for h in range(24)) for d in range(7)),
            compliance=(
                ComplianceItem(
                    id="mix.count",
                    label_zh="功能数量不少于3项",
                    label_en="At least 3 functions",
                    status="pass",
                ),
                ComplianceItem(
                    id="infant.floor",
                    label_zh="托育用房在三层及以下",
                    label_en="Infant care on floor 3 or below",
                    status="fail",
                    detail="四层托育室",
                ),
            ),
            findings=(
                Finding(
                    severity="major", text_zh="社区助餐利用率低于20%", text_en="Dining under 20 %"
                ),
            ),
            alarm_response_seconds=(20.0, 75.0, 400.0),
        )

    reports = ReportService(
        reports_dir=tmp_path,
        clock=clock,
        tz=InspectionSettings(_env_file=None).zone(),  # type: ignore[call-arg]
        font=lambda: font,
        sites=lambda: [unique_id],
        monthly_inputs=lambda *_: None,  # type: ignore[arg-type,return-value]
        quarterly_inputs=quarterly,
    )
    path = reports.quarterly(unique_id, date(2026, 2, 14))
    assert path.name == "quarterly-2026-Q1.zh.pdf"
    text = _text(path)
    for expected in (
        "运营情况季度报告",
        SITE_NAME,
        "各功能利用率",
        "养老服务",
        "社区助餐",
        "每周各小时使用热力图",
        "不符合",
        "四层托育室",
        "社区助餐利用率低于20%",
    ):
        assert expected in text, expected


def test_scheduler_jobs_make_last_periods_reports_once(
    engine: Engine, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    settings = InspectionSettings(reports_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    service = InspectionService.build(settings, engine, clock, site_names={unique_id: SITE_NAME})
    service.log.create_tables()
    _january(service.log, unique_id)
    clock.set(datetime(2026, 4, 1, 1, tzinfo=UTC))  # 09:00 on 1 April in Shanghai
    made = monthly_reports_job(service.reports)
    assert sorted(p.name for p in made) == ["monthly-2026-03.en.pdf", "monthly-2026-03.zh.pdf"]
    assert monthly_reports_job(service.reports) == []  # kept; not made again
    made = quarterly_reports_job(service.reports)
    assert sorted(p.name for p in made) == ["quarterly-2026-Q1.en.pdf", "quarterly-2026-Q1.zh.pdf"]

    scheduler = BackgroundScheduler()
    service.schedule(scheduler)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "inspection.monthly_reports",
        "inspection.quarterly_reports",
        "inspection.retention",
    }
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
