"""``linli edge --config FILE``: a bad config exits with a message naming file, line, field."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from protocol import GatewayState, GatewayStatus
from tests.edge_agent.conftest import SIM, up_topics, wait_sync
from tests.services import REPO, Mosquitto


def test_bad_config_exits_2_naming_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('gateway = "gw 1"\nsite = "s"\n')
    result = subprocess.run(
        [sys.executable, "-m", "linli_cli", "edge", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{path}:1: gateway:" in result.stderr


def test_linli_edge_runs_and_stops_cleanly(
    tmp_path: Path, unique_id: str, mosquitto: Mosquitto, collector_factory: Any
) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(
        f'gateway = "gw-{unique_id}"\nsite = "site-{unique_id}"\n'
        f'[uplink]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
        f'[outbox]\npath = "outbox.db"\n'
        f'[[drivers]]\nname = "sim"\nfactory = "{SIM}"\n'
    )
    collector = collector_factory(
        mosquitto, up_topics(f"site-{unique_id}", f"gw-{unique_id}"), f"col-{unique_id}"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "linli_cli", "edge", "--config", str(path)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_sync(
            lambda: any(
                isinstance(m, GatewayStatus) and m.state is GatewayState.ONLINE
                for m in collector.decoded()
            ),
            what="online status",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "outbox.db").exists()
    last = [m for m in collector.decoded() if isinstance(m, GatewayStatus)][-1]
    assert last.state is GatewayState.OFFLINE
