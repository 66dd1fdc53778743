"""Tables of access control on the records database: users, sessions, API keys, the audit log.

``audit_log`` is append-only by contract (no code path updates or deletes it) and on SQLite by
triggers; each row's ``hash`` is an HMAC over the previous hash and the row's canonical JSON,
so an edit, insertion or deletion anywhere breaks the chain from there on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Engine, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ingest_server._tables import UtcDateTime
from ingest_server.db import Base

__all__ = ["ApiKeyRow", "AuditRow", "SessionRow", "UserRow", "create_auth_tables"]


class UserRow(Base):
    __tablename__ = "auth_users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    sites: Mapped[list[str]] = mapped_column(JSON)
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SessionRow(Base):
    __tablename__ = "auth_sessions"

    # SHA-256 of the bearer token: a copy of the database does not sign anyone in.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    client: Mapped[str | None] = mapped_column(String(100), nullable=True)


class ApiKeyRow(Base):
    __tablename__ = "auth_api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    sites: Mapped[list[str]] = mapped_column(JSON)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditRow(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


_TABLES = [UserRow, SessionRow, ApiKeyRow, AuditRow]

_SQLITE_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)


def create_auth_tables(engine: Engine) -> None:
    """Create the tables when missing; on SQLite, guard the audit log against edits."""
    Base.metadata.create_all(engine, tables=[t.__table__ for t in _TABLES])  # type: ignore[misc]
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            for statement in _SQLITE_GUARDS:
                conn.execute(text(statement))
