"""Real Mosquitto and influxd as subprocesses on free loopback ports, for tests and benchmarks.

Each service gets its own config file and data directory under a given directory, waits until
it answers, and can be stopped (gracefully or with SIGKILL) and started again on the same port
with the same data, which is what the outage and restart tests need.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ingest_server.embedded_broker import mosquitto_config

REPO = Path(__file__).resolve().parent.parent
# Both answer within ~15 ms of starting on these machines; 20 s covers a loaded CI machine.
START_TIMEOUT_S = 20.0


class ServiceUnavailable(RuntimeError):
    """A service binary is missing or the service did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, *extra_dirs: str) -> str:
    """Path of ``name`` on PATH or in the usual sbin directories, else ServiceUnavailable."""
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs]))
    if path is None:
        raise ServiceUnavailable(
            f"{name} is not installed; scripts/test installs it (Debian package "
            f"{'mosquitto' if name == 'mosquitto' else 'influxdb'})"
        )
    return path


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class _Process:
    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        """Start the process and wait until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceUnavailable(
                    f"{self.name} exited with {self.proc.returncode}: {self.tail_log()}"
                )
            if self._ready():
                return
            time.sleep(0.02)
        self.kill()
        raise ServiceUnavailable(f"{self.name} did not answer in {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), letting the service write its state to disk."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a power cut would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail_log(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Mosquitto(_Process):
    """A Mosquitto broker on 127.0.0.1 with Linli's shipped tuning (deploy/mosquitto/conf.d)."""

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("mosquitto", "/usr/sbin", "/usr/local/sbin")
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(mosquitto_config(self.host, self.port, self.data_dir))

    def _command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def _ready(self) -> bool:
        return _port_open(self.port)


class InfluxDB(_Process):
    """An InfluxDB 1.x server (Debian's influxd) serving the v1 HTTP API on 127.0.0.1."""

    name = "influxd"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("influxd", "/usr/sbin", "/usr/local/bin")
        self.port = port or free_port()
        self.rpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "influxdb.conf"
        self.config_path.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{workdir}/meta"

[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false

[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false

[monitor]
  store-enabled = false
"""
        )

    def _command(self) -> list[str]:
        return [self.binary, "-config", str(self.config_path)]

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as resp:
                return int(resp.status) == 204
        except (urllib.error.URLError, OSError):
            return False

    def query(self, q: str, db: str | None = None, *, method: str = "GET") -> dict[str, object]:
        """Run InfluxQL through /query and return the decoded JSON."""
        import json

        params = {"q": q, **({"db": db} if db else {})}
        data = urllib.parse.urlencode(params).encode()
        if method == "POST":
            req = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        else:
            req = urllib.request.Request(f"{self.url}/query?{data.decode()}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            result: dict[str, object] = json.loads(resp.read())
        return result

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def write(self, db: str, lines: str, precision: str = "ns") -> int:
        """Write line protocol through /write; returns the HTTP status."""
        req = urllib.request.Request(
            f"{self.url}/write?db={urllib.parse.quote(db)}&precision={precision}",
            data=lines.encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
