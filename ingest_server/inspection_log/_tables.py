"""The inspection log's tables on the records database.

Timestamps are stored as their canonical text (fixed-width UTC, so text order is time order) and
the payload as its canonical JSON, so a stored row is byte-for-byte what was hashed.

On SQLite, triggers abort every UPDATE of ``inspection_entries`` and every DELETE that is not
covered by a row of ``inspection_purge_permits`` (written and removed inside the retention purge's
own transaction). On other databases, grant the server's role only INSERT and SELECT on
``inspection_entries``.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import DDL, Engine, Index, Integer, String, Table, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from ingest_server.db import Base

__all__ = [
    "ANCHORS",
    "ENTRIES",
    "PERMITS",
    "TABLES",
    "AnchorRow",
    "EntryRow",
    "PurgePermitRow",
    "create_tables",
]


class EntryRow(Base):
    """One entry of a site's chain."""

    __tablename__ = "inspection_entries"
    __table_args__ = (
        UniqueConstraint("site", "seq", name="uq_inspection_entries_site_seq"),
        Index("ix_inspection_entries_site_occurred", "site", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    recorded_at: Mapped[str] = mapped_column(String(32), nullable=False)
    occurred_at: Mapped[str] = mapped_column(String(32), nullable=False)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AnchorRow(Base):
    """Where a site's stored chain starts after a retention purge: the last purged entry."""

    __tablename__ = "inspection_anchors"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    purged_at: Mapped[str] = mapped_column(String(32), nullable=False)


class PurgePermitRow(Base):
    """Present only inside a retention purge's transaction; the DELETE trigger checks it."""

    __tablename__ = "inspection_purge_permits"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    through_seq: Mapped[int] = mapped_column(Integer, nullable=False)


_TABLE = cast(Table, EntryRow.__table__)
_NO_UPDATE = DDL(  # type: ignore[no-untyped-call]
    "CREATE TRIGGER IF NOT EXISTS inspection_entries_no_update "
    "BEFORE UPDATE ON inspection_entries "
    "BEGIN SELECT RAISE(ABORT, 'inspection_entries is append-only'); END"
)
_NO_DELETE = DDL(  # type: ignore[no-untyped-call]
    "CREATE TRIGGER IF NOT EXISTS inspection_entries_no_delete "
    "BEFORE DELETE ON inspection_entries "
    "WHEN NOT EXISTS (SELECT 1 FROM inspection_purge_permits p "
    "WHERE p.site = OLD.site AND OLD.seq <= p.through_seq) "
    "BEGIN SELECT RAISE(ABORT, 'inspection_entries is append-only'); END"
)
event.listen(_TABLE, "after_create", _NO_UPDATE.execute_if(dialect="sqlite"))
event.listen(_TABLE, "after_create", _NO_DELETE.execute_if(dialect="sqlite"))

ENTRIES = _TABLE
ANCHORS = cast(Table, AnchorRow.__table__)
PERMITS = cast(Table, PurgePermitRow.__table__)
TABLES = [ENTRIES, ANCHORS, PERMITS]


def create_tables(engine: Engine) -> None:
    """Create the inspection log's tables (and SQLite guards) if they do not exist."""
    Base.metadata.create_all(engine, tables=TABLES)
