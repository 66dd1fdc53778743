"""Ingest server: MQTT consumer, stores, alerts and notifiers, scheduler, HTTP API.

Start with :func:`create_app`; plug the rules engine in as a :class:`ReadingSink`
(``app.state.sinks.add(sink)``). Exception hierarchy: see :mod:`ingest_server._errors`.
"""

from ingest_server._app import create_app
from ingest_server._errors import (
    ConfigError,
    IngestError,
    RegistryConflict,
    StoreError,
    StoreUnavailable,
)
from ingest_server._main import serve
from ingest_server._model import OccupancyBucket, StoredReading, StoredStatus
from ingest_server._records import DeadLetter
from ingest_server._registry import DevicePlace, RegistryStore
from ingest_server._service import IngestService
from ingest_server._settings import ServerSettings
from ingest_server._sinks import ReadingSink, SinkRegistry

__all__ = [
    "ConfigError",
    "DeadLetter",
    "DevicePlace",
    "IngestError",
    "IngestService",
    "OccupancyBucket",
    "ReadingSink",
    "RegistryConflict",
    "RegistryStore",
    "ServerSettings",
    "SinkRegistry",
    "StoreError",
    "StoreUnavailable",
    "StoredReading",
    "StoredStatus",
    "create_app",
    "serve",
]
