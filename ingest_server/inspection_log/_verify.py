"""Chain verification: one pass over entries (from the database or an export file), in constant
memory, naming the first bad entry and why.

Checks per entry, in this order, against the previous entry of the same site:

1. ``seq`` is the previous seq + 1. Higher means entries are missing (deleted); lower, or the
   next entry carrying the skipped seq, means entries were reordered.
2. ``prev_hash`` equals the previous entry's ``hash``; otherwise entries were reordered or
   spliced in, or the previous entry was altered and re-hashed.
3. ``hash`` equals SHA-256 of the canonical serialisation; otherwise the entry was edited.

A :class:`Link` (an entry left out of a filtered export: only seq, prev_hash, hash) takes part in
checks 1 and 2 only.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ingest_server.inspection_log._errors import BadExportFile
from ingest_server.inspection_log._models import GENESIS_HASH, Entry

__all__ = [
    "EXPORT_FORMAT",
    "Anchor",
    "Link",
    "Problem",
    "SegmentInfo",
    "VerifyReport",
    "read_export",
    "verify_chain",
    "verify_export_file",
]

EXPORT_FORMAT = "linli-inspection-log"


class Link(BaseModel):
    """An entry present in the chain but left out of a filtered export."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    site: str
    seq: int
    prev_hash: str
    hash: str


class Anchor(BaseModel):
    """Where a chain is known to start: the seq and hash of the entry before the first one."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int
    hash: str


class Problem(enum.StrEnum):
    EDITED = "edited"  # hash does not match the content
    MISSING = "missing"  # a seq gap: entries deleted
    REORDERED = "reordered"  # seq out of order
    CHAIN_BROKEN = "chain_broken"  # prev_hash mismatch: spliced, reordered or re-hashed
    MALFORMED = "malformed"  # not an entry at all


@dataclass
class SegmentInfo:
    """What was verified of one site."""

    first_seq: int
    last_seq: int
    head_hash: str
    count: int
    from_genesis: bool


@dataclass
class VerifyReport:
    """The outcome of a verification; ``bad_*`` name the first bad entry when ``ok`` is false."""

    ok: bool = True
    checked: int = 0
    sites: dict[str, SegmentInfo] = field(default_factory=dict)
    bad_site: str | None = None
    bad_seq: int | None = None
    bad_position: int | None = None
    problem: Problem | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "sites": {
                site: {
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq,
                    "head_hash": s.head_hash,
                    "count": s.count,
                    "from_genesis": s.from_genesis,
                }
                for site, s in self.sites.items()
            },
            "bad_site": self.bad_site,
            "bad_seq": self.bad_seq,
            "bad_position": self.bad_position,
            "problem": self.problem.value if self.problem else None,
            "reason": self.reason,
        }

    def summary(self) -> str:
        """One line for a terminal."""
        if self.ok:
            heads = ", ".join(
                f"{site} seq {s.first_seq}..{s.last_seq} head {s.head_hash[:16]}"
                for site, s in self.sites.items()
            )
            return f"OK: {self.checked} entries verified ({heads or 'empty'})"
        if self.bad_seq is None:
            return f"BAD: {self.problem}: {self.reason}"
        return (
            f"BAD: entry seq {self.bad_seq} of site {self.bad_site} "
            f"(position {self.bad_position}): {self.problem}: {self.reason}"
        )


def _fail(
    report: VerifyReport, item: Entry | Link, pos: int, problem: Problem, reason: str
) -> VerifyReport:
    report.ok = False
    report.bad_site = item.site
    report.bad_seq = item.seq
    report.bad_position = pos
    report.problem = problem
    report.reason = reason
    return report


def _lookahead(items: Iterable[Entry | Link]) -> Iterator[tuple[Entry | Link, Entry | Link | None]]:
    it = iter(items)
    current = next(it, None)
    while current is not None:
        following = next(it, None)
        yield current, following
        current = following


def verify_chain(
    items: Iterable[Entry | Link],
    *,
    anchors: dict[str, Anchor | None] | None = None,
) -> VerifyReport:
    """Verify entries grouped by site, each site in seq order.

    ``anchors`` says where each site's chain must start: a site mapped to ``None`` must start at
    seq 1 after the genesis hash; a site mapped to an :class:`Anchor` right after it; a site not
    in ``anchors`` (an export of a range) is trusted from its first entry on.
    """
    report = VerifyReport()
    anchors = anchors or {}
    seen_sites: set[str] = set()
    site: str | None = None
    expected_seq = 0
    expected_prev: str | None = None
    for pos, (item, following) in enumerate(_lookahead(items), start=1):
        if item.site != site:
            if item.site in seen_sites:
                return _fail(
                    report, item, pos, Problem.REORDERED, "site's entries are not contiguous"
                )
            seen_sites.add(item.site)
            site = item.site
            if site in anchors:
                anchor = anchors[site]
                expected_seq = anchor.seq + 1 if anchor else 1
                expected_prev = anchor.hash if anchor else GENESIS_HASH
            else:
                expected_seq = item.seq
                expected_prev = None
            report.sites[site] = SegmentInfo(
                first_seq=item.seq,
                last_seq=item.seq,
                head_hash=item.hash,
                count=0,
                from_genesis=item.seq == 1 and item.prev_hash == GENESIS_HASH,
            )
        if item.seq != expected_seq:
            if (
                item.seq == expected_seq + 1
                and following is not None
                and following.seq == expected_seq
                and following.site == item.site
            ):
                return _fail(
                    report,
                    item,
                    pos,
                    Problem.REORDERED,
                    f"seq {item.seq} comes before seq {expected_seq}",
                )
            if item.seq > expected_seq:
                missing = (
                    f"seq {expected_seq}"
                    if item.seq == expected_seq + 1
                    else f"seq {expected_seq}..{item.seq - 1}"
                )
                return _fail(
                    report,
                    item,
                    pos,
                    Problem.MISSING,
                    f"expected seq {expected_seq}: {missing} missing (deleted)",
                )
            return _fail(
                report,
                item,
                pos,
                Problem.REORDERED,
                f"expected seq {expected_seq}, found seq {item.seq} (out of order or duplicated)",
            )
        if expected_prev is not None and item.prev_hash != expected_prev:
            what = (
                f"seq {item.seq - 1}"
                if report.sites[item.site].count > 0
                else "the chain's anchor (genesis or the last purged entry)"
            )
            return _fail(
                report,
                item,
                pos,
                Problem.CHAIN_BROKEN,
                f"prev_hash does not match the hash of {what}: entries reordered or spliced, "
                "or the previous entry was altered and re-hashed",
            )
        if isinstance(item, Entry) and item.computed_hash() != item.hash:
            return _fail(
                report,
                item,
                pos,
                Problem.EDITED,
                "hash does not match the entry's content: the entry was edited",
            )
        segment = report.sites[item.site]
        segment.last_seq = item.seq
        segment.head_hash = item.hash
        segment.count += 1
        report.checked += 1
        expected_seq = item.seq + 1
        expected_prev = item.hash
    return report


def _item(obj: Any) -> Entry | Link:
    if not isinstance(obj, dict):
        raise BadExportFile("an entry is not a JSON object")
    model: type[Entry] | type[Link] = Link if obj.get("link") else Entry
    data = {k: v for k, v in obj.items() if k != "link"}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadExportFile(f"entry seq {obj.get('seq')!r} is malformed: {exc}") from exc


def _stream_lines(stream: IO[str]) -> Iterator[Entry | Link] | None:
    """Entries of an export written by this package (one entry per line), in constant memory."""
    first = stream.readline()
    if not first.startswith("{") or not first.rstrip().endswith('"entries":['):
        return None
    header = json.loads(first.rstrip() + "]}")
    if header.get("format") != EXPORT_FORMAT:
        raise BadExportFile(f"not a {EXPORT_FORMAT} export")

    def entries() -> Iterator[Entry | Link]:
        for line in stream:
            text = line.strip()
            if text.startswith("]"):
                return
            yield _item(json.loads(text.strip(",")))
        raise BadExportFile("export ends inside the entry list")

    return entries()


def read_export(stream: IO[str]) -> Iterator[Entry | Link]:
    """The entries of a JSON export, streamed when it is in this package's line layout."""
    try:
        streamed = _stream_lines(stream)
        if streamed is not None:
            yield from streamed
            return
        stream.seek(0)
        document = json.load(stream)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadExportFile(f"not JSON: {type(exc).__name__}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise BadExportFile(f"not a {EXPORT_FORMAT} export")
    for obj in document.get("entries", []):
        yield _item(obj)


def verify_export_file(path: Path) -> VerifyReport:
    """Verify a JSON export offline."""
    with path.open(encoding="utf-8") as stream:
        try:
            return verify_chain(read_export(stream))
        except BadExportFile as exc:
            report = VerifyReport(ok=False, problem=Problem.MALFORMED, reason=str(exc))
            return report
