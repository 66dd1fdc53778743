"""The consumers the ingest benchmark drives with the same load: the Linli server (a real
``python -m ingest_server`` process, rules on) into SQLite or InfluxDB, and the baselines (bare
paho subscribers, Node-RED flows). Each counts the messages it has stored so far."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench._common import NODE_CACHE, REPO, ServerHttp, ingest_counters, server_env, wait_for
from tests.services import InfluxDB, Mosquitto, free_port

READINGS_FILTER = "linli/v1/+/+/up/readings"


class Consumer:
    """Started before the load, stopped after; ``count()`` = messages stored so far, less the
    probes ``prime`` sent."""

    name = "consumer"
    pid = 0
    # How the consumer acknowledges a QoS 1 message: said next to its figures.
    acks = "QoS 1, acked on receipt (before its write): a crash loses what it holds in memory"
    _offset = 0

    def start(self) -> None:
        raise NotImplementedError

    def raw_count(self) -> int:
        """Messages stored (or, for a counting subscriber, received) since start, probes too."""
        raise NotImplementedError

    def count(self) -> int:
        return self.raw_count() - self._offset

    def prime(self, publish_probe: Callable[[], None], timeout: float = 60.0) -> None:
        """Send probe messages through the whole path until one is stored, so the consumer's
        subscription is in place before the load starts (a clean session subscribing late
        would otherwise lose the first messages and be charged with them), then count from
        here. Waits for the count to settle so a late probe is not counted as load."""
        deadline = time.monotonic() + timeout
        next_probe = 0.0
        while self.raw_count() == 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no probe message stored within {timeout:.0f} s")
            if time.monotonic() >= next_probe:
                publish_probe()
                next_probe = time.monotonic() + _PROBE_RETRY_S
            time.sleep(0.1)
        settled, last = self.raw_count(), time.monotonic()
        while time.monotonic() - last < _PROBE_SETTLE_S and time.monotonic() < deadline:
            time.sleep(0.1)
            now_count = self.raw_count()
            if now_count != settled:
                settled, last = now_count, time.monotonic()
        self._offset = settled

    def problems(self) -> list[str]:
        """Errors the consumer logged during the run (for the figure's notes)."""
        return []

    def stop(self) -> None:
        raise NotImplementedError


# A probe published before the subscription took effect is dropped by the broker: resend.
_PROBE_RETRY_S = 2.0
# Longer than the batched Node-RED flow's join timeout (1 s) and Linli's spool linger: a second
# probe still on its way has landed by then.
_PROBE_SETTLE_S = 1.5


def _log_problems(path: Path, patterns: tuple[str, ...]) -> list[str]:
    """How many log lines match ``patterns`` (case-insensitive), with the first of them."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    bad = [line for line in lines if any(p in line.lower() for p in patterns)]
    if not bad:
        return []
    return [f"{len(bad)} error line(s) in its log, first: {bad[0].strip()[:200]}"]


def _influx_points(influx: InfluxDB, database: str) -> int:
    result = influx.query('SELECT count("entries") FROM "occupancy"', database)
    try:
        series = result["results"][0]["series"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return 0
    return int(series[0]["values"][0][1])


class _Stopper:
    proc: subprocess.Popen[bytes] | None = None
    _dropped = False

    def _stop_proc(self, influx: InfluxDB | None = None, database: str = "") -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        # The next consumer must not share influxd with this one's shards (their compactions
        # would run during its window): every consumer gets an influxd holding only its own data.
        if influx is not None and database and not self._dropped:
            influx.query(f'DROP DATABASE "{database}"', method="POST")
            self._dropped = True


class BareSubscriber(Consumer, _Stopper):
    """bench/_baseline.py in ``count`` or ``influx`` mode."""

    def __init__(
        self, broker: Mosquitto, influx: InfluxDB | None, per_message: int, workdir: Path
    ) -> None:
        self.broker, self.influx, self.per_message = broker, influx, per_message
        self.name = "bare paho → InfluxDB" if influx else "bare paho (count only)"
        if influx is None:
            self.acks = "QoS 1, acked on receipt; stores nothing"
        self.database = f"bare_{uuid.uuid4().hex[:8]}"
        self._received = 0
        self._errors: list[str] = []

    def start(self) -> None:
        cmd = [sys.executable, str(REPO / "bench" / "_baseline.py")]
        if self.influx is None:
            cmd += ["count", "--port", str(self.broker.port)]
        else:
            self.influx.create_database(self.database)
            cmd += ["influx", "--port", str(self.broker.port), "--influx-url", self.influx.url]
            cmd += ["--database", self.database]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        self.pid = self.proc.pid
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode().strip()
                if line == "ready":
                    ready.set()
                elif line.startswith("count "):
                    self._received = int(line[6:])

        def read_errors() -> None:
            assert self.proc is not None
            assert self.proc.stderr is not None
            for raw in self.proc.stderr:
                self._errors.append(raw.decode(errors="replace").strip())

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=read_errors, daemon=True).start()
        wait_for(ready.is_set, 30, "the bare subscriber's start")

    def raw_count(self) -> int:
        if self.influx is None:
            return self._received
        return _influx_points(self.influx, self.database) // self.per_message

    def problems(self) -> list[str]:
        return [f"write errors: {e}" for e in self._errors[:1]] if self._errors else []

    def stop(self) -> None:
        self._stop_proc(self.influx, self.database)


class LinliServer(Consumer, _Stopper):
    """``python -m ingest_server`` with a registry (so rules run) and the given store."""

    def __init__(
        self,
        broker: Mosquitto,
        influx: InfluxDB | None,
        per_message: int,
        workdir: Path,
        registry_yaml: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.broker, self.influx, self.per_message = broker, influx, per_message
        self.name = "Linli → InfluxDB" if influx else "Linli → SQLite"
        self.acks = "QoS 1, acked after its durable commit (persistent session)"
        run = uuid.uuid4().hex[:8]
        self.workdir = workdir / f"server-{run}"
        self.workdir.mkdir(parents=True)
        (self.workdir / "registry.yaml").write_text(registry_yaml, encoding="utf-8")
        self.database = f"linli_{run}"
        self.client_id = f"bench-server-{run}"
        self.port = free_port()
        password = secrets.token_urlsafe(16)
        self.http = ServerHttp(f"http://127.0.0.1:{self.port}", password)
        self.env = {
            **os.environ,
            **server_env(password),
            "LINLI_MQTT_HOST": broker.host,
            "LINLI_MQTT_PORT": str(broker.port),
            "LINLI_MQTT_CLIENT_ID": self.client_id,
            "LINLI_HTTP_PORT": str(self.port),
            "LINLI_RECORDS_URL": f"sqlite:///{self.workdir / 'records.db'}",
            "LINLI_SQLITE_PATH": str(self.workdir / "telemetry.db"),
            "LINLI_REGISTRY_PATH": str(self.workdir / "registry.yaml"),
            "LINLI_INSPECTION_REPORTS_DIR": str(self.workdir / "reports"),
            **(extra_env or {}),
        }
        if influx is not None:
            self.env |= {
                "LINLI_STORE": "influxdb",
                "LINLI_INFLUX_URL": influx.url,
                "LINLI_INFLUX_DATABASE": self.database,
                "LINLI_INFLUX_CREATE_DATABASE": "true",
                "LINLI_INFLUX_SPOOL_PATH": str(self.workdir / "spool.db"),
            }
        self.log_path = self.workdir / "server.log"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingest_server", "--log-level", "warning"],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.proc.pid

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log_path.read_text()[-2000:]}")
            try:
                return self.http.get("/readyz").status_code == 200
            except OSError:
                return False
            except Exception as exc:  # httpx's connect errors
                if "connect" in type(exc).__name__.lower():
                    return False
                raise

        wait_for(ready, 60, "the Linli server's readiness")

    def counters(self) -> dict[str, float]:
        return ingest_counters(self.http)

    def raw_count(self) -> int:
        if self.influx is not None:
            return _influx_points(self.influx, self.database) // self.per_message
        return int(self.counters().get("linli_ingest_messages_total", 0))

    def problems(self) -> list[str]:
        return _log_problems(self.log_path, ("error", "traceback", "failed"))

    def _clear_sessions(self) -> None:
        """End the stopped server's persistent sessions (its two lanes): otherwise the broker
        keeps queuing every later message of the run for them, a cost charged to whichever
        consumer runs next."""
        for client_id in (self.client_id, f"{self.client_id}-alarm"):
            connected = threading.Event()
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
            )
            client.user_data_set(connected)
            client.on_connect = lambda _c, done, *_: done.set()
            client.connect(self.broker.host, self.broker.port)
            client.loop_start()
            try:
                if not connected.wait(10):
                    raise RuntimeError(f"could not clear the session of {client_id}")
            finally:
                client.disconnect()
                client.loop_stop()

    def acked(self) -> int:
        return int(self.counters().get("linli_ingest_messages_total", 0))

    def stop(self) -> None:
        stopped = self.proc is not None
        self._stop_proc(self.influx, self.database)
        if stopped:
            self._clear_sessions()


def node_red_available() -> bool:
    return (NODE_CACHE / "node_modules" / "node-red" / "red.js").exists() and (
        NODE_CACHE / "node_modules" / "node-red-contrib-influxdb"
    ).exists()


class NodeRed(Consumer, _Stopper):
    """Node-RED with MQTT-in → JSON → function (readings → points) → InfluxDB-out (v1), either
    per message (``influxdb out``, one HTTP write per MQTT message, the stock flow) or batched
    (``join`` up to 5,000 points or 1 s → ``influxdb batch``)."""

    def __init__(
        self, broker: Mosquitto, influx: InfluxDB, per_message: int, workdir: Path, batched: bool
    ) -> None:
        self.broker, self.influx, self.per_message, self.batched = (
            broker,
            influx,
            per_message,
            batched,
        )
        self.name = "Node-RED batched (join → batch)" if batched else "Node-RED per message"
        run = uuid.uuid4().hex[:8]
        self.database = f"nodered_{run}"
        self.user_dir = workdir / f"node-red-{run}"
        self.user_dir.mkdir(parents=True)
        self.log_path = self.user_dir / "node-red.log"

    def _flows(self) -> list[dict[str, object]]:
        broker = {
            "id": "n-broker",
            "type": "mqtt-broker",
            "broker": self.broker.host,
            "port": str(self.broker.port),
            "clientid": f"nodered-{uuid.uuid4().hex[:8]}",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": True,
        }
        influx = {
            "id": "n-influx",
            "type": "influxdb",
            "hostname": "127.0.0.1",
            "port": str(self.influx.port),
            "protocol": "http",
            "database": self.database,
            "name": "",
            "usetls": False,
            "influxdbVersion": "1.x",
        }
        nodes: list[dict[str, object]] = [
            {"id": "n-tab", "type": "tab", "label": "bench"},
            broker,
            influx,
            {
                "id": "n-in",
                "type": "mqtt in",
                "z": "n-tab",
                "topic": READINGS_FILTER,
                "qos": "1",
                "datatype": "utf8",
                "broker": "n-broker",
                "wires": [["n-json"]],
            },
            {
                "id": "n-json",
                "type": "json",
                "z": "n-tab",
                "property": "payload",
                "action": "obj",
                "wires": [["n-points"]],
            },
        ]
        if not self.batched:
            to_points = (
                'msg.measurement = "occupancy";\n'
                "const gw = msg.payload.gateway;\n"
                "msg.payload = msg.payload.readings.map(r => [\n"
                "  {entries: r.entries, exits: r.exits, time: Date.parse(r.ts)},\n"
                "  {device: r.device, gateway: gw}]);\n"
                "return msg;"
            )
            nodes += [
                {
                    "id": "n-points",
                    "type": "function",
                    "z": "n-tab",
                    "func": to_points,
                    "outputs": 1,
                    "wires": [["n-out"]],
                },
                {
                    "id": "n-out",
                    "type": "influxdb out",
                    "z": "n-tab",
                    "influxdb": "n-influx",
                    "measurement": "occupancy",
                    "precision": "ms",
                    "retentionPolicy": "",
                    "wires": [],
                },
            ]
        else:
            to_points = (
                "const gw = msg.payload.gateway;\n"
                "msg.payload = msg.payload.readings.map(r => ({measurement: 'occupancy',\n"
                "  fields: {entries: r.entries, exits: r.exits},\n"
                "  tags: {device: r.device, gateway: gw}, timestamp: Date.parse(r.ts)}));\n"
                "return msg;"
            )
            nodes += [
                {
                    "id": "n-points",
                    "type": "function",
                    "z": "n-tab",
                    "func": to_points,
                    "outputs": 1,
                    "wires": [["n-join"]],
                },
                {
                    "id": "n-join",
                    "type": "join",
                    "z": "n-tab",
                    "mode": "custom",
                    "build": "array",
                    "property": "payload",
                    "propertyType": "msg",
                    "key": "topic",
                    "joiner": "\\n",
                    "joinerType": "str",
                    "accumulate": False,
                    "timeout": "1",
                    "count": str(max(1, 5000 // self.per_message)),
                    "reduceRight": False,
                    "wires": [["n-flat"]],
                },
                {
                    "id": "n-flat",
                    "type": "function",
                    "z": "n-tab",
                    "func": "msg.payload = [].concat(...msg.payload);\nreturn msg;",
                    "outputs": 1,
                    "wires": [["n-batch"]],
                },
                {
                    "id": "n-batch",
                    "type": "influxdb batch",
                    "z": "n-tab",
                    "influxdb": "n-influx",
                    "precision": "ms",
                    "retentionPolicy": "",
                    "wires": [],
                },
            ]
        return nodes

    def start(self) -> None:
        self.influx.create_database(self.database)
        (self.user_dir / "flows.json").write_text(json.dumps(self._flows()))
        port = free_port()
        (self.user_dir / "settings.js").write_text(
            "module.exports = {\n"
            f"  uiPort: {port}, uiHost: '127.0.0.1',\n"
            "  httpAdminRoot: false, httpNodeRoot: false,\n"
            f"  userDir: {json.dumps(str(self.user_dir))},\n"
            "  flowFile: 'flows.json', credentialSecret: false,\n"
            "  logging: { console: { level: 'info', metrics: false, audit: false } },\n"
            "};\n"
        )
        node = NODE_CACHE / "node_modules" / ".bin" / "node"
        red = NODE_CACHE / "node_modules" / "node-red" / "red.js"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(node), str(red), "--settings", str(self.user_dir / "settings.js")],
                cwd=self.user_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.proc.pid

        def started() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"Node-RED exited: {self.log_path.read_text()[-2000:]}")
            return "Connected to broker" in self.log_path.read_text(errors="replace")

        wait_for(started, 60, "Node-RED's connection to the broker")

    def raw_count(self) -> int:
        return _influx_points(self.influx, self.database) // self.per_message

    def problems(self) -> list[str]:
        return _log_problems(self.log_path, ("error", "timeout", "econn"))

    def stop(self) -> None:
        self._stop_proc(self.influx, self.database)
