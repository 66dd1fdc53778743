"""Periodic reports as PDF with charts, kept on disk:

- the monthly safety status report per site (alarms and response times, completed and overdue
  inspections, drills, device availability): the "safety status report made public" of Baotou
  art. 41;
- the quarterly operating report for the street office (Baotou art. 32): utilization by function,
  an hour-of-week heatmap, alarm response times, a compliance scorecard and findings.

Inputs are typed values produced by callables, so the server can feed them from the alert,
inspection and telemetry stores; :func:`log_monthly_inputs` and :func:`log_quarterly_inputs`
derive what the inspection log itself knows. Scheduler job functions are at the bottom.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from reportlab.graphics.charts.barcharts import (  # type: ignore[import-untyped]
    HorizontalBarChart,
    VerticalBarChart,
)
from reportlab.graphics.shapes import Drawing, Rect, String  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ingest_server.inspection_log._errors import ExportError
from ingest_server.inspection_log._export import Lang, category_label
from ingest_server.inspection_log._log import InspectionLog, Query
from ingest_server.inspection_log._models import Category
from ingest_server.inspection_log._pdfwriter import CjkFont
from protocol import Clock
from rules.facility import FUNCTION_NAMES_ZH, Function

__all__ = [
    "AlarmRecord",
    "ComplianceItem",
    "DeviceAvailability",
    "DrillRecord",
    "Finding",
    "FunctionUtilization",
    "InspectionStatus",
    "MonthlyInputs",
    "QuarterlyInputs",
    "ReportService",
    "log_monthly_inputs",
    "log_quarterly_inputs",
    "month_of",
    "monthly_reports_job",
    "quarter_of",
    "quarterly_reports_job",
    "retention_job",
    "schedule_report_jobs",
]

log = logging.getLogger(__name__)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class AlarmRecord(BaseModel):
    model_config = _FROZEN
    alert_id: str
    rule: str
    severity: str = "critical"
    raised_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def response_seconds(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.raised_at).total_seconds()


class InspectionStatus(BaseModel):
    model_config = _FROZEN
    item: str
    label_zh: str
    label_en: str
    completed: int = Field(ge=0)
    overdue: int = Field(ge=0)
    last_done: datetime | None = None


class DeviceAvailability(BaseModel):
    model_config = _FROZEN
    device: str
    kind: str = ""
    room: str | None = None
    availability: float = Field(ge=0, le=1)
    silent_minutes: float = Field(ge=0)


class DrillRecord(BaseModel):
    model_config = _FROZEN
    at: datetime
    evacuation_seconds: float | None = None


class MonthlyInputs(BaseModel):
    """Everything the monthly safety status report shows."""

    model_config = _FROZEN
    site: str
    site_name: str
    period_start: datetime
    period_end: datetime
    alarms: tuple[AlarmRecord, ...] = ()
    inspections: tuple[InspectionStatus, ...] = ()
    devices: tuple[DeviceAvailability, ...] = ()
    drills: tuple[DrillRecord, ...] = ()


class FunctionUtilization(BaseModel):
    model_config = _FROZEN
    function: Function
    utilisation: float = Field(ge=0, description="person-hours ÷ capacity-hours")
    person_hours: float = Field(ge=0)
    visits: int = Field(ge=0)


class ComplianceItem(BaseModel):
    model_config = _FROZEN
    id: str
    label_zh: str
    label_en: str
    status: Literal["pass", "fail", "unknown"]
    detail: str = ""


class Finding(BaseModel):
    model_config = _FROZEN
    severity: Literal["info", "minor", "major", "critical"]
    text_zh: str
    text_en: str


class QuarterlyInputs(BaseModel):
    """Everything the quarterly operating report shows."""

    model_config = _FROZEN
    site: str
    site_name: str
    period_start: datetime
    period_end: datetime
    utilization: tuple[FunctionUtilization, ...] = ()
    heatmap: tuple[tuple[float, ...], ...] = Field(
        default=(), description="7 rows (Mon..Sun) × 24 hours of average occupancy ratio"
    )
    compliance: tuple[ComplianceItem, ...] = ()
    findings: tuple[Finding, ...] = ()
    alarm_response_seconds: tuple[float, ...] = ()


MonthlyProvider = Callable[[str, datetime, datetime], MonthlyInputs]
QuarterlyProvider = Callable[[str, datetime, datetime], QuarterlyInputs]


# -- inputs from the inspection log ----------------------------------------------------------

_INSPECTION_CATEGORIES = (
    Category.PATROL,
    Category.PERIODIC_CHECK,
    Category.EQUIPMENT_TEST,
    Category.MAINTENANCE,
    Category.DRILL,
    Category.DETECTOR_SELF_TEST,
)


def _alarms(log_: InspectionLog, site: str, start: datetime, end: datetime) -> list[AlarmRecord]:
    raised: dict[str, dict[str, Any]] = {}
    cats = frozenset({Category.ALARM_RAISED, Category.ALARM_ACKNOWLEDGED, Category.ALARM_RESOLVED})
    for entry in log_.entries(Query(site=site, start=start, end=end, categories=cats)):
        alert = str(entry.payload.get("alert_id"))
        if entry.category == Category.ALARM_RAISED:
            raised[alert] = {
                "alert_id": alert,
                "rule": entry.payload.get("rule", ""),
                "severity": entry.payload.get("severity", ""),
                "raised_at": entry.occurred,
            }
        elif alert in raised:
            key = (
                "acknowledged_at"
                if entry.category == Category.ALARM_ACKNOWLEDGED
                else "resolved_at"
            )
            raised[alert].setdefault(key, entry.occurred)
    return [AlarmRecord.model_validate(a) for a in raised.values()]


def log_monthly_inputs(
    log_: InspectionLog, site_names: Mapping[str, str] | None = None
) -> MonthlyProvider:
    """A provider deriving the monthly inputs from the inspection log alone."""
    names = dict(site_names or {})

    def provide(site: str, start: datetime, end: datetime) -> MonthlyInputs:
        completed: dict[str, int] = defaultdict(int)
        last_done: dict[str, datetime] = {}
        overdue: dict[str, int] = defaultdict(int)
        silent_since: dict[str, datetime] = {}
        silent_total: dict[str, float] = defaultdict(float)
        drills: list[DrillRecord] = []
        cats = frozenset(
            {
                *_INSPECTION_CATEGORIES,
                Category.INSPECTION_OVERDUE,
                Category.DEVICE_SILENT,
                Category.DEVICE_BACK,
            }
        )
        for entry in log_.entries(Query(site=site, start=start, end=end, categories=cats)):
            if entry.category == Category.INSPECTION_OVERDUE:
                overdue[str(entry.payload.get("item"))] += 1
            elif entry.category == Category.DEVICE_SILENT:
                silent_since.setdefault(str(entry.payload["device"]), entry.occurred)
            elif entry.category == Category.DEVICE_BACK:
                device = str(entry.payload["device"])
                since = silent_since.pop(device, start)
                silent_total[device] += (entry.occurred - since).total_seconds()
            else:
                completed[entry.category] += 1
                last_done[entry.category] = entry.occurred
                if entry.category == Category.DRILL:
                    drills.append(
                        DrillRecord(
                            at=entry.occurred,
                            evacuation_seconds=entry.payload.get("evacuation_seconds"),
                        )
                    )
        for device, since in silent_since.items():
            silent_total[device] += (end - since).total_seconds()
        period = (end - start).total_seconds()
        inspections = [
            InspectionStatus(
                item=str(cat),
                label_zh=category_label(cat, "zh"),
                label_en=category_label(cat, "en"),
                completed=completed.get(cat, 0),
                overdue=0,
                last_done=last_done.get(cat),
            )
            for cat in _INSPECTION_CATEGORIES
        ] + [
            InspectionStatus(item=item, label_zh=item, label_en=item, completed=0, overdue=n)
            for item, n in sorted(overdue.items())
        ]
        devices = [
            DeviceAvailability(
                device=device,
                availability=max(0.0, 1 - seconds / period),
                silent_minutes=seconds / 60,
            )
            for device, seconds in sorted(silent_total.items())
        ]
        return MonthlyInputs(
            site=site,
            site_name=names.get(site, site),
            period_start=start,
            period_end=end,
            alarms=tuple(_alarms(log_, site, start, end)),
            inspections=tuple(inspections),
            devices=tuple(devices),
            drills=tuple(drills),
        )

    return provide


def log_quarterly_inputs(
    log_: InspectionLog, site_names: Mapping[str, str] | None = None
) -> QuarterlyProvider:
    """A skeleton provider: alarm response times from the log; utilization, compliance and
    findings left empty for the server to supply."""
    names = dict(site_names or {})

    def provide(site: str, start: datetime, end: datetime) -> QuarterlyInputs:
        times = [
            a.response_seconds
            for a in _alarms(log_, site, start, end)
            if a.response_seconds is not None
        ]
        return QuarterlyInputs(
            site=site,
            site_name=names.get(site, site),
            period_start=start,
            period_end=end,
            alarm_response_seconds=tuple(times),
        )

    return provide


# -- rendering --------------------------------------------------------------------------------

_FONT_NAME = "LinliCJK"


def _register(font: CjkFont) -> str:
    # reportlab keeps fonts in a process-wide registry; the name is bound to one parsed font.
    if _FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(font.tt)
    return _FONT_NAME


_T: dict[str, dict[str, str]] = {
    "zh": {
        "monthly": "安全状况月报",
        "quarterly": "运营情况季度报告",
        "site": "场所",
        "period": "统计期间",
        "alarms": "报警与响应",
        "alarm_count": "报警次数",
        "acked": "已确认",
        "median": "响应时间中位数（秒）",
        "max": "最长响应时间（秒）",
        "unacked": "未确认",
        "inspections": "检查与测试",
        "item": "项目",
        "completed": "完成次数",
        "overdue": "逾期次数",
        "last": "最近一次",
        "devices": "设备可用率",
        "device": "设备",
        "availability": "可用率",
        "silent": "失联分钟",
        "all_devices_ok": "本期无设备失联记录。",
        "drills": "疏散演练",
        "evac": "疏散用时（秒）",
        "no_drill": "本期无演练记录。",
        "response_chart": "报警响应时间分布",
        "utilization": "各功能利用率",
        "heatmap": "每周各小时使用热力图",
        "compliance": "合规评分",
        "status": "状态",
        "detail": "说明",
        "findings": "发现的问题",
        "severity": "级别",
        "none": "无",
        "pass": "符合",
        "fail": "不符合",
        "unknown": "未知",
        "basis_m": "依据《包头市社区嵌入式服务设施建设运营管理办法》第四十一条"
        "定期发布安全状况报告。",
        "basis_q": "依据同一办法第三十二条每季度向街道办事处报送运营情况。",
    },
    "en": {
        "monthly": "Monthly safety status report",
        "quarterly": "Quarterly operating report",
        "site": "Site",
        "period": "Period",
        "alarms": "Alarms and response",
        "alarm_count": "Alarms",
        "acked": "Acknowledged",
        "median": "Median response (s)",
        "max": "Longest response (s)",
        "unacked": "Unacknowledged",
        "inspections": "Inspections and tests",
        "item": "Item",
        "completed": "Completed",
        "overdue": "Overdue",
        "last": "Last done",
        "devices": "Device availability",
        "device": "Device",
        "availability": "Availability",
        "silent": "Silent minutes",
        "all_devices_ok": "No device was silent in this period.",
        "drills": "Evacuation drills",
        "evac": "Evacuation time (s)",
        "no_drill": "No drill in this period.",
        "response_chart": "Alarm response times",
        "utilization": "Utilization by function",
        "heatmap": "Hour-of-week heatmap",
        "compliance": "Compliance scorecard",
        "status": "Status",
        "detail": "Detail",
        "findings": "Findings",
        "severity": "Severity",
        "none": "None",
        "pass": "pass",
        "fail": "FAIL",
        "unknown": "unknown",
        "basis_m": "Published periodically as the safety status report of Baotou measures art. 41.",
        "basis_q": "Reported quarterly to the street office under Baotou measures art. 32.",
    },
}

# Response-time buckets (upper bounds, seconds): the first minutes decide a fire's outcome.
_BUCKETS = (30.0, 60.0, 180.0, 600.0)


def _bucket_labels(lang: Lang) -> list[str]:
    if lang == "zh":
        return ["≤30秒", "≤1分", "≤3分", "≤10分", ">10分", "未确认"]
    return ["≤30 s", "≤1 min", "≤3 min", "≤10 min", ">10 min", "unacked"]


def _response_chart(times: Sequence[float | None], lang: Lang, font: str) -> Drawing:
    counts = [0] * (len(_BUCKETS) + 2)
    for t in times:
        if t is None:
            counts[-1] += 1
            continue
        index = next((i for i, bound in enumerate(_BUCKETS) if t <= bound), len(_BUCKETS))
        counts[index] += 1
    drawing = Drawing(160 * mm, 60 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 15 * mm, 10 * mm, 135 * mm, 45 * mm
    chart.data = [counts]
    chart.categoryAxis.categoryNames = _bucket_labels(lang)
    chart.categoryAxis.labels.fontName = font
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueStep = max(1, -(-max(counts) // 5))  # whole alarms, about 5 ticks
    chart.bars[0].fillColor = colors.HexColor("#d9534f")
    drawing.add(chart)
    return drawing


def _utilization_chart(rows: Sequence[FunctionUtilization], lang: Lang, font: str) -> Drawing:
    height = max(30.0, 8.0 * len(rows) + 15) * mm
    drawing = Drawing(160 * mm, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 35 * mm, 8 * mm
    chart.width, chart.height = 115 * mm, height - 12 * mm
    chart.data = [[round(r.utilisation * 100, 1) for r in rows] or [0]]
    names = [FUNCTION_NAMES_ZH[r.function] if lang == "zh" else r.function.value for r in rows]
    chart.categoryAxis.categoryNames = names or ["—"]
    chart.categoryAxis.labels.fontName = font
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = 100
    chart.bars[0].fillColor = colors.HexColor("#337ab7")
    drawing.add(chart)
    return drawing


def _heatmap(grid: Sequence[Sequence[float]], lang: Lang, font: str) -> Drawing:
    cell = 5.5 * mm
    drawing = Drawing(20 * mm + 24 * cell, 10 * mm + 7 * cell)
    days = ["一", "二", "三", "四", "五", "六", "日"] if lang == "zh" else list("MTWTFSS")
    peak = max((v for row in grid for v in row), default=0.0) or 1.0
    for d in range(7):
        y = 7 * mm + (6 - d) * cell
        drawing.add(String(2 * mm, y + 1.5 * mm, days[d], fontName=font, fontSize=8))
        row = grid[d] if d < len(grid) else ()
        for h in range(24):
            value = row[h] if h < len(row) else 0.0
            shade = min(1.0, value / peak)
            fill = colors.Color(1.0, 1.0 - 0.8 * shade, 1.0 - 0.9 * shade)
            drawing.add(
                Rect(10 * mm + h * cell, y, cell, cell, fillColor=fill, strokeColor=colors.white)
            )
    for h in range(0, 24, 3):
        drawing.add(String(10 * mm + h * cell, 2 * mm, str(h), fontName=font, fontSize=7))
    return drawing


def _fmt_dt(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "—"


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class _Doc:
    def __init__(self, font: str) -> None:
        self.font = font
        self.h1 = ParagraphStyle("h1", fontName=font, fontSize=18, leading=24, spaceAfter=6)
        self.h2 = ParagraphStyle("h2", fontName=font, fontSize=13, leading=18, spaceBefore=10)
        self.body = ParagraphStyle("b", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")

    def table(self, rows: list[list[str]], widths: list[float] | None = None) -> Table:
        cells = [[Paragraph(str(c), self.body) for c in row] for row in rows]
        table = Table(cells, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return table


def _write_pdf(path: Path, story: list[Any], title: str, font: CjkFont) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".pdf")
    os.close(fd)
    try:
        doc = SimpleDocTemplate(
            tmp, pagesize=A4, title=title, leftMargin=18 * mm, rightMargin=18 * mm
        )
        with font.lock:
            doc.build(story)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cover(
    d: _Doc,
    t: dict[str, str],
    title: str,
    basis: str,
    inputs: MonthlyInputs | QuarterlyInputs,
    tz: tzinfo,
) -> list[Any]:
    """Title, site, period and basis lines that open every periodic report."""
    period = f"{_fmt_dt(inputs.period_start, tz)} — {_fmt_dt(inputs.period_end, tz)}"
    return [
        Paragraph(t[title], d.h1),
        Paragraph(f"{t['site']}：{inputs.site_name}（{inputs.site}）", d.body),
        Paragraph(f"{t['period']}：{period}", d.body),
        Paragraph(t[basis], d.body),
    ]


def render_monthly(
    inputs: MonthlyInputs, path: Path, lang: Lang, font: CjkFont, tz: tzinfo
) -> None:
    """Write the monthly safety status report PDF to ``path`` (atomically)."""
    t = _T[lang]
    d = _Doc(_register(font))
    story = _cover(d, t, "monthly", "basis_m", inputs, tz)
    story.append(Paragraph(t["alarms"], d.h2))
    times = [a.response_seconds for a in inputs.alarms]
    known = [x for x in times if x is not None]
    median = _median(known)
    story.append(
        d.table(
            [
                [t["alarm_count"], t["acked"], t["unacked"], t["median"], t["max"]],
                [
                    str(len(inputs.alarms)),
                    str(len(known)),
                    str(len(times) - len(known)),
                    f"{median:.0f}" if median is not None else "—",
                    f"{max(known):.0f}" if known else "—",
                ],
            ]
        )
    )
    story += [Spacer(1, 4 * mm), Paragraph(t["response_chart"], d.body)]
    story.append(_response_chart(times, lang, d.font))
    story.append(Paragraph(t["inspections"], d.h2))
    story.append(
        d.table(
            [[t["item"], t["completed"], t["overdue"], t["last"]]]
            + [
                [
                    s.label_zh if lang == "zh" else s.label_en,
                    str(s.completed),
                    str(s.overdue),
                    _fmt_dt(s.last_done, tz),
                ]
                for s in inputs.inspections
            ]
        )
    )
    story.append(Paragraph(t["drills"], d.h2))
    if inputs.drills:
        story.append(
            d.table(
                [[t["last"], t["evac"]]]
                + [
                    [
                        _fmt_dt(dr.at, tz),
                        f"{dr.evacuation_seconds:.0f}" if dr.evacuation_seconds else "—",
                    ]
                    for dr in inputs.drills
                ]
            )
        )
    else:
        story.append(Paragraph(t["no_drill"], d.body))
    story.append(Paragraph(t["devices"], d.h2))
    if inputs.devices:
        story.append(
            d.table(
                [[t["device"], t["availability"], t["silent"]]]
                + [
                    [dv.device, f"{dv.availability * 100:.2f}%", f"{dv.silent_minutes:.0f}"]
                    for dv in inputs.devices
                ]
            )
        )
    else:
        story.append(Paragraph(t["all_devices_ok"], d.body))
    _write_pdf(path, story, f"{t['monthly']} {inputs.site_name}", font)


def render_quarterly(
    inputs: QuarterlyInputs, path: Path, lang: Lang, font: CjkFont, tz: tzinfo
) -> None:
    """Write the quarterly operating report PDF to ``path`` (atomically)."""
    t = _T[lang]
    d = _Doc(_register(font))
    story = _cover(d, t, "quarterly", "basis_q", inputs, tz)
    story += [
        Paragraph(t["utilization"], d.h2),
        _utilization_chart(inputs.utilization, lang, d.font),
        Paragraph(t["heatmap"], d.h2),
        _heatmap(inputs.heatmap, lang, d.font),
        Paragraph(t["response_chart"], d.h2),
        _response_chart(list(inputs.alarm_response_seconds), lang, d.font),
        PageBreak(),
        Paragraph(t["compliance"], d.h2),
    ]
    story.append(
        d.table(
            [[t["item"], t["status"], t["detail"]]]
            + [
                [c.label_zh if lang == "zh" else c.label_en, t[c.status], c.detail]
                for c in inputs.compliance
            ]
            or [[t["none"], "", ""]],
            widths=[60 * mm, 25 * mm, 85 * mm],
        )
    )
    story.append(Paragraph(t["findings"], d.h2))
    if inputs.findings:
        story.append(
            d.table(
                [[t["severity"], t["detail"]]]
                + [[f.severity, f.text_zh if lang == "zh" else f.text_en] for f in inputs.findings],
                widths=[25 * mm, 145 * mm],
            )
        )
    else:
        story.append(Paragraph(t["none"], d.body))
    _write_pdf(path, story, f"{t['quarterly']} {inputs.site_name}", font)


# -- periods ----------------------------------------------------------------------------------


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def month_of(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month containing ``day``, in UTC."""
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return _local_midnight(first, tz), _local_midnight(nxt, tz)


def quarter_of(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of the calendar quarter containing ``day``, in UTC."""
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    nxt_month = first.month + 3
    nxt = date(first.year + (nxt_month > 12), (nxt_month - 1) % 12 + 1, 1)
    return _local_midnight(first, tz), _local_midnight(nxt, tz)


# -- the service and its scheduler jobs -------------------------------------------------------


@dataclass
class ReportService:
    """Generates reports on demand and for the scheduler, kept under ``reports_dir``."""

    reports_dir: Path
    clock: Clock
    tz: tzinfo
    font: Callable[[], CjkFont]
    sites: Callable[[], Sequence[str]]
    monthly_inputs: MonthlyProvider
    quarterly_inputs: QuarterlyProvider
    langs: tuple[Lang, ...] = ("zh", "en")

    def path(
        self, site: str, kind: Literal["monthly", "quarterly"], label: str, lang: Lang
    ) -> Path:
        return self.reports_dir / site / f"{kind}-{label}.{lang}.pdf"

    def monthly(self, site: str, month: date, lang: Lang = "zh") -> Path:
        """Generate (or regenerate) the monthly report of ``month`` for ``site``."""
        start, end = month_of(month, self.tz)
        path = self.path(site, "monthly", month.strftime("%Y-%m"), lang)
        render_monthly(self.monthly_inputs(site, start, end), path, lang, self.font(), self.tz)
        return path

    def quarterly(self, site: str, day: date, lang: Lang = "zh") -> Path:
        """Generate (or regenerate) the quarterly report of the quarter containing ``day``."""
        start, end = quarter_of(day, self.tz)
        local = start.astimezone(self.tz)
        label = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
        path = self.path(site, "quarterly", label, lang)
        render_quarterly(self.quarterly_inputs(site, start, end), path, lang, self.font(), self.tz)
        return path

    def listing(self, site: str) -> list[Path]:
        folder = self.reports_dir / site
        return sorted(folder.glob("*.pdf")) if folder.is_dir() else []

    def run_due(self, kind: Literal["monthly", "quarterly"]) -> list[Path]:
        """Reports of the period that ended before now, for every site, unless already kept."""
        ref = self.clock.now().astimezone(self.tz).date()
        if kind == "monthly":
            day = ref.replace(day=1) - timedelta(days=1)
            label = day.strftime("%Y-%m")
        else:
            start, _ = quarter_of(ref, self.tz)
            day = start.astimezone(self.tz).date() - timedelta(days=1)
            label = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
        written: list[Path] = []
        for site in self.sites():
            for lang in self.langs:
                if self.path(site, kind, label, lang).exists():
                    continue
                try:
                    if kind == "monthly":
                        written.append(self.monthly(site, day, lang))
                    else:
                        written.append(self.quarterly(site, day, lang))
                except (ExportError, OSError, ValueError):
                    log.exception("%s report of %s for site %s failed", kind, label, site)
        return written


def monthly_reports_job(reports: ReportService) -> list[Path]:
    """Scheduler job: last month's safety status report for every site."""
    return reports.run_due("monthly")


def quarterly_reports_job(reports: ReportService) -> list[Path]:
    """Scheduler job: last quarter's operating report for every site."""
    return reports.run_due("quarterly")


def retention_job(inspection_log: InspectionLog) -> int:
    """Scheduler job: purge entries past retention, every site."""
    return sum(inspection_log.purge_expired(site) for site in inspection_log.sites())


def schedule_report_jobs(scheduler: Any, reports: ReportService, log_: InspectionLog) -> None:
    """Add the report and retention jobs to an APScheduler 3 scheduler.

    Monthly at 02:00 local on the 1st, quarterly at 03:00 on the 1st of Jan/Apr/Jul/Oct, retention
    daily at 04:00 — night hours when centres are closed. ``coalesce`` and ``max_instances=1``
    keep a backlog after downtime to one run; the jobs skip reports already kept.
    """
    common: dict[str, Any] = {
        "coalesce": True,
        "max_instances": 1,
        "replace_existing": True,
        "misfire_grace_time": 6 * 3600,
    }
    scheduler.add_job(
        monthly_reports_job,
        "cron",
        day=1,
        hour=2,
        args=[reports],
        id="inspection.monthly_reports",
        timezone=reports.tz,
        **common,
    )
    scheduler.add_job(
        quarterly_reports_job,
        "cron",
        month="1,4,7,10",
        day=1,
        hour=3,
        args=[reports],
        id="inspection.quarterly_reports",
        timezone=reports.tz,
        **common,
    )
    scheduler.add_job(
        retention_job,
        "cron",
        hour=4,
        args=[log_],
        id="inspection.retention",
        timezone=reports.tz,
        **common,
    )
