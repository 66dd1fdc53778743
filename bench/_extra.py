"""The harness's other benchmarks: alarm latency to the dashboard's event stream (real server),
and the existing per-area scripts (edge agent, simulator, queries) run as child processes whose
printed figures are collected."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench._common import REPO, ProcWatch
from bench._consumers import LinliServer
from bench._load import PacedPublisher
from protocol import AlarmEvent, ReadingBatch, SmokeReading, SmokeState, encode

if TYPE_CHECKING:
    from bench.run import Context

# Messages/s the server sustains at 50 readings/msg into SQLite when ingest-sqlite did not run
# in the same invocation (measured here before the harness existed: ~19.8k readings/s).
_DEFAULT_SQLITE_50 = 400.0


class _AlertStream(threading.Thread):
    """Reads /alerts/stream and notes when each smoke alarm's "fired" event arrives."""

    def __init__(self, server: LinliServer) -> None:
        super().__init__(daemon=True, name="sse-reader")
        self.server = server
        self.arrivals: dict[str, float] = {}
        self.connected = threading.Event()
        self.cond = threading.Condition()
        self._client = server.http.client(timeout=None)

    def run(self) -> None:
        event = ""
        try:
            with self._client.stream("GET", "/alerts/stream") as response:
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "fired":
                        now = time.monotonic()
                        alert = json.loads(line[6:])["alert"]
                        if alert["rule"] == "smoke.alarm":
                            with self.cond:
                                self.arrivals.setdefault(alert["subject"], now)
                                self.cond.notify_all()
        except Exception:  # the stream ends when the server stops
            return

    def wait(self, subject: str, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: subject in self.arrivals, timeout)
            return self.arrivals.get(subject)

    def close(self) -> None:
        self._client.close()


def alarm_latency(ctx: Context) -> None:
    from bench.run import Figure

    rate100 = ctx.rates.get(("sqlite", 50))
    notes = []
    if rate100 is None:
        rate100 = _DEFAULT_SQLITE_50
        notes.append(
            f"ingest-sqlite did not run first: 100 % load taken as {rate100:g} msg/s of 50"
        )
    samples = 10 if ctx.opts.quick else 60
    server = LinliServer(ctx.broker, None, 50, ctx.workdir, ctx.registry_yaml, ctx.server_env)
    server.start()
    stream = _AlertStream(server)
    stream.start()
    if not stream.connected.wait(20):
        server.stop()
        raise RuntimeError("the alert stream did not connect")
    edge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{uuid.uuid4().hex[:6]}")
    edge.connect(ctx.broker.host, ctx.broker.port)
    edge.loop_start()
    # Alarms come from detectors of the gateways that carry no load, a fresh room each time.
    fresh = []
    seen_rooms: set[tuple[str, str]] = set()
    for gw in ctx.gateways[ctx.opts.publishers :]:
        for device, room in gw.smokes:
            if (gw.site, room) not in seen_rooms:
                seen_rooms.add((gw.site, room))
                fresh.append((gw, device, room))
    if len(fresh) < 3 * samples:
        raise RuntimeError(f"{len(fresh)} rooms for {3 * samples} alarms: use fewer publishers")
    cursor = 0
    seq = 1_000_000
    results: dict[str, dict[str, Any]] = {}
    try:
        for label, share in (("idle", 0.0), ("50 % load", 0.5), ("100 % load", 1.0)):
            loader = None
            watch = ProcWatch(server.pid)
            if share > 0:
                rate = rate100 * share
                cap = int(rate * (ctx.opts.warmup + samples * 2 + 60))
                loader = PacedPublisher(ctx.broker, ctx.load_gateways, rate, 50, cap)
                loader.start()
                time.sleep(ctx.opts.warmup)
            watch.begin()
            t0 = time.monotonic()
            latencies: list[float] = []
            missing = 0
            for _ in range(samples):
                gw, device, room = fresh[cursor]
                cursor += 1
                seq += 1
                now = datetime.now(UTC)
                reading = SmokeReading(
                    id=f"alarm-{uuid.uuid4().hex}", device=device, ts=now, state=SmokeState.ALARM
                )
                alarm = AlarmEvent(gateway=gw.gateway, sent_at=now, seq=seq, reading=reading)
                subject = f"{gw.site}/{room}"
                sent = time.monotonic()
                edge.publish(gw.alarm_topic, encode(alarm), qos=1)
                arrived = stream.wait(subject, 30)
                if arrived is None:
                    missing += 1
                else:
                    latencies.append((arrived - sent) * 1000)
                reset = SmokeReading(
                    id=f"reset-{uuid.uuid4().hex}",
                    device=device,
                    ts=datetime.now(UTC),
                    state=SmokeState.NORMAL,
                )
                batch = ReadingBatch(
                    gateway=gw.gateway, sent_at=datetime.now(UTC), seq=seq, readings=[reset]
                )
                edge.publish(gw.readings_topic, encode(batch), qos=1)
                time.sleep(0.05)
            elapsed = time.monotonic() - t0
            watch.end()
            offered = None
            if loader is not None:
                offered = loader.sent / (elapsed + ctx.opts.warmup)
                loader.stop()
            latencies.sort()
            if not latencies:
                raise RuntimeError(f"no alarm reached the stream ({label})")
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            results[label] = {
                "median_ms": statistics.median(latencies),
                "p99_ms": p99,
                "max_ms": latencies[-1],
                "samples": len(latencies),
                "missing": missing,
                "load_msgs_s": offered,
                "server_cpu_pct": watch.cpu_pct,
            }
            print(f"  alarm latency {label}: {results[label]}", flush=True)
            # Let the backlog of the loaded phase clear before the next phase.
            _wait_idle(server)
    finally:
        edge.loop_stop()
        edge.disconnect()
        stream.close()
        server.stop()
    repro = ctx.reproduce("alarm-latency")
    for label, r in results.items():
        load = f", load {r['load_msgs_s']:,.0f} msg/s × 50 readings" if r["load_msgs_s"] else ""
        for metric in ("median_ms", "p99_ms"):
            ctx.figures.append(
                Figure(
                    "alarm-latency",
                    f"edge publish → SSE 'fired', {label}{load}: {metric[:-3]}",
                    "ms",
                    [r[metric]],
                    repro,
                    [*notes, f"{r['samples']} samples, {r['missing']} missing"],
                    [r],
                )
            )


def _wait_idle(server: LinliServer, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        now = server.acked()
        if now == last:
            return
        last = now
        time.sleep(1)


# -- the per-area scripts ---------------------------------------------------------------------


def _script(args: list[str], timeout: float) -> str:
    cmd = [sys.executable, *args]
    out = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {out.stderr[-1500:]}")
    print("    " + out.stdout.strip().replace("\n", "\n    "), flush=True)
    return out.stdout


def _num(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"no figure matching {pattern!r} in:\n{text}")
    return float(match.group(1).replace(",", ""))


def edge_agent(ctx: Context) -> None:
    from bench.run import Figure

    duration = max(10.0, ctx.opts.duration) if ctx.opts.quick else max(60.0, ctx.opts.duration)
    args = ["bench/edge_agent.py", "--duration", f"{duration:g}", "--trials", "5"]
    if ctx.opts.quick:
        args += ["--replay-rate", "50"]
    text = _script(args, 1800)
    repro = ".venv/bin/python " + " ".join(args)
    for metric, unit, pattern in (
        ("RSS, 100 devices @ 1 Hz", "MiB", r"RSS ([0-9.]+) MiB \(max"),
        ("peak RSS, 100 devices @ 1 Hz", "MiB", r"\(max ([0-9.]+) MiB\)"),
        ("CPU, 100 devices @ 1 Hz", "% of a core", r"CPU ([0-9.]+) % of one core"),
        (
            "outbox commit rate, telemetry, 1/txn",
            "commits/s",
            r"telemetry lane,\s+1 per.*?([0-9]+) commits/s",
        ),
        (
            "outbox commit rate, alarm, 1/txn (FULL)",
            "commits/s",
            r"alarm\s+lane,\s+1 per.*?([0-9]+) commits/s",
        ),
        (
            "outbox readings/s, telemetry, 100/txn",
            "readings/s",
            r"telemetry lane, 100 per.*?:\s+([0-9]+) readings/s",
        ),
        ("one-hour backlog (360k readings) drain", "s", r"drained in ([0-9.]+) s"),
        ("local alarm latency (uplink down), median", "ms", r"median ([0-9.]+) ms, max"),
    ):
        ctx.figures.append(
            Figure("edge-agent", f"edge agent: {metric}", unit, [_num(pattern, text)], repro)
        )


def simulator(ctx: Context) -> None:
    from bench.run import Figure

    devices = 2000 if ctx.opts.quick else 10_000
    minutes = 5 if ctx.opts.quick else 30
    args = ["bench/sim.py", "--devices", str(devices), "--sim-minutes", str(minutes)]
    text = _script(args, 1800)
    repro = ".venv/bin/python " + " ".join(args)
    ctx.figures += [
        Figure("sim", "simulator: devices in one process", "devices",
               [_num(r"devices\s+([0-9,]+)", text)], repro),
        Figure("sim", "simulator: readings/s published (QoS 1, acked)", "readings/s",
               [_num(r"= ([0-9,]+) readings/s", text)], repro),
        Figure("sim", "simulator: × real time for that fleet", "×",
               [_num(r"= ([0-9,.]+)x real time", text)], repro),
    ]  # fmt: skip


def queries(ctx: Context) -> None:
    from bench.run import Figure

    sites = 20 if ctx.opts.quick else 100
    args = ["bench/dashboard_views.py", "--sites", str(sites), "--repeat", "3"]
    text = _script(args, 1800)
    repro = ".venv/bin/python " + " ".join(args)
    ctx.figures += [
        Figure("queries", f"latest state of every device, {sites} sites (overview, cold)", "ms",
               [_num(r"overview, cold.*?: ([0-9.]+) ms", text)], repro),
        Figure("queries", f"latest state of every device, {sites} sites (overview, warm)", "ms",
               [_num(r"overview, warm: median ([0-9.]+) ms", text)], repro),
    ]  # fmt: skip
    args = ["bench/utilization.py", "--days", "30", "--rooms", "20", "--repeat", "3", "--store"]
    text = _script(args, 1800)
    repro = ".venv/bin/python " + " ".join(args)
    ctx.figures += [
        Figure("queries", "30-day utilization, 20 rooms: the endpoint's work (store + report)", "s",
               [_num(r"endpoint total: median ([0-9.]+) s", text)], repro),
        Figure("queries", "30-day utilization, 20 rooms: the report on read columns", "s",
               [_num(r"columns \+ report: median ([0-9.]+) s", text)], repro),
    ]  # fmt: skip
    size = 20_000 if ctx.opts.quick else 100_000
    args = ["bench/inspection_export.py", "--sizes", str(size), "--formats", "csv,json"]
    text = _script(args, 1800)
    repro = ".venv/bin/python " + " ".join(args)
    for fmt in ("csv", "json"):
        label = f"inspection-log export, {size:,} entries (a busy year), {fmt.upper()}"
        row = re.search(rf"{fmt}\s+{size:,}\s+([0-9.]+)\s+([0-9,]+)\s+([0-9.]+)\s+([0-9.]+)\s+"
                        r"([0-9.]+)\s+([0-9.]+)", text)  # fmt: skip
        if row is None:
            raise RuntimeError(f"no {fmt} row in:\n{text}")
        ctx.figures += [
            Figure("queries", label, "s", [float(row.group(1))], repro),
            Figure("queries", f"inspection-log export, {fmt.upper()}: RSS growth during export",
                   "MB", [float(row.group(6))], repro),
        ]  # fmt: skip
