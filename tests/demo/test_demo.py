"""`linli demo` as a newcomer runs it: a real process, the embedded broker, real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import free_port


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture(params=["amqtt", "mosquitto"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linli_cli",
            "demo",
            "--port",
            str(port),
            "--broker",
            request.param,
            "--speed",
            "5",
            "--data-dir",
            str(tmp_path),
            "--run-for",
            "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        assert b"Traceback" not in out, out.decode(errors="replace")[-3000:]


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def test_the_demo_shows_live_occupancy_of_three_centres_within_a_minute(demo: str) -> None:
    sites = {s["id"] for s in _get(f"{demo}/sites")["items"]} if _ready(demo) else set()
    assert len(sites) == 3

    def occupancy_everywhere() -> bool:
        latest = _get(f"{demo}/latest")
        seen = {r["site"] for r in latest if r["kind"] == "occupancy"}
        return seen == sites

    _wait(occupancy_everywhere, 60, "occupancy readings from the three centres")


def test_the_demo_raises_an_alert_from_its_first_scenario_within_a_minute(demo: str) -> None:
    _ready(demo)
    # The first scenario is a fire drill: the drill's smoke alarm becomes a critical alert.
    _wait(
        lambda: any(
            a["rule"] == "smoke.alarm" and a["severity"] == "critical"
            for a in _get(f"{demo}/alerts")
        ),
        60,
        "the fire drill's smoke alert",
    )


def _ready(url: str) -> bool:
    _wait(lambda: _get(f"{url}/readyz")["status"] == "ready", 30, "the demo server")
    return True
