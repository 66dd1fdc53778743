"""Entry point: ``linli edge --config FILE`` and ``python -m edge_agent --config FILE``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge_agent._agent import Agent
from edge_agent._config import load_config
from edge_agent._errors import ConfigError

__all__ = ["EdgeSettings", "main", "run_edge"]

log = logging.getLogger(__name__)


class EdgeSettings(BaseSettings):
    """Settings of the edge deployable (environment ``LINLI_EDGE_*`` or ``.env``).

    The gateway config file holds everything about the gateway; the environment may supply
    the uplink password so it need not sit in the file.
    """

    model_config = SettingsConfigDict(env_prefix="LINLI_EDGE_", env_file=".env", extra="ignore")

    config: Path
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    uplink_password: SecretStr | None = None


async def _serve(agent: Agent) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop)
    await agent.run()


def run_edge(settings: EdgeSettings) -> int:
    """Load the config named by ``settings`` and run the agent until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(settings.config)
        password = settings.uplink_password.get_secret_value() if settings.uplink_password else None
        agent = Agent(config, password=password, source=str(settings.config))
    except ConfigError as exc:
        print(f"linli edge: {exc}", file=sys.stderr)
        return 2
    log.info("gateway %s of site %s starting", config.gateway, config.site)
    asyncio.run(_serve(agent))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--config`` (and ``--log-level``), build the settings, run."""
    parser = argparse.ArgumentParser(prog="linli edge", description="Run the Linli edge agent.")
    parser.add_argument("--config", type=Path, help="gateway config file (TOML)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"config": args.config, "log_level": args.log_level}.items() if v}
    try:
        settings = EdgeSettings(**overrides)
    except ValidationError as exc:
        print(
            f"linli edge: set --config or LINLI_EDGE_CONFIG ({exc.errors()[0]['msg']})",
            file=sys.stderr,
        )
        return 2
    return run_edge(settings)
