"""A small versioned migration runner for the records database.

Each migration is a numbered function run once, in order, inside a transaction, and recorded in
``schema_migrations``. Version 1 creates this package's tables. Tables that other server
packages declare on :class:`ingest_server.db.Base` are created when missing after the numbered
migrations ran; a change to a table that already exists in deployments needs a new numbered
migration appended to :data:`MIGRATIONS` (never edit an applied one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from ingest_server import _tables as t
from ingest_server.db import Base

__all__ = ["MIGRATIONS", "Migration", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    Base.metadata.create_all(
        conn,
        tables=[
            t.SiteRow.__table__,  # type: ignore[list-item]
            t.RoomRow.__table__,  # type: ignore[list-item]
            t.GatewayRow.__table__,  # type: ignore[list-item]
            t.DeviceRow.__table__,  # type: ignore[list-item]
            t.DeadLetterRow.__table__,  # type: ignore[list-item]
            t.GatewayStatusRow.__table__,  # type: ignore[list-item]
        ],
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "registry, dead letters and gateway status", _v1),
)


def migrate(engine: Engine, now: datetime) -> list[int]:
    """Apply the migrations not yet applied; return their versions."""
    t.SchemaMigrationRow.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]
    applied: list[int] = []
    with engine.begin() as conn:
        done = set(conn.scalars(select(t.SchemaMigrationRow.version)))
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if migration.version in done:
            continue
        with engine.begin() as conn:
            migration.apply(conn)
            conn.execute(
                t.SchemaMigrationRow.__table__.insert().values(  # type: ignore[attr-defined]
                    version=migration.version, name=migration.name, applied_at=now
                )
            )
        applied.append(migration.version)
    Base.metadata.create_all(engine, checkfirst=True)
    return applied
