"""What ``linli verify-log`` and ``linli export`` do, behind the thin dispatcher in linli_cli."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Literal

from pydantic import ValidationError

from ingest_server.db import make_engine
from ingest_server.inspection_log._errors import InspectionLogError, SignatureError
from ingest_server.inspection_log._log import Query
from ingest_server.inspection_log._models import Category
from ingest_server.inspection_log._service import InspectionService
from ingest_server.inspection_log._settings import InspectionSettings
from ingest_server.inspection_log._signing import Ed25519Signer, SignedHead, check_extends
from ingest_server.inspection_log._verify import read_export, verify_export_file
from protocol import SystemClock

__all__ = ["run_export", "run_verify_log"]

# Ranges with fewer entries finish before a progress display would be read.
_PROGRESS_MIN_ENTRIES = 5000


def _service(
    db: str, settings: InspectionSettings, site_names: dict[str, str]
) -> InspectionService:
    engine = make_engine(db)
    service = InspectionService.build(settings, engine, SystemClock(), site_names=site_names)
    service.log.create_tables()
    return service


def run_verify_log(
    *,
    settings: InspectionSettings,
    db: str | None,
    site: str | None,
    file: Path | None,
    head: Path | None,
    emit_head: Path | None,
    public_key: Path | None = None,
    out: IO[str] = sys.stdout,
) -> int:
    """Verify a site's chain in a database, or a JSON export offline. 0 = good, 1 = bad."""
    if file is None and (db is None or site is None):
        out.write("linli verify-log: give --file, or --db and --site\n")
        return 2
    service: InspectionService | None = None
    if file is not None:
        report = verify_export_file(file)
    else:
        site = site or ""
        service = _service(db or "", settings, {})
        report = service.log.verify(site)
        if report.ok and emit_head is not None:
            try:
                signed = service.log.sign_head(site)
            except SignatureError as exc:
                out.write(f"linli verify-log: {exc}\n")
                return 2
            emit_head.write_text(signed.model_dump_json(indent=2) + "\n", encoding="utf-8")
            out.write(f"signed head written to {emit_head}\n")
    out.write(report.summary() + "\n")
    if not report.ok:
        return 1
    if head is not None:
        try:
            earlier = SignedHead.model_validate_json(head.read_text(encoding="utf-8"))
            # The public key itself is the identity; the head's key id is only its label.
            signer = (
                Ed25519Signer.from_public_pem(public_key.read_bytes(), earlier.key_id)
                if public_key is not None
                else settings.signer()
            )
        except (ValidationError, SignatureError, OSError) as exc:
            out.write(f"linli verify-log: cannot check --head: {exc}\n")
            return 2
        if signer is None:
            out.write(
                "cannot check --head: give --public-key (Ed25519) or set "
                "LINLI_INSPECTION_SIGNING_KEY (HMAC)\n"
            )
            return 2
        if file is not None:
            with file.open(encoding="utf-8") as stream:
                result = check_extends(read_export(stream), earlier, signer)
        else:
            assert service is not None
            result = check_extends(service.log.entries(Query(site=site)), earlier, signer)
        out.write(("EXTENDS: " if result.ok else "DOES NOT EXTEND: ") + result.reason + "\n")
        return 0 if result.ok else 1
    return 0


def parse_bound(value: str | None, settings: InspectionSettings, *, end: bool) -> datetime | None:
    """YYYY-MM-DD (a whole local day; an end date is inclusive) or an ISO datetime."""
    if value is None:
        return None
    if len(value) == 10:
        day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
        return datetime.combine(day, time(0), tzinfo=settings.zone())
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=settings.zone())


class _Progress:
    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = -1

    def __call__(self, done: int) -> None:
        if self.total < _PROGRESS_MIN_ENTRIES:
            return
        pct = min(100, done * 100 // max(1, self.total))
        if self.tty:
            self.stream.write(f"\r  {done:,} / {self.total:,} entries ({pct}%)")
        elif pct // 10 != self.shown:
            self.shown = pct // 10
            self.stream.write(f"  {done:,} / {self.total:,} entries ({pct}%)\n")
        self.stream.flush()

    def end(self) -> None:
        if self.total >= _PROGRESS_MIN_ENTRIES and self.tty:
            self.stream.write("\n")


def run_export(
    *,
    settings: InspectionSettings,
    db: str,
    site: str | None,
    start: str | None,
    end: str | None,
    categories: Sequence[str],
    fmt: Literal["csv", "json", "pdf"],
    lang: Literal["zh", "en"],
    out_path: Path,
    site_names: dict[str, str],
    err: IO[str] = sys.stderr,
) -> int:
    """Write an export to ``out_path`` with a progress display for long ranges."""
    service = _service(db, settings, site_names)
    try:
        query = Query(
            site=site,
            start=parse_bound(start, settings, end=False),
            end=parse_bound(end, settings, end=True),
            categories=frozenset(Category(c) for c in categories) or None,
        )
    except ValueError as exc:
        err.write(f"linli export: {exc}\n")
        return 2
    total = service.exporter.count(query)
    progress = _Progress(total, err)
    tmp = out_path.with_name(f".{out_path.name}.part")
    try:
        with tmp.open("wb") as sink:
            for chunk in service.exporter.chunks(query, fmt, lang, progress=progress):
                sink.write(chunk)
        tmp.replace(out_path)
    except InspectionLogError as exc:
        tmp.unlink(missing_ok=True)
        err.write(f"linli export: {exc}\n")
        return 1
    progress.end()
    err.write(f"{total} entries written to {out_path}\n")
    return 0
