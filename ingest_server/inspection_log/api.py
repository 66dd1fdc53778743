"""HTTP API of the inspection log: manual records, corrections, reading, verification, signed
heads, streamed exports and reports.

Needs ``request.app.state.inspection`` to be an :class:`InspectionService`. Handlers are plain
``def`` (FastAPI runs them in its thread pool) and exports are sync generators that Starlette
iterates in a worker thread, so database and file I/O never block the event loop.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import ValidationError

from ingest_server.auth import Permission, Principal, visible_sites
from ingest_server.inspection_log._errors import (
    BadExportFile,
    FontMissing,
    InspectionLogError,
    InvalidRecord,
    SignatureError,
)
from ingest_server.inspection_log._log import Query as LogQuery
from ingest_server.inspection_log._models import Category
from ingest_server.inspection_log._service import InspectionService
from ingest_server.inspection_log._signing import SignedHead, check_extends
from ingest_server.inspection_log._verify import read_export, verify_chain

__all__ = ["MEDIA_TYPES", "router"]

router = APIRouter(prefix="/inspection-log", tags=["inspection"])

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "pdf": "application/pdf",
}


def _service(request: Request) -> InspectionService:
    service = getattr(request.app.state, "inspection", None)
    if not isinstance(service, InspectionService):
        raise HTTPException(503, "the inspection log is not configured")
    return service


def _unprocessable(exc: InvalidRecord) -> HTTPException:
    loc = ["body", *exc.field.split(".")]
    return HTTPException(
        422, [{"loc": loc, "msg": exc.message, "type": "value_error", "field": exc.field}]
    )


def _bound(value: str | None, service: InspectionService, *, end: bool) -> datetime | None:
    """A date (whole local day; an end date is inclusive) or an aware ISO datetime."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=service.settings.zone())
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise HTTPException(422, f"{'to' if end else 'from'}: not a date or datetime") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=service.settings.zone())
    return parsed


def _categories(values: list[str] | None) -> frozenset[Category] | None:
    if not values:
        return None
    try:
        return frozenset(Category(v) for v in values)
    except ValueError as exc:
        raise HTTPException(422, f"category: {exc}") from exc


@router.post("/{site}/records", status_code=201)
def record_manual(
    site: str, request: Request, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Record a patrol, periodic check, equipment test or maintenance."""
    service = _service(request)
    principal = getattr(request.state, "principal", None)
    if (
        isinstance(principal, Principal)
        and body.get("category") != "patrol"
        and not principal.can(Permission.INSPECTION_RECORD)
    ):
        raise HTTPException(403, f"role {principal.role} may record patrols only")
    # The log's actor is who signed in; ``inspector`` stays the name written on the record.
    actor = principal.actor if isinstance(principal, Principal) else None
    try:
        return service.log.record_manual(site, body, actor=actor).model_dump()
    except InvalidRecord as exc:
        raise _unprocessable(exc) from exc


@router.post("/{site}/corrections", status_code=201)
def correct(site: str, request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Append a correction of an earlier entry: ``{corrects_seq, reason, actor, amended}``."""
    service = _service(request)
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        # The signed-in principal corrects; a claimed actor must be them.
        if body.get("actor") not in (None, principal.username, principal.actor):
            raise _unprocessable(InvalidRecord("actor", "must be the signed-in user or omitted"))
        body = {**body, "actor": principal.actor}
    for name in ("corrects_seq", "reason", "actor"):
        if not body.get(name):
            raise _unprocessable(InvalidRecord(name, "required"))
    if not isinstance(body["corrects_seq"], int):
        raise _unprocessable(InvalidRecord("corrects_seq", "must be an integer"))
    try:
        entry = service.log.correct(
            site,
            body["corrects_seq"],
            str(body["reason"]),
            str(body["actor"]),
            body.get("amended") or {},
        )
    except InvalidRecord as exc:
        raise _unprocessable(exc) from exc
    return entry.model_dump()


@router.get("/{site}/entries")
def entries(
    site: str,
    request: Request,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    category: Annotated[list[str] | None, Query()] = None,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """A page of entries in seq order; pass the last seq as ``after_seq`` for the next page."""
    service = _service(request)
    query = LogQuery(
        site=site,
        start=_bound(start, service, end=False),
        end=_bound(end, service, end=True),
        categories=_categories(category),
    )
    page: list[dict[str, Any]] = []
    for entry in service.log.entries(query, after_seq=after_seq):
        page.append(entry.model_dump())
        if len(page) >= limit:
            break
    return {"entries": page, "next_after_seq": page[-1]["seq"] if len(page) == limit else None}


@router.get("/{site}/verify")
def verify(site: str, request: Request) -> dict[str, Any]:
    """Verify the site's stored chain; names the first bad entry."""
    return _service(request).log.verify(site).as_dict()


@router.get("/{site}/head")
def signed_head(site: str, request: Request) -> dict[str, Any]:
    """The site's head (seq, hash), signed with the configured key."""
    service = _service(request)
    try:
        return service.log.sign_head(site).model_dump()
    except SignatureError as exc:
        raise HTTPException(503, str(exc)) from exc


# A year of a busy site's log as JSON is tens of MB; the app's 1 MiB default is for the rest.
@router.post("/verify-export", max_body_size=256 << 20)
async def verify_export(request: Request) -> dict[str, Any]:
    """Verify a JSON export sent as the request body (offline check, server side)."""
    raw = await request.body()
    try:
        report = verify_chain(read_export(io.StringIO(raw.decode("utf-8"))))
    except (BadExportFile, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"not an inspection-log export: {exc}") from exc
    return report.as_dict()


@router.post("/extends")
def extends(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Whether ``body.export`` (a JSON export) extends ``body.head`` (an earlier signed head)."""
    service = _service(request)
    if service.log.signer is None:
        raise HTTPException(503, "no signing key: set LINLI_INSPECTION_SIGNING_KEY")
    try:
        head = SignedHead.model_validate(body.get("head"))
        export = io.StringIO(json.dumps(body.get("export")))
        result = check_extends(read_export(export), head, service.log.signer)
    except ValidationError as exc:
        raise HTTPException(422, f"head: {exc.errors()[0]['msg']}") from exc
    except BadExportFile as exc:
        raise HTTPException(422, f"export: {exc}") from exc
    return {"extends": result.ok, "reason": result.reason}


@router.get("/export")
def export(
    request: Request,
    site: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    category: Annotated[list[str] | None, Query()] = None,
    fmt: Annotated[Literal["csv", "json", "pdf"], Query(alias="format")] = "csv",
    lang: Literal["zh", "en"] = "zh",
) -> StreamingResponse:
    """Stream an export of one site (or all) for a range, optionally of some categories."""
    service = _service(request)
    if site is None and visible_sites(request) is not None:
        raise HTTPException(422, "name the site to export (?site=); you may not export all")
    query = LogQuery(
        site=site,
        start=_bound(start, service, end=False),
        end=_bound(end, service, end=True),
        categories=_categories(category),
    )
    try:
        chunks = service.exporter.chunks(query, fmt, lang)
    except FontMissing as exc:
        raise HTTPException(503, str(exc)) from exc
    name = service.exporter.meta(query).file_name(fmt)
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/{site}/reports/{kind}")
def make_report(
    site: str,
    kind: Literal["monthly", "quarterly"],
    request: Request,
    day: Annotated[date, Query(description="any day of the month or quarter")],
    lang: Literal["zh", "en"] = "zh",
) -> dict[str, Any]:
    """Generate a report now (kept on disk like the scheduled ones)."""
    service = _service(request)
    try:
        if kind == "monthly":
            path = service.reports.monthly(site, day, lang)
        else:
            path = service.reports.quarterly(site, day, lang)
    except FontMissing as exc:
        raise HTTPException(503, str(exc)) from exc
    except InspectionLogError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"name": path.name, "url": f"/inspection-log/{site}/reports/{path.name}"}


@router.get("/{site}/reports")
def list_reports(site: str, request: Request) -> dict[str, Any]:
    """Reports kept for a site."""
    return {"reports": [p.name for p in _service(request).reports.listing(site)]}


@router.get("/{site}/reports/{name}")
def get_report(site: str, name: str, request: Request) -> FileResponse:
    """Download a kept report."""
    for path in _service(request).reports.listing(site):
        if path.name == name:
            return FileResponse(path, media_type="application/pdf", filename=name)
    raise HTTPException(404, "no such report")
