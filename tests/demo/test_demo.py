"""`linli demo` as a newcomer runs it: a real process, the embedded broker, real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import free_port

TOKEN: dict[str, str] = {}


def _get(url: str) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN['token']}"} if TOKEN else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
        return json.loads(resp.read())


def _sign_in_as_printed(url: str, output: Path) -> None:
    """Sign in with the credentials the demo printed, as a newcomer would."""
    found: list[tuple[str, str]] = []

    def printed() -> bool:
        text = output.read_text(encoding="utf-8", errors="replace")
        found.extend(re.findall(r"sign in:\s+(\S+) / (\S+)", text))
        return bool(found)

    _wait(printed, 30, "the credentials in the demo's banner")
    username, password = found[0]
    body = json.dumps({"username": username, "password": password}).encode()
    login = urllib.request.Request(
        f"{url}/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(login, timeout=10) as resp:
        TOKEN["token"] = json.loads(resp.read())["token"]


@pytest.fixture(params=["amqtt", "mosquitto"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    TOKEN.clear()
    output = tmp_path / "demo.out"
    sink = output.open("wb")
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
            str(tmp_path / "data"),
            "--run-for",
            "120",
        ],
        stdout=sink,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _get(f"{url}/readyz")["status"] == "ready", 30, "the demo server")
        _sign_in_as_printed(url, output)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sink.close()
        out = output.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in out, out[-3000:]
        # SIGTERM (kill, systemd) stops as cleanly as Ctrl-C: no broker left behind.
        assert "linli demo: stopped" in out, out[-3000:]
        assert _processes_mentioning(str(tmp_path)) == []


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended meanwhile
        if text in args:
            found.append(args)
    return found


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
