"""Errors of the ingest server.

Hierarchy::

    IngestError (Exception)
    ├── ConfigError            settings that cannot work; the message says what to set
    ├── StoreError             the time-series store refused or failed an operation
    │   └── StoreUnavailable   the store cannot be reached right now (retry later)
    └── RegistryConflict       a registry change that would leave the registry invalid

Protocol errors (a bad payload) are :class:`protocol.ProtocolError`; they never escape the
consumer, they become dead letters.
"""

from __future__ import annotations

__all__ = ["ConfigError", "IngestError", "RegistryConflict", "StoreError", "StoreUnavailable"]


class IngestError(Exception):
    """Base of every error the ingest server raises on purpose."""


class ConfigError(IngestError):
    """Settings that cannot work."""


class StoreError(IngestError):
    """The time-series store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The time-series store cannot be reached right now."""


class RegistryConflict(IngestError):
    """A registry change that would leave the registry invalid; the message says why."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        self.status = status
        super().__init__(message)
