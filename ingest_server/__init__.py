"""Ingest server: MQTT consumer, stores, alerts and notifiers, scheduler, HTTP API."""

from ingest_server._errors import (
    ConfigError,
    IngestError,
    RegistryConflict,
    StoreError,
    StoreUnavailable,
)
from ingest_server._model import OccupancyBucket, StoredReading, StoredStatus
from ingest_server._settings import ServerSettings

__all__ = [
    "ConfigError",
    "IngestError",
    "OccupancyBucket",
    "RegistryConflict",
    "ServerSettings",
    "StoreError",
    "StoreUnavailable",
    "StoredReading",
    "StoredStatus",
]
