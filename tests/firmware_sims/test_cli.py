from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sims import BUILTIN_SCENARIOS
from tests.firmware_sims.conftest import SMALL_REGISTRY, Recorder
from tests.services import Mosquitto


def linli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linli_cli", "sim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_list_scenarios_names_every_builtin() -> None:
    out = linli("--list-scenarios")
    assert out.returncode == 0
    assert [line.split()[0] for line in out.stdout.splitlines()] == list(BUILTIN_SCENARIOS)


@pytest.mark.mosquitto
def test_sim_runs_a_registry_with_a_scenario_to_a_real_broker(
    mosquitto: Mosquitto,
    unique_id: str,
    tmp_path: Path,
    recorder_factory: Callable[..., Recorder],
) -> None:
    registry = tmp_path / "sites.yaml"
    registry.write_text(SMALL_REGISTRY.format(site=unique_id), encoding="utf-8")
    rec = recorder_factory(mosquitto, f"linli/v1/{unique_id}/#", f"{unique_id}-sub")
    out = linli(
        "--registry", str(registry),
        "--broker", f"{mosquitto.host}:{mosquitto.port}",
        "--speed", "1200",
        "--start", "2026-01-05T10:00:00+08:00",
        "--duration", "15m",
        "--scenario", "door_propped_open@1m",
        "--no-progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "reproduce: linli sim --registry" in out.stderr
    assert "door.held_open" in out.stderr  # the scenario's promised outcome

    def door_readings(messages: list[tuple[str, bytes, bool]]) -> list[dict[str, object]]:
        return [
            r
            for t, p, _ in messages
            if t.endswith("/up/readings")
            for r in json.loads(p)["readings"]
            if r["device"] == f"{unique_id}-fd-inf"
        ]

    messages = rec.wait_for(lambda m: any(r["state"] == "open" for r in door_readings(m)))
    door = door_readings(messages)
    assert any(r["state"] == "open" for r in door)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (
            "name: x\ntitle: x\nsteps:\n  - {action: explode}\n",
            "bad.yaml: steps[0].action: unknown action 'explode'",
        ),
        (
            "name: x\ntitle: x\nsteps:\n  - {action: prop_door, device: nope}\n",
            "bad.yaml: steps[0].device: the fleet has no device 'nope'",
        ),
        (
            "name: x\ntitle: x\nsteps:\n"
            "  - {action: prop_door, device: s1-fd-inf, duration: soon}\n",
            "bad.yaml: steps[0].duration",
        ),
    ],
)
def test_an_invalid_scenario_file_is_refused_naming_file_and_field(
    tmp_path: Path, content: str, match: str
) -> None:
    registry = tmp_path / "sites.yaml"
    registry.write_text(SMALL_REGISTRY.format(site="s1"), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="utf-8")
    out = linli("--registry", str(registry), "--scenario", str(bad), "--broker", "127.0.0.1:1")
    assert out.returncode == 2
    assert match in out.stderr


def test_bad_registry_broker_and_scenario_names_are_refused(tmp_path: Path) -> None:
    registry = tmp_path / "sites.yaml"
    registry.write_text(SMALL_REGISTRY.format(site="s1").replace("kind: heat", "kind: lava"))
    out = linli("--registry", str(registry))
    assert out.returncode == 2
    assert "sites.yaml: sites['s1'].gateways['s1-gw1'].devices['s1-heat-din'].kind" in out.stderr
    out = linli("--broker", "no-port")
    assert out.returncode == 2
    assert "--broker: expected HOST:PORT" in out.stderr
    out = linli("--scenario", "tsunami", "--broker", "127.0.0.1:1")
    assert out.returncode == 2
    assert "unknown scenario 'tsunami'" in out.stderr
    out = linli("--broker", "127.0.0.1:1", "--duration", "1m")
    assert out.returncode == 2
    assert "cannot reach the broker at 127.0.0.1:1" in out.stderr
