"""Errors of the edge agent.

Hierarchy::

    EdgeError (Exception)
    ├── ConfigError          the gateway config file is unreadable or invalid (names file, line,
    │                        field)
    ├── DriverError          a driver could not be loaded or refused its options
    └── OutboxError          the outbox database failed
        └── OutboxWriteFailed  a commit failed (disk full, I/O error); nothing was accepted

Bad input at run time (a malformed driver value, an unknown Zigbee2MQTT device, a bad command)
is never raised out of a loop: it is logged with context, counted and skipped.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "DriverError", "EdgeError", "OutboxError", "OutboxWriteFailed"]


class EdgeError(Exception):
    """Base of every edge agent error."""


class ConfigError(EdgeError):
    """An invalid gateway configuration. ``field`` is a dotted path, ``line`` 1-based or None."""

    def __init__(
        self, message: str, *, source: Path | str, field: str = "", line: int | None = None
    ) -> None:
        self.source = str(source)
        self.field = field
        self.line = line
        where = self.source + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class DriverError(EdgeError):
    """A driver that cannot be loaded or constructed."""


class OutboxError(EdgeError):
    """The outbox database failed."""


class OutboxWriteFailed(OutboxError):
    """A commit to the outbox failed; the readings in it were not accepted."""
