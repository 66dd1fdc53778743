"""The ingest service: records database, registry, time-series store and consumer, wired once."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine

from ingest_server._consumer import MqttConsumer
from ingest_server._errors import ConfigError, StoreError
from ingest_server._metrics import Metrics
from ingest_server._migrations import migrate
from ingest_server._pipeline import Pipeline
from ingest_server._records import Records
from ingest_server._registry import RegistryStore
from ingest_server._settings import ServerSettings
from ingest_server._sinks import SinkRegistry
from ingest_server.db import make_engine
from ingest_server.store import InfluxStore, SqliteStore, TimeSeriesStore
from protocol import Clock
from rules import RegistryError, parse_registry

__all__ = ["IngestService", "build_store"]

log = logging.getLogger(__name__)


def build_store(settings: ServerSettings) -> TimeSeriesStore:
    """The time-series adapter the settings name."""
    if settings.store == "sqlite":
        return SqliteStore(
            settings.sqlite_path,
            retention=timedelta(days=settings.retention_days),
            rollup_retention=timedelta(days=settings.rollup_retention_days),
        )
    assert settings.influx_url is not None  # checked by ServerSettings
    store = InfluxStore(
        settings.influx_url,
        settings.influx_database,
        spool_path=settings.influx_spool_path,
        retention_policy=settings.influx_retention_policy,
        username=settings.influx_username,
        password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        token=settings.influx_token.get_secret_value() if settings.influx_token else None,
        batch_size=settings.influx_batch_size,
        timeout_s=settings.influx_timeout_s,
        seen_retention=timedelta(days=settings.retention_days),
    )
    if settings.influx_create_database:
        try:
            store.create_database()
        except StoreError as exc:
            # Not fatal: readings spool meanwhile and the flusher keeps retrying.
            log.warning("could not create InfluxDB database %s: %s", settings.influx_database, exc)
    return store


class IngestService:
    """Everything with a lifetime; ``start()`` / ``stop()`` are called by the app's lifespan."""

    def __init__(
        self, settings: ServerSettings, clock: Clock, sinks: SinkRegistry | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.sinks = sinks if sinks is not None else SinkRegistry()
        self.sinks.metrics = self.metrics
        self.engine: Engine = make_engine(settings.records_url)
        applied = migrate(self.engine, clock.now())
        if applied:
            log.info("records database migrated to version %d", applied[-1])
        self.registry = RegistryStore(self.engine)
        if settings.registry_path is not None:
            self.load_registry_file()
        self.records = Records(self.engine)
        self.store = build_store(settings)
        try:
            self.pipeline = Pipeline(
                self.store,
                self.records,
                self.registry.locate,
                self.metrics,
                clock.now,
                gateway_site=self.registry.gateway_site,
            )
            self.consumer = MqttConsumer(settings, self.pipeline, self.sinks, clock.now)
        except BaseException:
            self.store.close()
            raise

    def load_registry_file(self) -> None:
        """Merge the registry YAML named by the settings into the records."""
        path = self.settings.registry_path
        assert path is not None
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read LINLI_REGISTRY_PATH {path}: {exc}") from exc
        try:
            registry = parse_registry(text, str(path))
        except RegistryError as exc:
            raise ConfigError(str(exc)) from exc
        self.registry.replace_from(registry)
        log.info("registry loaded from %s: %d sites", path, len(registry.sites))

    def start(self) -> None:
        self.consumer.start()

    def stop(self) -> None:
        self.consumer.stop()
        self.store.close()
        self.engine.dispose()

    def prune(self) -> None:
        """Apply retention now (a scheduler job)."""
        removed = self.store.prune(self.clock.now())
        log.info("retention removed %d raw readings", removed)

    def gauges(self) -> dict[str, float]:
        return {
            "linli_ingest_queue_depth": float(self.consumer.queue_depth()),
            "linli_ingest_mqtt_connected": 1.0 if self.consumer.connected else 0.0,
            **self.store.gauges(),
        }
