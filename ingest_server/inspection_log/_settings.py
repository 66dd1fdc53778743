"""Settings of the inspection log (``LINLI_INSPECTION_*``), built in ``main()`` and passed in.

The server's settings class can hold one of these as a field, or build it on its own; either way
nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest_server.inspection_log._log import DAYS_5_YEARS, RetentionPolicy
from ingest_server.inspection_log._signing import MIN_KEY_BYTES, Ed25519Signer, HeadSigner, Signer

__all__ = ["InspectionSettings"]

# Placeholders people copy from examples; a key equal to one of them signs nothing.
_REFUSED_KEYS = frozenset({"change-me", "changeme", "secret", "linli", "test", "example"})


class InspectionSettings(BaseSettings):
    """Inspection log settings; every field can be set as ``LINLI_INSPECTION_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="LINLI_INSPECTION_", env_file=".env", extra="ignore"
    )

    signing_key: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key for signed heads, at least 32 bytes; unset = no signing",
    )
    signing_key_id: str = Field(default="k1", min_length=1, max_length=64)
    ed25519_private_key: Path | None = Field(
        default=None, description="PEM Ed25519 private key: signs heads (instead of HMAC)"
    )
    ed25519_public_key: Path | None = Field(
        default=None, description="PEM Ed25519 public key: checks heads (verify-only hosts)"
    )
    reports_dir: Path = Field(default=Path("var/reports"))
    cjk_font: Path | None = Field(default=None, description="TrueType CJK font for PDFs")
    timezone: str = "Asia/Shanghai"
    retention_days: int = Field(default=DAYS_5_YEARS, ge=365)
    test_retention_days: int = Field(default=DAYS_5_YEARS, ge=DAYS_5_YEARS)

    @field_validator("signing_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.strip().lower() in _REFUSED_KEYS or len(raw.encode()) < MIN_KEY_BYTES:
            raise ValueError(
                f"LINLI_INSPECTION_SIGNING_KEY must be a random secret of at least {MIN_KEY_BYTES} "
                "bytes (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("ed25519_private_key", "ed25519_public_key")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value

    def signer(self) -> Signer | None:
        """The head signer (Ed25519 when a key file is set, else HMAC), or ``None``."""
        if self.ed25519_private_key is not None or self.ed25519_public_key is not None:
            return Ed25519Signer.from_files(
                self.ed25519_private_key, self.ed25519_public_key, self.signing_key_id
            )
        if self.signing_key is None:
            return None
        return HeadSigner(self.signing_key.get_secret_value().encode(), self.signing_key_id)

    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            default_days=self.retention_days, test_and_maintenance_days=self.test_retention_days
        )

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
