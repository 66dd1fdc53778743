"""Settings of the ingest server: one pydantic-settings class, ``LINLI_`` environment prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest_server.notify import NotifySettings
from protocol import is_valid_id

__all__ = ["ServerSettings"]


class ServerSettings(BaseSettings):
    """Everything ``linli server`` needs; built in ``main()`` and passed to ``create_app``."""

    model_config = SettingsConfigDict(
        env_prefix="LINLI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # MQTT broker
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = None
    mqtt_protocol: Literal["3.1.1", "5"] = "3.1.1"
    mqtt_client_id: str = Field(
        default="linli-server",
        description="Fixed, so the broker keeps the session (and queued messages) across restarts",
    )
    mqtt_share_group: str | None = Field(
        default=None, description="Join a shared subscription group so servers split the load"
    )
    # Long enough to ride out a restart or an upgrade; the broker keeps queuing meanwhile.
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Short enough that a dead broker connection is noticed in well under a minute.
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600)
    mqtt_site: str = Field(default="+", description="Subscribe to one site only, or '+' for all")

    # Consumer
    # Messages between the network thread and the writer; beyond this the network thread stops
    # reading. Mosquitto sends at most max_inflight_messages (100) unacked QoS 1 messages anyway,
    # so 1,000 never fills unless the broker is configured otherwise; far below paho's 65,535 ids.
    queue_size: int = Field(default=1000, ge=1, le=20_000)
    # Messages per write transaction: big enough to amortise the fsync, small enough that an
    # ack is never held back long.
    batch_max: int = Field(default=200, ge=1, le=10_000)

    # Records (registry, dead letters, gateway status, later alerts and inspection records)
    records_url: str = "sqlite:///linli-records.db"
    registry_path: Path | None = None

    # Time-series store
    store: Literal["sqlite", "influxdb"] = "sqlite"
    sqlite_path: Path = Path("linli-telemetry.db")
    # Raw readings are kept 90 days (a quarter, for the quarterly report); hourly rollups 2 years.
    retention_days: int = Field(default=90, ge=1)
    rollup_retention_days: int = Field(default=730, ge=1)

    influx_url: str | None = None
    influx_database: str = "linli"
    influx_retention_policy: str | None = None
    influx_create_database: bool = Field(
        default=False, description="Run CREATE DATABASE at start (InfluxDB 1.x)"
    )
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_token: SecretStr | None = None
    influx_spool_path: Path = Path("linli-influx-spool.db")
    # InfluxDB ingests 5,000-point batches at 200k+ points/s here; larger gains nothing.
    influx_batch_size: int = Field(default=5000, ge=1, le=100_000)
    influx_timeout_s: float = Field(default=10.0, gt=0, le=300)

    # Alerts: live rule packs and notification channels
    rule_pack_dir: Path | None = Field(
        default=None, description="Directory of live rule packs (default: the shipped packs)"
    )
    notify: NotifySettings | None = Field(
        default=None,
        description="Channels and routes as JSON in LINLI_NOTIFY; default: the dashboard's "
        "event stream (every alert) and on-site displays over MQTT (warning and above)",
    )

    # HTTP API
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # 1 MiB holds the largest registry edit or record many times over; an upload of an export
    # to verify has its own, larger cap.
    max_body_bytes: int = Field(default=1 << 20, ge=1024)

    # Access control
    demo: bool = Field(
        default=False,
        description="Demo mode: a generated secret key when none is set (never in production)",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Keys the audit log's HMAC chain; at least 32 characters"
    )
    admin_username: str | None = Field(
        default=None, description="With admin_password: the first admin, made when no user exists"
    )
    admin_password: SecretStr | None = None
    # A working day: an operator signs in once per shift.
    session_ttl_s: int = Field(default=8 * 3600, ge=60, le=30 * 86_400)
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (behind TLS: true)"
    )
    # 5 failures per 15 minutes per user name and per client address: a person who mistypes
    # is not locked out for long; an online guesser gets 480 tries a day.
    signin_max_failures: int = Field(default=5, ge=1)
    signin_window_s: int = Field(default=900, ge=1)

    def notify_settings(self) -> NotifySettings:
        """The configured notification settings, or the default routes."""
        if self.notify is not None:
            return self.notify
        mqtt: dict[str, object] = {
            "type": "mqtt",
            "name": "displays",
            "host": self.mqtt_host,
            "port": self.mqtt_port,
            "client_id": f"{self.mqtt_client_id}-alerts",
        }
        if self.mqtt_username is not None:
            mqtt |= {"username": self.mqtt_username, "password": self.mqtt_password}
        return NotifySettings.model_validate(
            {
                "channels": [{"type": "sse", "name": "dashboard"}, mqtt],
                "routes": [
                    {
                        "name": "dashboard",
                        "channels": ["dashboard"],
                        "min_severity": "info",
                        "include_updates": True,
                        "respect_silence": False,
                    },
                    {"name": "displays", "channels": ["displays"], "min_severity": "warning"},
                ],
            }
        )

    def _check_access_secrets(self) -> None:
        # Imported here: the auth package imports the server's tables, which import settings.
        from ingest_server.auth import DEFAULT_SECRETS, WeakPassword, check_password

        secret = None if self.secret_key is None else self.secret_key.get_secret_value()
        if secret is None and not self.demo:
            raise ValueError("LINLI_SECRET_KEY is required (at least 32 random characters)")
        if secret is not None and (len(secret) < 32 or secret.lower() in DEFAULT_SECRETS):
            raise ValueError("LINLI_SECRET_KEY is a default or shorter than 32 characters")
        if (self.admin_username is None) != (self.admin_password is None):
            raise ValueError("LINLI_ADMIN_USERNAME and LINLI_ADMIN_PASSWORD come together")
        if self.admin_password is not None:
            try:
                check_password(self.admin_password.get_secret_value())
            except WeakPassword as exc:
                raise ValueError(f"LINLI_ADMIN_PASSWORD: {exc}") from None

    @model_validator(mode="after")
    def _fail_closed(self) -> Self:
        if self.store == "influxdb" and not self.influx_url:
            raise ValueError("store=influxdb needs LINLI_INFLUX_URL (e.g. http://127.0.0.1:8086)")
        if self.influx_token is not None and self.influx_username is not None:
            raise ValueError("set LINLI_INFLUX_TOKEN or LINLI_INFLUX_USERNAME, not both")
        if (self.influx_username is None) != (self.influx_password is None):
            raise ValueError("LINLI_INFLUX_USERNAME and LINLI_INFLUX_PASSWORD come together")
        if (self.mqtt_username is None) != (self.mqtt_password is None) and self.mqtt_password:
            raise ValueError("LINLI_MQTT_PASSWORD needs LINLI_MQTT_USERNAME")
        if self.mqtt_password is not None and self.mqtt_password.get_secret_value() in {
            "changeme",
            "password",
        }:
            raise ValueError("LINLI_MQTT_PASSWORD is a default secret; set a real one")
        if self.mqtt_share_group is not None and not is_valid_id(self.mqtt_share_group):
            raise ValueError("LINLI_MQTT_SHARE_GROUP must be letters, digits, '_' or '-'")
        if self.mqtt_site != "+" and not is_valid_id(self.mqtt_site):
            raise ValueError("LINLI_MQTT_SITE must be '+' or a site id")
        if not self.mqtt_client_id or not self.mqtt_client_id.isprintable():
            raise ValueError("LINLI_MQTT_CLIENT_ID must be a non-empty printable string")
        self._check_access_secrets()
        if self.rollup_retention_days < self.retention_days:
            raise ValueError("LINLI_ROLLUP_RETENTION_DAYS must be at least LINLI_RETENTION_DAYS")
        return self
