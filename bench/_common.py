"""Shared pieces of the benchmark harness: process statistics, the machine's description, the one
HTTP helper every request to the server goes through, and polling with a deadline."""

from __future__ import annotations

import os
import platform
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NODE_CACHE = REPO / ".cache" / "bench-node"


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system, this process and its reaped children) and RSS in KiB."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0
    cpu_s = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK
    rss_kb = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return cpu_s, rss_kb


class ProcWatch:
    """CPU % of one core and peak RSS of a process between ``begin()`` and ``end()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu0 = 0.0
        self.t0 = 0.0
        self.rss_peak_kb = 0
        self.cpu_pct = 0.0

    def begin(self) -> None:
        self.cpu0, rss = proc_stats(self.pid)
        self.rss_peak_kb = rss
        self.t0 = time.monotonic()

    def sample(self) -> None:
        self.rss_peak_kb = max(self.rss_peak_kb, proc_stats(self.pid)[1])

    def end(self) -> None:
        cpu1, rss = proc_stats(self.pid)
        self.rss_peak_kb = max(self.rss_peak_kb, rss)
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        self.cpu_pct = 100.0 * (cpu1 - self.cpu0) / elapsed


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


# -- the server's HTTP API ----------------------------------------------------------------------

BENCH_ADMIN = "bench-admin"


class ServerHttp:
    """Every HTTP request the benchmarks send to the Linli server goes through here.

    The server may require sign-in (``POST /auth/login`` → bearer token, with the admin that
    LINLI_ADMIN_USERNAME / LINLI_ADMIN_PASSWORD bootstrap, see ``server_env``); a server without
    that endpoint answers 404 and is used without credentials.
    """

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        self.password = password
        self._headers: dict[str, str] | None = None

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            with httpx.Client(base_url=self.base_url, timeout=10) as client:
                resp = client.post(
                    "/auth/login", json={"username": BENCH_ADMIN, "password": self.password}
                )
            if resp.status_code in (404, 405):
                self._headers = {}
            else:
                resp.raise_for_status()
                self._headers = {"Authorization": f"Bearer {resp.json()['token']}"}
        return self._headers

    def client(self, timeout: float | None = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers(), timeout=timeout)

    def get(self, path: str) -> httpx.Response:
        with self.client() as client:
            return client.get(path)


def server_env(password: str) -> dict[str, str]:
    """Environment entries that make a server accept ``ServerHttp`` with ``password``."""
    return {f"LINLI_{k.upper()}": v for k, v in access_settings(password).items()}


def access_settings(password: str | None = None) -> dict[str, str]:
    """ServerSettings fields of a benchmark server: a fresh secret key and the bench admin."""
    return {
        "secret_key": secrets.token_urlsafe(32),
        "admin_username": BENCH_ADMIN,
        "admin_password": password or secrets.token_urlsafe(16),
    }


_METRIC = re.compile(r"^(linli_ingest_[a-z_]+_total) ([0-9.e+]+)$", re.MULTILINE)


def ingest_counters(http: ServerHttp) -> dict[str, float]:
    """The server's ``linli_ingest_*_total`` counters from /metrics."""
    text = http.get("/metrics").text
    return {m.group(1): float(m.group(2)) for m in _METRIC.finditer(text)}


# -- the machine --------------------------------------------------------------------------------


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    os_name = platform.platform()
    with_release = Path("/etc/os-release")
    if with_release.exists():
        for line in with_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    from tests.services import find_binary

    node = NODE_CACHE / "node_modules" / ".bin" / "node"
    node_red = NODE_CACHE / "node_modules" / "node-red" / "package.json"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 2**20, 1),
        "os": os_name,
        "python": sys.version.split()[0],
        "mosquitto": _version([find_binary("mosquitto", "/usr/sbin"), "-h"]),
        "influxd": _version([find_binary("influxd", "/usr/bin"), "version"]),
        "node": _version([str(node), "--version"]) if node.exists() else "not installed",
        "node_red": (
            __import__("json").loads(node_red.read_text())["version"]
            if node_red.exists()
            else "not installed"
        ),
        "load_average_at_start": os.getloadavg(),
    }
