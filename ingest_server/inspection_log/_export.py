"""Exports of the inspection log as CSV, JSON and PDF, each a generator of byte chunks so that any
range streams in constant memory.

- CSV: UTF-8 with a BOM (Excel detects the encoding by it), CRLF rows, headers in zh-CN or
  English, times in the site's time zone; text cells that a spreadsheet would run as a formula are
  prefixed with ``'``.
- JSON: the chain segment covering the range, one entry per line; entries outside the filter are
  links (seq, prev_hash, hash), so the file verifies offline (``linli verify-log --file``).
- PDF: a cover with the site and range, a summary table per category, then the entries; the CJK
  font is embedded.
"""

from __future__ import annotations

import csv
import io
import json
import json.scanner
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo

from ingest_server.inspection_log._checklists import checklist_label
from ingest_server.inspection_log._log import EntryTuple, InspectionLog, Query
from ingest_server.inspection_log._models import Category, Entry, format_ts, parse_ts
from ingest_server.inspection_log._pdfwriter import CjkFont, StreamingPdf
from ingest_server.inspection_log._signing import Signer
from ingest_server.inspection_log._verify import EXPORT_FORMAT, Link

__all__ = [
    "CATEGORY_LABELS",
    "ExportFormat",
    "ExportMeta",
    "Exporter",
    "Lang",
    "csv_chunks",
    "describe",
    "json_chunks",
    "pdf_chunks",
]

_T = TypeVar("_T")
# Entries between progress callbacks: frequent enough for a smooth display, cheap.
_PROGRESS_EVERY = 500

Lang = Literal["zh", "en"]
ExportFormat = Literal["csv", "json", "pdf"]

CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    Category.ALARM_RAISED: ("报警发生", "Alarm raised"),
    Category.ALARM_ACKNOWLEDGED: ("报警确认", "Alarm acknowledged"),
    Category.ALARM_RESOLVED: ("报警解除", "Alarm resolved"),
    Category.DETECTOR_SELF_TEST: ("探测器自检", "Detector self-test"),
    Category.TEST_MODE_ALARM: ("测试模式报警", "Test-mode alarm"),
    Category.FIRE_DOOR_DURING_ALARM: ("报警期间防火门", "Fire door during alarm"),
    Category.DEVICE_SILENT: ("设备失联", "Device silent"),
    Category.DEVICE_BACK: ("设备恢复", "Device back"),
    Category.GATEWAY_SILENT: ("网关离线", "Gateway offline"),
    Category.GATEWAY_BACK: ("网关恢复", "Gateway back"),
    Category.INSPECTION_OVERDUE: ("检查逾期", "Inspection overdue"),
    Category.DRILL: ("疏散演练", "Evacuation drill"),
    Category.PATROL: ("防火巡查", "Fire patrol"),
    Category.PERIODIC_CHECK: ("定期防火检查", "Periodic fire-safety check"),
    Category.EQUIPMENT_TEST: ("设施测试", "Equipment test"),
    Category.MAINTENANCE: ("维护保养", "Maintenance"),
    Category.CORRECTION: ("更正", "Correction"),
    Category.RETENTION_PURGE: ("过期记录清理", "Retention purge"),
}

_OUTCOMES = {
    "pass": ("合格", "pass"),
    "fail": ("不合格", "FAIL"),
    "not_applicable": ("不适用", "n/a"),
}

_TEMPLATES: dict[str, tuple[str, str]] = {
    Category.ALARM_RAISED: (
        "{rule}（{severity}）房间 {room} 设备 {device} {message}",
        "{rule} ({severity}) room {room} device {device} {message}",
    ),
    Category.ALARM_ACKNOWLEDGED: (
        "告警 {alert_id} 由 {by} 确认，响应用时 {response_seconds} 秒",
        "alert {alert_id} acknowledged by {by} after {response_seconds} s",
    ),
    Category.ALARM_RESOLVED: (
        "告警 {alert_id} 已解除（{by}），持续 {duration_seconds} 秒 {resolution}",
        "alert {alert_id} resolved ({by}) after {duration_seconds} s {resolution}",
    ),
    Category.DETECTOR_SELF_TEST: (
        "设备 {device}（房间 {room}）自检结果 {result} {detail}",
        "device {device} (room {room}) self-test {result} {detail}",
    ),
    Category.TEST_MODE_ALARM: (
        "设备 {device}（房间 {room}）测试模式报警，操作人 {started_by}",
        "device {device} (room {room}) test-mode alarm by {started_by}",
    ),
    Category.FIRE_DOOR_DURING_ALARM: (
        "防火门 {device}（房间 {room}）状态 {state}，报警后 {seconds_after_alarm} 秒",
        "fire door {device} (room {room}) {state}, {seconds_after_alarm} s after the alarm",
    ),
    Category.DEVICE_SILENT: (
        "设备 {device} 失联，最后上报 {last_seen}",
        "device {device} silent, last seen {last_seen}",
    ),
    Category.DEVICE_BACK: (
        "设备 {device} 恢复上报，失联 {silent_seconds} 秒",
        "device {device} back after {silent_seconds} s",
    ),
    Category.GATEWAY_SILENT: (
        "网关 {gateway} 离线（{reason}），最后上报 {last_seen}",
        "gateway {gateway} offline ({reason}), last seen {last_seen}",
    ),
    Category.GATEWAY_BACK: (
        "网关 {gateway} 恢复，离线 {silent_seconds} 秒",
        "gateway {gateway} back after {silent_seconds} s",
    ),
    Category.INSPECTION_OVERDUE: (
        "检查项 {item} {subject} 逾期，应于 {due_at} 前完成，上次 {last_done}",
        "{item} {subject} overdue since {due_at}, last done {last_done}",
    ),
    Category.DRILL: (
        "报警 {alarm_at}，清场 {room_empty_at}，疏散用时 {evacuation_seconds} 秒，"
        "参与 {participants} 人 {remarks}",
        "alarm {alarm_at}, rooms empty {room_empty_at}, evacuation {evacuation_seconds} s, "
        "{participants} participants {remarks}",
    ),
    Category.CORRECTION: (
        "更正第 {corrects_seq} 条：{reason} {amended}",
        "corrects seq {corrects_seq}: {reason} {amended}",
    ),
    Category.RETENTION_PURGE: (
        "已清理至第 {purged_through_seq} 条，共 {count} 条，锚点 {anchor_hash}",
        "purged through seq {purged_through_seq} ({count} entries), anchor {anchor_hash}",
    ),
}


def category_label(category: str, lang: Lang) -> str:
    labels = CATEGORY_LABELS.get(category)
    if labels is None:
        return category
    return labels[0] if lang == "zh" else labels[1]


def _value(value: Any, lang: Lang) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        outcome = _OUTCOMES.get(value)
        if outcome is not None:
            return outcome[0 if lang == "zh" else 1]
        return value
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


_MANUAL_CATEGORIES = frozenset(c.value for c in Category if c.manual)


def describe(entry: Entry, lang: Lang) -> str:
    """A one-paragraph human description of an entry."""
    return _describe(entry.category, entry.payload, lang)


def _describe(category: str, payload: dict[str, Any], lang: Lang) -> str:
    if category in _MANUAL_CATEGORIES:
        manual = Category(category)
        items = "；".join(
            f"{checklist_label(manual, item, lang)}: {_value(outcome, lang)}"
            for item, outcome in payload.get("checklist", {}).items()
        )
        if lang == "zh":
            text = f"检查人 {payload.get('inspector')}；{items}"
            extra = [("对象", "subject"), ("备注", "remarks"), ("附件", "attachment")]
        else:
            text = f"inspector {payload.get('inspector')}; {items}"
            extra = [("subject", "subject"), ("remarks", "remarks"), ("attachment", "attachment")]
        for label, key in extra:
            if payload.get(key):
                text += f"{'；' if lang == 'zh' else '; '}{label} {payload[key]}"
        return text
    template = _TEMPLATES.get(category)
    if template is None:
        return json.dumps(payload, ensure_ascii=False, sort_keys=True)
    values = {k: _value(v, lang) for k, v in payload.items()}
    try:
        return template[0 if lang == "zh" else 1].format_map(values).strip()
    except KeyError:
        return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def _local(ts: str, tz: tzinfo) -> str:
    return parse_ts(ts).astimezone(tz).isoformat(sep=" ", timespec="seconds")


def _local_short(ts: str, tz: tzinfo) -> str:
    return parse_ts(ts).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


_CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:[0-5]\d:[0-5]\d\.\d{6}Z")
_HOUR = timedelta(hours=1)
# Hours remembered by _LocalTimes: entries come in time order, so a few hundred cover any
# back-dated records among them, while a year (8,760 hours) would make memory grow with range.
_HOURS_KEPT = 512
_LAST_US = timedelta(hours=1, microseconds=-1)


class _LocalTimes:
    """``_local`` / ``_local_short`` of canonical timestamps, converted once per UTC hour.

    Within a UTC hour whose offset is the same at both ends and a whole number of hours, local
    minutes and seconds are the UTC ones, so the local text is the hour's prefix (date and hour),
    the timestamp's own ``:MM:SS`` and the hour's suffix (the offset). Any other hour, and any
    text that is not canonical (so that it raises as before), takes the per-timestamp path.
    """

    def __init__(self, tz: tzinfo, local: Callable[[str, tzinfo], str]) -> None:
        self._tz = tz
        self._local = local
        self._hours: dict[str, tuple[str, str] | None] = {}

    def __call__(self, ts: str) -> str:
        key = ts[:13]
        try:
            cached = self._hours[key]
        except KeyError:
            if len(self._hours) >= _HOURS_KEPT:
                self._hours.clear()
            cached = self._hours[key] = self._hour(ts)
        if cached is None or not _CANONICAL_TS.fullmatch(ts):
            return self._local(ts, self._tz)
        return cached[0] + ts[13:19] + cached[1]

    def _hour(self, ts: str) -> tuple[str, str] | None:
        if not _CANONICAL_TS.fullmatch(ts):
            return None
        start = parse_ts(ts[:13] + ":00:00.000000Z")
        offset = start.astimezone(self._tz).utcoffset()
        end_offset = (start + _LAST_US).astimezone(self._tz).utcoffset()
        if offset is None or offset != end_offset or offset % _HOUR:
            return None
        text = self._local(format_ts(start), self._tz)
        if len(text) < 19 or text[13:19] != ":00:00":
            return None
        return text[:13], text[19:]


# Characters that make Excel and LibreOffice treat a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


_CSV_HEADERS: dict[str, tuple[str, ...]] = {
    "zh": (
        "场所编号",
        "场所名称",
        "序号",
        "发生时间",
        "记录时间",
        "类别",
        "类别代码",
        "记录人",
        "内容",
        "原始数据",
        "哈希",
    ),
    "en": (
        "site",
        "site name",
        "seq",
        "occurred at",
        "recorded at",
        "category",
        "category code",
        "actor",
        "details",
        "payload",
        "hash",
    ),
}

# Rows per yielded CSV chunk: ~100 KB, few enough syscalls, small enough to stay flat in memory.
_CSV_ROWS_PER_CHUNK = 500
# Entry rows per PDF page: what fits on A4 landscape at 8 pt when each row takes up to 2 lines.
_PDF_ROWS_PER_PAGE = 22


@dataclass(frozen=True)
class ExportMeta:
    """What an export is about, for headers, covers and file names."""

    query: Query
    site_names: Mapping[str, str] = field(default_factory=dict)
    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    exported_at: datetime | None = None

    def site_name(self, site: str) -> str:
        return self.site_names.get(site, site)

    def _bound(self, when: datetime | None, *, end: bool, fmt: str) -> str | None:
        """A bound as the user gave it: a local day (an end day inclusive) or a local time."""
        if when is None:
            return None
        local = when.astimezone(self.tz)
        if local.time() == datetime.min.time():
            return (local.date() - timedelta(days=1 if end else 0)).strftime(fmt)
        return local.strftime(fmt + ("T%H%M" if "-" not in fmt else " %H:%M"))

    def range_text(self, lang: Lang) -> str:
        start = self._bound(self.query.start, end=False, fmt="%Y-%m-%d") or "…"
        end = self._bound(self.query.end, end=True, fmt="%Y-%m-%d") or "…"
        return f"{start} — {end}"

    def file_name(self, fmt: ExportFormat) -> str:
        site = self.query.site or "all-sites"
        start = self._bound(self.query.start, end=False, fmt="%Y%m%d") or "start"
        end = self._bound(self.query.end, end=True, fmt="%Y%m%d") or "now"
        return f"inspection-log_{site}_{start}-{end}.{fmt}"


def _entry_tuple(entry: Entry) -> EntryTuple:
    return (
        entry.site,
        entry.seq,
        entry.recorded_at,
        entry.occurred_at,
        entry.category,
        entry.actor,
        "",
        entry.prev_hash,
        entry.hash,
    )


def _parsed(entries: Iterable[Entry]) -> Iterator[tuple[EntryTuple, dict[str, Any]]]:
    return ((_entry_tuple(e), e.payload) for e in entries)


def _parse_rows(rows: Iterable[EntryTuple]) -> Iterator[tuple[EntryTuple, dict[str, Any]]]:
    for row in rows:
        text = row[6]
        # json.loads(text) without its whitespace skipping around the value, which stored
        # canonical text never has; anything else goes to json.loads itself.
        try:
            payload, end = _SCAN(text, 0)
        except StopIteration:
            payload, end = _LOADS(text), len(text)
        if end != len(text):
            payload = _LOADS(text)
        yield row, payload


# json.dumps(value, ensure_ascii=False, sort_keys=True) and json.loads, built once.
_DUMPS = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
_DECODER = json.JSONDecoder()
_LOADS = _DECODER.decode
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(cast(Any, _DECODER))
# How that encoder writes a string (with its quotes).
_STR: Callable[[str], str] = json.encoder.encode_basestring


def _spaced(canonical: str) -> str:
    """``_DUMPS(json.loads(canonical))`` of a payload's stored canonical JSON, without parsing.

    The canonical text has sorted keys, no whitespace and the same scalar text as ``_DUMPS``;
    the two differ only in the separators (``,`` and ``:`` against ``, `` and ``: ``). Without a
    backslash, no string holds a ``"``, so splitting on ``"`` leaves the text outside strings at
    even indexes: there every ``,`` and ``:`` is a separator.
    """
    if "\\" in canonical:
        return _DUMPS(_LOADS(canonical))
    parts = canonical.split('"')
    # JSON text holds no raw NUL (encoders escape control characters), so it can join the
    # outside parts for two replace calls in all.
    outside = "\0".join(parts[::2]).replace(",", ", ").replace(":", ": ")
    parts[::2] = outside.split("\0")
    return '"'.join(parts)


def csv_chunks(entries: Iterable[Entry], meta: ExportMeta, lang: Lang) -> Iterator[bytes]:
    """CSV (UTF-8 with BOM, CRLF), a chunk per few hundred rows."""
    return _csv(_parsed(entries), meta, lang)


def _csv(
    rows: Iterable[tuple[EntryTuple, dict[str, Any]]], meta: ExportMeta, lang: Lang
) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_CSV_HEADERS[lang])
    yield "\ufeff".encode() + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    local = _LocalTimes(meta.tz, _local)
    site_cells: dict[str, str] = {}
    labels = {category: category_label(category, lang) for category in CATEGORY_LABELS}
    batch: list[tuple[object, ...]] = []
    for row, payload in rows:
        site, seq, recorded_at, occurred_at, category, actor, text, _prev, digest = row
        site_cell = site_cells.get(site)
        if site_cell is None:
            site_cell = site_cells[site] = _cell(meta.site_name(site))
        batch.append(
            (
                site,
                site_cell,
                seq,
                local(occurred_at),
                local(recorded_at),
                labels.get(category, category),
                category,
                _cell(actor),
                _cell(_describe(category, payload, lang)),
                _spaced(text) if text else _DUMPS(payload),
                digest,
            )
        )
        if len(batch) == _CSV_ROWS_PER_CHUNK:
            writer.writerows(batch)
            batch.clear()
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if batch:
        writer.writerows(batch)
        yield buffer.getvalue().encode("utf-8")


# An EntryTuple whose payload is either its stored text or already parsed.
_JsonRow = tuple[str, int, str, str, str, str, str | dict[str, Any], str, str]


def json_chunks(
    items: Iterable[Entry | Link],
    meta: ExportMeta,
    signer: Signer | None = None,
    now: Callable[[], datetime] | None = None,
) -> Iterator[bytes]:
    """JSON with the chain: a header line, one entry (or link) per line, then heads."""
    return _json(map(_span_item, items), meta, signer, now)


def _span_item(item: Entry | Link) -> tuple[bool, _JsonRow]:
    if isinstance(item, Link):
        return False, (item.site, item.seq, "", "", "", "", "", item.prev_hash, item.hash)
    return True, (
        item.site,
        item.seq,
        item.recorded_at,
        item.occurred_at,
        item.category,
        item.actor,
        item.payload,
        item.prev_hash,
        item.hash,
    )


def _json(
    rows: Iterable[tuple[bool, _JsonRow]],
    meta: ExportMeta,
    signer: Signer | None = None,
    now: Callable[[], datetime] | None = None,
) -> Iterator[bytes]:
    exported_at = meta.exported_at or (now() if now else None)
    header = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "exported_at": format_ts(exported_at) if exported_at else None,
        "query": {
            "site": meta.query.site,
            "from": format_ts(meta.query.start) if meta.query.start else None,
            "to": format_ts(meta.query.end) if meta.query.end else None,
            "categories": sorted(meta.query.categories) if meta.query.categories else None,
        },
        "site_names": dict(meta.site_names),
        "hash": "sha256 of canonical JSON of the entry without 'hash' (sorted keys, no "
        "whitespace, UTF-8, timestamps UTC with 6 fractional digits)",
    }
    text = json.dumps(header, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    yield (text[:-1] + ',"entries":[\n').encode()
    heads: dict[str, tuple[int, str]] = {}
    count = 0
    lines: list[str] = []
    for matched, row in rows:
        site, seq, recorded_at, occurred_at, category, actor, payload, prev_hash, digest = row
        # The line json.dumps(entry or link, ensure_ascii=False, sort_keys=True) writes, put
        # together from its parts: the keys in sorted order, each value as that encoder
        # writes it.
        number = str(seq) if type(seq) is int else _DUMPS(seq)
        if matched:
            body = _spaced(payload) if isinstance(payload, str) else _DUMPS(payload)
            line = (
                f'{{"actor": {_STR(actor)}, "category": {_STR(category)}, '
                f'"hash": {_STR(digest)}, "occurred_at": {_STR(occurred_at)}, '
                f'"payload": {body}, "prev_hash": {_STR(prev_hash)}, '
                f'"recorded_at": {_STR(recorded_at)}, "seq": {number}, "site": {_STR(site)}}}'
            )
        else:
            line = (
                f'{{"hash": {_STR(digest)}, "link": true, "prev_hash": {_STR(prev_hash)}, '
                f'"seq": {number}, "site": {_STR(site)}}}'
            )
        lines.append("," + line if count else line)
        heads[site] = (seq, digest)
        count += 1
        if len(lines) >= _CSV_ROWS_PER_CHUNK:
            yield ("\n".join(lines) + "\n").encode()
            lines.clear()
    if lines:
        yield ("\n".join(lines) + "\n").encode()
    trailer: dict[str, Any] = {
        "count": count,
        "heads": [{"site": s, "seq": seq, "hash": h} for s, (seq, h) in heads.items()],
    }
    if signer is not None and signer.can_sign and exported_at is not None:
        trailer["signed_heads"] = [
            signer.sign(s, seq, h, exported_at).model_dump() for s, (seq, h) in heads.items()
        ]
    tail = json.dumps(trailer, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    yield ("]," + tail[1:] + "\n").encode()


_PDF_TEXT = {
    "zh": {
        "title": "消防安全检查记录",
        "site": "场所",
        "range": "时间范围",
        "generated": "生成时间",
        "entries": "记录条数",
        "tz": "时区",
        "summary": "分类汇总",
        "category": "类别",
        "count": "条数",
        "cols": ("序号", "发生时间", "类别", "记录人", "内容", "哈希"),
        "site_col": "场所",
        "empty": "该时间范围内没有记录。",
        "verify": "本记录为哈希链，可用 linli verify-log 核验；JSON 导出可离线核验。",
        "page": "第 {n} 页",
        "all": "全部场所",
    },
    "en": {
        "title": "Fire-safety inspection log",
        "site": "Site",
        "range": "Range",
        "generated": "Generated",
        "entries": "Entries",
        "tz": "Time zone",
        "summary": "Summary by category",
        "category": "Category",
        "count": "Count",
        "cols": ("Seq", "Occurred", "Category", "Actor", "Details", "Hash"),
        "site_col": "Site",
        "empty": "No entries in this range.",
        "verify": "The log is hash-chained: check it with linli verify-log; the JSON export "
        "verifies offline.",
        "page": "Page {n}",
        "all": "All sites",
    },
}


def pdf_chunks(
    entries: Iterable[Entry],
    meta: ExportMeta,
    lang: Lang,
    font: CjkFont,
    summary: Mapping[str, int],
) -> Iterator[bytes]:
    """PDF: cover (site, range, summary table), then the entries, a page at a time."""
    return _pdf(_parsed(entries), meta, lang, font, summary)


def _pdf(
    rows: Iterable[tuple[EntryTuple, dict[str, Any]]],
    meta: ExportMeta,
    lang: Lang,
    font: CjkFont,
    summary: Mapping[str, int],
) -> Iterator[bytes]:
    t = _PDF_TEXT[lang]
    site_title = (
        f"{meta.site_name(meta.query.site)}（{meta.query.site}）"
        if meta.query.site
        else str(t["all"])
    )
    pdf = StreamingPdf(font, f"{t['title']} — {site_title}")
    width, height = pdf.width, pdf.height
    margin = 36.0
    yield pdf.start()

    page_no = 0

    def footer(canvas: Any) -> None:
        canvas.text(margin, 20, f"{t['title']} · {site_title}", 7, gray=0.4)
        canvas.text_right(width - margin, 20, str(t["page"]).format(n=page_no), 7)

    # Cover and summary.
    page_no += 1
    cover = pdf.canvas()
    y = height - 90
    cover.text(margin, y, str(t["title"]), 22)
    y -= 40
    total = sum(summary.values())
    exported = (
        meta.exported_at.astimezone(meta.tz).isoformat(sep=" ", timespec="seconds")
        if (meta.exported_at)
        else "—"
    )
    for label, value in (
        (t["site"], site_title),
        (t["range"], meta.range_text(lang)),
        (t["generated"], exported),
        (t["entries"], str(total)),
        (t["tz"], str(meta.tz)),
    ):
        cover.text(margin, y, f"{label}：{value}" if lang == "zh" else f"{label}: {value}", 12)
        y -= 20
    y -= 10
    cover.text(margin, y, str(t["verify"]), 9, gray=0.3)
    y -= 30
    cover.text(margin, y, str(t["summary"]), 14)
    y -= 8
    col_w = (260.0, 80.0)
    cover.line(margin, y, margin + sum(col_w), y, 1)
    y -= 14
    cover.text(margin + 4, y, str(t["category"]), 10)
    cover.text_right(margin + sum(col_w) - 4, y, str(t["count"]), 10)
    y -= 6
    cover.line(margin, y, margin + sum(col_w), y)
    for category in CATEGORY_LABELS:
        n = summary.get(category, 0)
        if not n:
            continue
        y -= 14
        cover.text(margin + 4, y, category_label(category, lang), 10)
        cover.text_right(margin + sum(col_w) - 4, y, str(n), 10)
    if total == 0:
        y -= 14
        cover.text(margin + 4, y, str(t["empty"]), 10)
    y -= 6
    cover.line(margin, y, margin + sum(col_w), y, 1)
    footer(cover)
    yield pdf.page(cover)

    multi_site = meta.query.site is None
    cols = list(t["cols"])
    widths = [40.0, 100.0, 95.0, 80.0, 0.0, 70.0]
    if multi_site:
        cols.insert(0, str(t["site_col"]))
        widths.insert(0, 70.0)
    detail_index = cols.index(t["cols"][4])
    widths[detail_index] = width - 2 * margin - sum(widths)
    size = 8.0
    line_h = 10.0

    canvas = None
    y = 0.0
    local = _LocalTimes(meta.tz, _local_short)
    for row, payload in rows:
        site, seq, _recorded, occurred_at, category, actor, _text, _prev, digest = row
        cells = [
            str(seq),
            local(occurred_at),
            category_label(category, lang),
            actor,
            _describe(category, payload, lang),
            digest[:12],
        ]
        if multi_site:
            cells.insert(0, site)
        wrapped = [
            font.wrap(cell, size, w - 6, 3 if i == detail_index else 1)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        row_h = max(len(lines) for lines in wrapped) * line_h + 4
        if canvas is None or y - row_h < 40:
            if canvas is not None:
                footer(canvas)
                yield pdf.page(canvas)
            page_no += 1
            canvas = pdf.canvas()
            y = height - margin
            canvas.rect(margin, y - 16, width - 2 * margin, 16)
            x = margin
            for col, w in zip(cols, widths, strict=True):
                canvas.text(x + 3, y - 12, col, 9)
                x += w
            y -= 16
        x = margin
        for lines, w in zip(wrapped, widths, strict=True):
            for i, text in enumerate(lines):
                canvas.text(x + 3, y - 10 - i * line_h, text, size)
            x += w
        y -= row_h
        canvas.line(margin, y, width - margin, y, 0.3)
    if canvas is not None:
        footer(canvas)
        yield pdf.page(canvas)
    yield from pdf.finish(meta.exported_at)


class Exporter:
    """Exports straight from an :class:`InspectionLog`."""

    def __init__(
        self,
        log: InspectionLog,
        *,
        site_names: Mapping[str, str] | None = None,
        tz: tzinfo | None = None,
        font: Callable[[], CjkFont] | None = None,
        signer: Signer | None = None,
    ) -> None:
        self._log = log
        self._site_names = dict(site_names or {})
        self._tz = tz or ZoneInfo("Asia/Shanghai")
        self._font = font
        self._signer = signer

    def meta(self, query: Query) -> ExportMeta:
        return ExportMeta(
            query=query,
            site_names=self._site_names,
            tz=self._tz,
            exported_at=self._log.clock.now(),
        )

    def count(self, query: Query) -> int:
        return self._log.count(query)

    def chunks(
        self,
        query: Query,
        fmt: ExportFormat,
        lang: Lang = "zh",
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[bytes]:
        """The export of ``query`` in ``fmt`` as byte chunks; ``progress`` gets the number of
        entries written so far, every few hundred."""
        meta = self.meta(query)

        def counted(items: Iterable[_T]) -> Iterator[_T]:
            done = 0
            for item in items:
                yield item
                done += 1
                if progress is not None and done % _PROGRESS_EVERY == 0:
                    progress(done)
            if progress is not None:
                progress(done)

        if fmt == "csv":
            return _csv(counted(_parse_rows(self._log.rows(query))), meta, lang)
        if fmt == "json":
            return _json(counted(self._log.span_rows(query)), meta, self._signer)
        if self._font is None:
            from ingest_server.inspection_log._pdfwriter import find_cjk_font, load_font

            font = load_font(find_cjk_font())
        else:
            font = self._font()
        summary = self._log.counts_by_category(query)
        return _pdf(counted(_parse_rows(self._log.rows(query))), meta, lang, font, summary)
