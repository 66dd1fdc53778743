"""The inspection log service: appends to per-site hash chains, reads them back, verifies, signs
and purges past retention. Synchronous (SQLAlchemy Core); async callers use the ``*_async``
wrappers, which run in a worker thread.

Appends to one site are serialised by a per-site lock in the process and, across processes, by
the unique ``(site, seq)`` constraint: a writer that loses the race re-reads the head and retries,
so the chain never forks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, Select, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from ingest_server.inspection_log._errors import ChainConflict, InvalidRecord, SignatureError
from ingest_server.inspection_log._manual import ManualRecord, parse_manual_record
from ingest_server.inspection_log._models import (
    GENESIS_HASH,
    PAYLOAD_TYPES,
    TEST_AND_MAINTENANCE,
    Category,
    Correction,
    Entry,
    RetentionPurge,
    canonical_json,
    entry_hash,
    format_ts,
)
from ingest_server.inspection_log._signing import SignedHead, Signer
from ingest_server.inspection_log._tables import (
    ANCHORS,
    ENTRIES,
    PERMITS,
    AnchorRow,
    PurgePermitRow,
    create_tables,
)
from ingest_server.inspection_log._verify import Anchor, Link, VerifyReport, verify_chain
from protocol import Clock

__all__ = [
    "DAYS_5_YEARS",
    "EntryTuple",
    "Head",
    "InspectionLog",
    "NewEntry",
    "Query",
    "RetentionPolicy",
]

log = logging.getLogger(__name__)

# Five years including leap days: the floor for test and maintenance records (GB 25201).
DAYS_5_YEARS = 1827
# Losing the (site, seq) race more often than this means something else is wrong.
_MAX_APPEND_ATTEMPTS = 20
# Rows fetched per round trip when streaming: big enough to amortise queries, small in memory.
_STREAM_BATCH = 2000

_E = ENTRIES.c


@dataclass(frozen=True)
class Head:
    """A site's newest entry."""

    site: str
    seq: int
    hash: str


@dataclass(frozen=True)
class RetentionPolicy:
    """How long entries are kept, in days; test and maintenance records at least five years."""

    default_days: int = DAYS_5_YEARS
    test_and_maintenance_days: int = DAYS_5_YEARS

    def __post_init__(self) -> None:
        if self.test_and_maintenance_days < DAYS_5_YEARS:
            raise ValueError(
                f"test and maintenance records are kept at least {DAYS_5_YEARS} days (5 years)"
            )
        if self.default_days < 365:
            raise ValueError("inspection entries are kept at least 365 days")

    def days_for(self, category: str) -> int:
        if category in TEST_AND_MAINTENANCE:
            return max(self.test_and_maintenance_days, self.default_days)
        return self.default_days


@dataclass(frozen=True)
class Query:
    """Which entries to read: a site (``None`` = all sites), a range on ``occurred_at``
    (``start`` inclusive, ``end`` exclusive) and categories (``None`` = all)."""

    site: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    categories: frozenset[Category] | None = None

    def matches(self, entry: Entry) -> bool:
        return self.matcher()(entry.site, entry.occurred_at, entry.category)

    def matcher(self) -> Callable[[str, str, str], bool]:
        """``matches`` on (site, occurred_at, category), with the bounds formatted once."""
        site, categories = self.site, self.categories
        start = format_ts(self.start) if self.start is not None else None
        end = format_ts(self.end) if self.end is not None else None

        def match(entry_site: str, occurred_at: str, category: str) -> bool:
            if site is not None and entry_site != site:
                return False
            if start is not None and occurred_at < start:
                return False
            if end is not None and occurred_at >= end:
                return False
            return categories is None or category in categories

        return match


# An entry as stored: (site, seq, recorded_at, occurred_at, category, actor, payload as its
# canonical JSON text, prev_hash, hash). Exports format these directly: building an Entry model
# per row costs more than formatting the row.
EntryTuple = tuple[str, int, str, str, str, str, str, str, str]

_ROW_COLUMNS = (
    _E.site,
    _E.seq,
    _E.recorded_at,
    _E.occurred_at,
    _E.category,
    _E.actor,
    _E.payload,
    _E.prev_hash,
    _E.hash,
)


def _fetch_all(conn: Connection, statement: Select[Any]) -> list[EntryTuple]:
    """The rows of ``statement`` as the driver returns them: every column is text or an
    integer, so SQLAlchemy's per-row result processing would only add cost."""
    result = conn.execute(statement)
    try:
        rows = cast(list[EntryTuple], result.cursor.fetchall())
    finally:
        result.close()
    return rows


def _row_entry(row: EntryTuple) -> Entry:
    site, seq, recorded_at, occurred_at, category, actor, payload, prev_hash, digest = row
    return Entry(
        site=site,
        seq=seq,
        recorded_at=recorded_at,
        occurred_at=occurred_at,
        category=category,
        actor=actor,
        payload=json.loads(payload),
        prev_hash=prev_hash,
        hash=digest,
    )


def _validate_payload(category: Category, payload: BaseModel | Mapping[str, Any]) -> BaseModel:
    model = PAYLOAD_TYPES[category]
    if isinstance(payload, BaseModel):
        if not isinstance(payload, model):
            raise InvalidRecord(
                "payload", f"{category} takes {model.__name__}, not {type(payload).__name__}"
            )
        return payload
    try:
        return model.model_validate(dict(payload))
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in ("payload", *first["loc"]))
        raise InvalidRecord(path, first["msg"]) from exc


@dataclass(frozen=True)
class NewEntry:
    """An entry to append: what, with which payload, by whom, when (default: now)."""

    category: Category | str
    payload: BaseModel | Mapping[str, Any]
    actor: str
    occurred_at: datetime | None = None


def _prepare(item: NewEntry) -> tuple[Category, dict[str, Any], str, datetime | None]:
    try:
        category = Category(item.category)
    except ValueError as exc:
        raise InvalidRecord("category", f"unknown category {item.category!r}") from exc
    if not item.actor or len(item.actor) > 128:
        raise InvalidRecord("actor", "an actor of 1 to 128 characters is required")
    if item.occurred_at is not None and item.occurred_at.tzinfo is None:
        raise InvalidRecord("occurred_at", "must be timezone-aware")
    body = _validate_payload(category, item.payload).model_dump(mode="json")
    return category, body, item.actor, item.occurred_at


class InspectionLog:
    """Append-only, hash-chained inspection log per site on the records database."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        retention: RetentionPolicy | None = None,
        signer: Signer | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.retention = retention or RetentionPolicy()
        self.signer = signer
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @property
    def clock(self) -> Clock:
        return self._clock

    def create_tables(self) -> None:
        """Create the tables and guards if missing (the app's ``create_all`` does it too)."""
        create_tables(self._engine)

    def _lock(self, site: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(site, threading.Lock())

    # -- writing ----------------------------------------------------------------------------

    def append(
        self,
        site: str,
        category: Category | str,
        payload: BaseModel | Mapping[str, Any],
        actor: str,
        occurred_at: datetime | None = None,
    ) -> Entry:
        """Append an entry; ``occurred_at`` defaults to now. Returns the stored entry."""
        return self.append_many(site, [NewEntry(category, payload, actor, occurred_at)])[0]

    def append_many(self, site: str, items: Iterable[NewEntry]) -> list[Entry]:
        """Append several entries to one site in one transaction (all or none), in order."""
        if not site or len(site) > 64:
            raise InvalidRecord("site", "a site id of 1 to 64 characters is required")
        prepared = [_prepare(item) for item in items]
        if not prepared:
            return []
        with self._lock(site):
            for _attempt in range(_MAX_APPEND_ATTEMPTS):
                try:
                    return self._append_batch(site, prepared)
                except IntegrityError:
                    log.warning("inspection log: seq race on site %s, retrying", site)
            raise ChainConflict(f"could not append to {site} after {_MAX_APPEND_ATTEMPTS} tries")

    def _append_batch(
        self, site: str, prepared: list[tuple[Category, dict[str, Any], str, datetime | None]]
    ) -> list[Entry]:
        stored: list[Entry] = []
        with self._engine.begin() as conn:
            head = conn.execute(
                select(_E.seq, _E.hash).where(_E.site == site).order_by(_E.seq.desc()).limit(1)
            ).first()
            if head is None:
                anchor = conn.execute(
                    select(AnchorRow.seq, AnchorRow.hash).where(AnchorRow.site == site)
                ).first()
                seq, prev = (anchor.seq + 1, anchor.hash) if anchor else (1, GENESIS_HASH)
            else:
                seq, prev = head.seq + 1, head.hash
            recorded = format_ts(self._clock.now())
            rows: list[dict[str, Any]] = []
            for category, payload, actor, occurred_at in prepared:
                fields: dict[str, Any] = {
                    "site": site,
                    "seq": seq,
                    "recorded_at": recorded,
                    "occurred_at": format_ts(occurred_at) if occurred_at else recorded,
                    "category": category.value,
                    "actor": actor,
                    "payload": payload,
                    "prev_hash": prev,
                }
                digest = entry_hash(**fields)
                rows.append({**fields, "payload": canonical_json(payload), "hash": digest})
                stored.append(Entry(**fields, hash=digest))
                seq, prev = seq + 1, digest
            conn.execute(insert(ENTRIES), rows)
        return stored

    async def append_async(
        self,
        site: str,
        category: Category | str,
        payload: BaseModel | Mapping[str, Any],
        actor: str,
        occurred_at: datetime | None = None,
    ) -> Entry:
        """:meth:`append` in a worker thread, for callers on an event loop."""
        return await asyncio.to_thread(self.append, site, category, payload, actor, occurred_at)

    def record_manual(
        self, site: str, record: Mapping[str, Any] | ManualRecord, actor: str | None = None
    ) -> Entry:
        """Validate and append a manual record; the actor defaults to the inspector."""
        parsed = parse_manual_record(record, self._clock.now())
        return self.append(
            site,
            parsed.category,
            parsed.payload(),
            actor or parsed.inspector,
            parsed.occurred_at,
        )

    def correct(
        self,
        site: str,
        corrects_seq: int,
        reason: str,
        actor: str,
        amended: Mapping[str, str | int | float | bool | None] | None = None,
    ) -> Entry:
        """Append a correction of entry ``corrects_seq`` (which stays as it was)."""
        head = self.head(site)
        if head is None or not 1 <= corrects_seq <= head.seq:
            raise InvalidRecord("corrects_seq", f"site {site} has no entry {corrects_seq}")
        try:
            payload = Correction(
                corrects_seq=corrects_seq, reason=reason, amended=dict(amended or {})
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidRecord(".".join(map(str, first["loc"])), first["msg"]) from exc
        return self.append(site, Category.CORRECTION, payload, actor)

    # -- reading ----------------------------------------------------------------------------

    def sites(self) -> list[str]:
        """Sites that have entries."""
        with self._engine.connect() as conn:
            return list(conn.scalars(select(_E.site).distinct().order_by(_E.site)))

    def head(self, site: str) -> Head | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_E.seq, _E.hash).where(_E.site == site).order_by(_E.seq.desc()).limit(1)
            ).first()
            if row is None:
                anchor = conn.execute(
                    select(AnchorRow.seq, AnchorRow.hash).where(AnchorRow.site == site)
                ).first()
                return Head(site, anchor.seq, anchor.hash) if anchor else None
        return Head(site, row.seq, row.hash)

    def anchor(self, site: str) -> Anchor | None:
        """Where the stored chain starts after a retention purge (``None``: from genesis)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(AnchorRow.seq, AnchorRow.hash).where(AnchorRow.site == site)
            ).first()
        return Anchor(seq=row.seq, hash=row.hash) if row else None

    def _where(self, query: Query) -> list[Any]:
        clauses: list[Any] = []
        if query.site is not None:
            clauses.append(_E.site == query.site)
        if query.start is not None:
            clauses.append(_E.occurred_at >= format_ts(query.start))
        if query.end is not None:
            clauses.append(_E.occurred_at < format_ts(query.end))
        if query.categories is not None:
            clauses.append(_E.category.in_(sorted(query.categories)))
        return clauses

    def entries(self, query: Query, *, after_seq: int = 0) -> Iterator[Entry]:
        """Matching entries ordered by site then seq, streamed in batches (constant memory);
        with a site, only those after ``after_seq``."""
        return map(_row_entry, self.rows(query, after_seq=after_seq))

    def rows(self, query: Query, *, after_seq: int = 0) -> Iterator[EntryTuple]:
        """:meth:`entries` as stored tuples (:data:`EntryTuple`), for exports."""
        where = self._where(query)
        sites = [query.site] if query.site is not None else self.sites()
        for site in sites:
            cursor = after_seq if query.site is not None else 0
            last: int | None = None
            if query.start is not None or query.end is not None:
                # A time range: the seqs it spans, from the (site, occurred_at) index, so that
                # the pages below neither walk the years before it nor those after it.
                with self._engine.connect() as conn:
                    lo, last = conn.execute(
                        select(func.min(_E.seq), func.max(_E.seq)).where(*where, _E.site == site)
                    ).one()
                if lo is None:
                    continue
                cursor = max(cursor, lo - 1)
            bound = [] if last is None else [_E.seq <= last]
            while True:
                # Keyset pagination on the (site, seq) unique index: each batch is an index seek.
                with self._engine.connect() as conn:
                    rows = _fetch_all(
                        conn,
                        select(*_ROW_COLUMNS)
                        .where(*where, *bound, _E.site == site, _E.seq > cursor)
                        .order_by(_E.seq)
                        .limit(_STREAM_BATCH),
                    )
                yield from rows
                if len(rows) < _STREAM_BATCH:
                    break
                cursor = rows[-1][1]

    def span(self, query: Query) -> Iterator[Entry | Link]:
        """The contiguous chain segment per site covering the matching entries: matching ones as
        entries, the others as :class:`Link` (so a filtered export still verifies)."""
        for matched, row in self.span_rows(query):
            if matched:
                yield _row_entry(row)
            else:
                yield Link(site=row[0], seq=row[1], prev_hash=row[7], hash=row[8])

    def span_rows(self, query: Query) -> Iterator[tuple[bool, EntryTuple]]:
        """:meth:`span` as (matches the query, stored tuple) pairs, for exports."""
        bounds_q = (
            select(_E.site, func.min(_E.seq), func.max(_E.seq))
            .where(*self._where(query))
            .group_by(_E.site)
            .order_by(_E.site)
        )
        with self._engine.connect() as conn:
            bounds = conn.execute(bounds_q).all()
        match = query.matcher()
        for site, lo, hi in bounds:
            cursor = lo - 1
            while cursor < hi:
                with self._engine.connect() as conn:
                    rows = _fetch_all(
                        conn,
                        select(*_ROW_COLUMNS)
                        .where(_E.site == site, _E.seq > cursor, _E.seq <= hi)
                        .order_by(_E.seq)
                        .limit(_STREAM_BATCH),
                    )
                if not rows:
                    break
                for row in rows:
                    yield match(row[0], row[3], row[4]), row
                cursor = rows[-1][1]

    def count(self, query: Query) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.scalar(select(func.count()).select_from(ENTRIES).where(*self._where(query)))
                or 0
            )

    def counts_by_category(self, query: Query) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_E.category, func.count())
                .where(*self._where(query))
                .group_by(_E.category)
                .order_by(_E.category)
            ).all()
        return {str(cat): int(n) for cat, n in rows}

    # -- verification and signing -----------------------------------------------------------

    def verify(self, site: str) -> VerifyReport:
        """Verify a site's whole stored chain from its anchor (genesis unless purged)."""
        return verify_chain(self.entries(Query(site=site)), anchors={site: self.anchor(site)})

    def sign_head(self, site: str) -> SignedHead:
        """The site's head, signed with the configured key."""
        if self.signer is None or not self.signer.can_sign:
            raise SignatureError("no signing key configured: set LINLI_INSPECTION_SIGNING_KEY")
        head = self.head(site)
        seq, digest = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        return self.signer.sign(site, seq, digest, self._clock.now())

    # -- retention --------------------------------------------------------------------------

    def purge_expired(self, site: str, actor: str = "retention") -> int:
        """Remove the oldest entries of ``site`` that are past retention, as a prefix of the
        chain (the first entry still kept stops it), keep the last removed entry's hash as the
        anchor, and log the purge in the chain. Returns how many entries were removed."""
        now = self._clock.now()
        with self._lock(site):
            through: Entry | None = None
            count = 0
            for entry in self.entries(Query(site=site)):
                cutoff = now - timedelta(days=self.retention.days_for(entry.category))
                if entry.recorded_at >= format_ts(cutoff):
                    break
                through = entry
                count += 1
            if through is None:
                return 0
            with self._engine.begin() as conn:
                conn.execute(insert(PERMITS).values(site=site, through_seq=through.seq))
                conn.execute(delete(ENTRIES).where(_E.site == site, _E.seq <= through.seq))
                conn.execute(delete(PERMITS).where(PurgePermitRow.site == site))
                conn.execute(delete(ANCHORS).where(AnchorRow.site == site))
                conn.execute(
                    insert(ANCHORS).values(
                        site=site, seq=through.seq, hash=through.hash, purged_at=format_ts(now)
                    )
                )
        self.append(
            site,
            Category.RETENTION_PURGE,
            RetentionPurge(
                purged_through_seq=through.seq,
                anchor_hash=through.hash,
                count=count,
                cutoff=now - timedelta(days=self.retention.default_days),
            ),
            actor,
        )
        log.info("inspection log: purged %d entries of %s through seq %d", count, site, through.seq)
        return count
