"""The records database (registry, dead letters, alerts, inspection records) through SQLAlchemy 2.

SQLite by default (WAL, so readers never block the writer); a PostgreSQL URL works the same.
Every table of the server's records hangs off :class:`Base`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "make_engine"]


class Base(DeclarativeBase):
    """Declarative base of every records table."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL under WAL is durable across process crashes; FULL also across power loss, which a
    # server that acks MQTT messages after writing must survive.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite connections get WAL and durable-sync pragmas."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
