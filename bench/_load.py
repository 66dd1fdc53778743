"""Load for the harness: a generated registry, pre-encoded reading messages, and Mosquitto's C
publisher (``mosquitto_pub -l``, one process per gateway) either as fast as it goes (from a
file) or paced (fed line by line through a pipe)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from firmware_sims import generate_registry
from protocol import Channel, channel_topic
from rules.facility import Registry
from tests.services import Mosquitto, find_binary

# mosquitto_pub's default of 20 in-flight QoS 1 messages makes each publisher wait on PUBACK
# round trips; 100 matches the broker's max_inflight_messages (deploy/mosquitto/conf.d).
_PUB_INFLIGHT = 100
# mosquitto_pub -l (2.0.11) exits early, losing the rest, once it has sent more than 65,535
# messages (the packet id wraps): each process gets at most this many lines.
_LINES_PER_PROCESS = 60_000


@dataclass(frozen=True)
class Gateway:
    site: str
    gateway: str
    counters: tuple[str, ...]
    smokes: tuple[tuple[str, str], ...]  # (device, room)

    @property
    def readings_topic(self) -> str:
        return channel_topic(self.site, self.gateway, Channel.READINGS)

    @property
    def alarm_topic(self) -> str:
        return channel_topic(self.site, self.gateway, Channel.ALARM)


def bench_registry(sites: int, rooms: int = 16) -> tuple[Registry, list[Gateway]]:
    """``sites`` generated centres of ``rooms`` rooms, one gateway each (devices_per_gateway is
    large so each site has exactly one)."""
    registry = generate_registry(
        sites, rooms_per_site=rooms, devices_per_gateway=10_000, prefix="b"
    )
    gateways = []
    for site in registry.sites:
        for gw in site.gateways:
            gateways.append(
                Gateway(
                    site.id,
                    gw.id,
                    tuple(d.id for d in gw.devices if d.kind.value == "counter"),
                    tuple((d.id, d.room or "") for d in gw.devices if d.kind.value == "smoke"),
                )
            )
    return registry, gateways


def registry_yaml(registry: Registry) -> str:
    return yaml.safe_dump(
        registry.model_dump(mode="json", exclude_defaults=True), allow_unicode=True
    )


class _Iso:
    """ISO 8601 UTC strings for epoch milliseconds, cheap (the seconds part is cached)."""

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        sec, frac = divmod(ms, 1000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{frac:03d}Z"


def message_lines(
    gw: Gateway, messages: int, per_message: int, first_seq: int = 1, end_ms: int | None = None
) -> list[str]:
    """``messages`` ReadingBatch JSON lines of ``per_message`` counter readings each, with fresh
    ids, ending about now or at ``end_ms`` (epoch ms; one millisecond apart)."""
    tag = uuid.uuid4().hex[:10]
    iso = _Iso()
    total = messages * per_message
    if end_ms is None:
        end_ms = int(datetime.now(UTC).timestamp() * 1000)
    start_ms = end_ms - total
    sent_at = iso(start_ms + total)
    counters = gw.counters
    lines = []
    n = 0
    head = f'{{"v":1,"gateway":"{gw.gateway}","sent_at":"{sent_at}","seq":'
    for m in range(messages):
        parts = []
        for _ in range(per_message):
            parts.append(
                f'{{"kind":"occupancy","id":"{tag}-{n}","device":"{counters[n % len(counters)]}",'
                f'"ts":"{iso(start_ms + n)}","source":"counter","entries":{n & 1},'
                f'"exits":{n & 1}}}'
            )
            n += 1
        lines.append(f'{head}{first_seq + m},"readings":[{",".join(parts)}]}}')
    return lines


def _pub_command(broker: Mosquitto, topic: str) -> list[str]:
    return [
        find_binary("mosquitto_pub", "/usr/bin"),
        *("-h", broker.host, "-p", str(broker.port), "-q", "1", "-M", str(_PUB_INFLIGHT)),
        *("-t", topic, "-l"),
    ]


class FilePublishers:
    """Per gateway, ``mosquitto_pub -l`` processes one after the other (a shell loop over chunks
    of its file), each sending as fast as the broker acks."""

    def __init__(self, broker: Mosquitto, files: list[tuple[Gateway, list[Path], int]]) -> None:
        self.broker = broker
        self.files = files
        self.total = sum(n for _, _, n in files)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0.0
        self.finished: float | None = None

    def start(self) -> None:
        self.started = time.monotonic()
        for gw, paths, _ in self.files:
            pub = " ".join(shlex.quote(a) for a in _pub_command(self.broker, gw.readings_topic))
            script = f'for f in "$@"; do {pub} < "$f" || exit $?; done'
            self.procs.append(subprocess.Popen(["/bin/sh", "-c", script, "sh", *map(str, paths)]))

    def poll(self) -> bool:
        """True once every publisher has exited (and notes when)."""
        if self.finished is None and all(p.poll() is not None for p in self.procs):
            self.finished = time.monotonic()
        return self.finished is not None

    def failed(self) -> list[int]:
        return [p.returncode for p in self.procs if p.returncode not in (None, 0)]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                # The shell and its mosquitto_pub: the group this harness started for it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            proc.wait(10)


def write_files(
    gateways: list[Gateway], messages: int, per_message: int, workdir: Path
) -> list[tuple[Gateway, list[Path], int]]:
    out = []
    each = max(1, messages // len(gateways))
    for i, gw in enumerate(gateways):
        lines = message_lines(gw, each, per_message)
        paths = []
        for c in range(0, len(lines), _LINES_PER_PROCESS):
            path = workdir / f"load-{i}-{c // _LINES_PER_PROCESS}.jsonl"
            path.write_text("\n".join(lines[c : c + _LINES_PER_PROCESS]) + "\n")
            paths.append(path)
        out.append((gw, paths, each))
    return out


class PacedPublisher(threading.Thread):
    """Feeds ``mosquitto_pub -l`` processes at ``rate`` messages/s in total (10 ms ticks)."""

    def __init__(
        self, broker: Mosquitto, gateways: list[Gateway], rate: float, per_message: int, cap: int
    ) -> None:
        super().__init__(daemon=True, name="paced-publisher")
        self.rate = rate
        self.lines = [
            iter(message_lines(gw, max(1, cap // len(gateways)), per_message)) for gw in gateways
        ]
        self.procs = [
            subprocess.Popen(_pub_command(broker, gw.readings_topic), stdin=subprocess.PIPE)
            for gw in gateways
        ]
        self.sent = 0
        self.exhausted = False
        self._halt = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        i = 0
        while not self._halt.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.sent < due:
                proc = self.procs[i % len(self.procs)]
                line = next(self.lines[i % len(self.lines)], None)
                if line is None:
                    self.exhausted = True
                    return
                assert proc.stdin is not None
                proc.stdin.write(line.encode() + b"\n")
                proc.stdin.flush()
                self.sent += 1
                i += 1
            self._halt.wait(0.01)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# Probe readings are this far in the past: no load reading (ending about now) shares their
# series and timestamp, so a probe never overwrites a load point in InfluxDB, and it is well
# inside what the server accepts (a year back).
_PROBE_AGE_MS = 24 * 3600 * 1000


def probe_publisher(broker: Mosquitto, gw: Gateway, per_message: int) -> Callable[[], None]:
    """A function publishing one probe message (QoS 1, ``per_message`` readings, a day old) on
    ``gw``'s readings topic each time it is called."""

    def publish() -> None:
        end_ms = int(datetime.now(UTC).timestamp() * 1000) - _PROBE_AGE_MS
        (line,) = message_lines(gw, 1, per_message, end_ms=end_ms)
        cmd = _pub_command(broker, gw.readings_topic)
        subprocess.run([*cmd[:-1], "-m", line], check=True, timeout=30)

    return publish
