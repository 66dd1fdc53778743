"""``linli server`` / ``python -m ingest_server``: build settings, configure logging, serve."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from ingest_server._app import create_app
from ingest_server._errors import ConfigError
from ingest_server._settings import ServerSettings
from ingest_server.inspection_log import InspectionSettings
from rules import RegistryError, parse_registry

__all__ = ["serve"]


def serve(
    *,
    host: str | None = None,
    port: int | None = None,
    registry: Path | None = None,
    log_level: str = "info",
) -> int:
    """Run the server until SIGTERM/SIGINT; overrides win over LINLI_* settings."""
    import uvicorn

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["http_host"] = host
    if port is not None:
        overrides["http_port"] = port
    if registry is not None:
        overrides["registry_path"] = registry
    try:
        settings = ServerSettings(**overrides)  # type: ignore[arg-type]
        inspection = InspectionSettings()
    except ValidationError as exc:
        print(f"linli server: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    if settings.registry_path is not None:
        # Refuse a broken registry before serving, with the file and field in the message.
        try:
            parse_registry(
                settings.registry_path.read_text(encoding="utf-8"), str(settings.registry_path)
            )
        except (OSError, RegistryError) as exc:
            print(f"linli server: registry: {exc}", file=sys.stderr)
            return 2
    try:
        app = create_app(settings, inspection=inspection)
        uvicorn.run(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=log_level.lower(),
            # Open event streams would otherwise hold shutdown until every browser disconnects.
            timeout_graceful_shutdown=5,
        )
    except ConfigError as exc:
        print(f"linli server: {exc}", file=sys.stderr)
        return 2
    return 0
