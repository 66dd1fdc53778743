"""Linli's benchmark harness: every figure, beside its baselines, in one run on one machine.

Starts a real Mosquitto and influxd on free loopback ports, runs each benchmark (warm-up, then a
measurement window; repeated, median and spread), prints a table and writes a JSON file with the
results and the machine's description. Each figure carries the command that reproduces it.

    scripts/bench                       # everything, 5 s warm-up + 30 s windows, 3 repeats
    scripts/bench --quick               # 2 s + 8 s, 1 repeat: a smoke run
    scripts/bench --only ingest-sqlite --only ingest-bare
    scripts/bench --list
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _extra  # noqa: E402
from bench._common import ProcWatch, machine  # noqa: E402
from bench._consumers import (  # noqa: E402
    BareSubscriber,
    Consumer,
    LinliServer,
    NodeRed,
    node_red_available,
)
from bench._load import (  # noqa: E402
    FilePublishers,
    Gateway,
    bench_registry,
    probe_publisher,
    registry_yaml,
    write_files,
)
from tests.services import InfluxDB, Mosquitto  # noqa: E402

PER_MESSAGE = (1, 50)
# First guesses of each consumer's messages/s here, only to size the first repeat's load
# (later repeats use the rate just measured). A guess too low ends the window early (flagged).
_GUESS: dict[tuple[str, int], float] = {
    ("bare", 1): 12_000,
    ("bare", 50): 15_000,
    ("sqlite", 1): 5_000,
    ("sqlite", 50): 500,
    ("influx", 1): 6_000,
    ("influx", 50): 400,
    ("script", 1): 10_000,
    ("script", 50): 2_500,
    ("nodered", 1): 3_000,
    ("nodered", 50): 400,
    ("nodered-batch", 1): 15_000,
    ("nodered-batch", 50): 1_500,
}
# The load is sized to last the warm-up and window with this margin, so the consumer is still
# busy when the window closes.
_MARGIN = 1.4
# At most this much load per run: it must fit in the broker's queue for one slow subscriber
# (max_queued_bytes, 1 GiB, deploy/mosquitto/conf.d) and on disk. Consumers faster than
# budget ÷ (warm-up + window) get a shorter window, which the notes say.
_LOAD_BUDGET_BYTES = 400 * 2**20
# A consumer whose count stood still this long before the window closed, and never moved again,
# had stopped storing: a few polls of the count, and longer than the batched Node-RED flow's 1 s
# join timeout.
_STALL_S = 1.5
# influxd below this share of a core over a second counts as idle (its housekeeping is ~1 %).
_IDLE_CPU_PCT = 5.0
_SETTLE_MAX_S = 60.0
# Bytes of one generated message: envelope plus readings (bench/_load.py's format).
_MESSAGE_BYTES = {1: 240, 50: 7_400}


@dataclass
class Options:
    warmup: float
    duration: float
    repeats: int
    publishers: int
    quick: bool
    argv: list[str]
    per_message: tuple[int, ...] = PER_MESSAGE
    server_env: tuple[str, ...] = ()


@dataclass
class Figure:
    bench: str
    metric: str
    unit: str
    values: list[float]
    reproduce: str
    notes: list[str] = field(default_factory=list)
    detail: list[dict[str, Any]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "metric": self.metric,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.values) if self.values else None,
            "max": max(self.values) if self.values else None,
            "values": self.values,
            "reproduce": self.reproduce,
            "notes": self.notes,
            "runs": self.detail,
        }


class Context:
    def __init__(self, opts: Options, workdir: Path) -> None:
        self.opts = opts
        self.workdir = workdir
        self.broker = Mosquitto(workdir / "mosquitto")
        self.influx = InfluxDB(workdir / "influxd")
        # 16 centres of 16 rooms: the first ``publishers`` gateways carry the load, the smoke
        # detectors of the rest raise the alarms of the latency benchmark.
        self.registry, self.gateways = bench_registry(max(16, opts.publishers))
        self.registry_yaml = registry_yaml(self.registry)
        self.rates: dict[tuple[str, int], float] = {}
        self.figures: list[Figure] = []
        self.server_env = dict(item.split("=", 1) for item in opts.server_env)

    @property
    def load_gateways(self) -> list[Gateway]:
        return self.gateways[: self.opts.publishers]

    def reproduce(self, name: str) -> str:
        flags = []
        if self.opts.quick:
            flags.append("--quick")
        if self.opts.per_message != PER_MESSAGE:
            flags += ["--per-message", ",".join(map(str, self.opts.per_message))]
        for item in self.opts.server_env:
            flags += ["--server-env", item]
        for flag, value, default in (
            ("--warmup", self.opts.warmup, 2.0 if self.opts.quick else 5.0),
            ("--duration", self.opts.duration, 8.0 if self.opts.quick else 30.0),
            ("--repeats", self.opts.repeats, 1 if self.opts.quick else 3),
            ("--publishers", self.opts.publishers, 4),
        ):
            if value != default:
                flags += [flag, f"{value:g}"]
        return shlex.join(["scripts/bench", "--only", name, *flags])


# -- ingest ------------------------------------------------------------------------------------


@dataclass
class IngestRun:
    msgs_s: float
    readings_s: float
    publish_msgs_s: float | None
    cpu_pct: float
    rss_mib: float
    lost: int | None
    window_s: float
    published: int
    acked_msgs_s: float | None = None
    influxd_cpu_pct: float | None = None
    notes: list[str] = field(default_factory=list)


def _settle(ctx: Context) -> None:
    """Give the next consumer services in the state the first one found them: restart influxd
    and Mosquitto (same ports and data; a consumer that follows the per-message Node-RED flow
    otherwise ran at half its rate alone), then wait (at most _SETTLE_MAX_S) until influxd is
    idle, so no earlier writes or compactions run in the next window."""
    ctx.influx.stop()
    ctx.broker.stop()
    ctx.broker.start()
    ctx.influx.start()
    proc = ctx.influx.proc
    if proc is None:
        return
    watch = ProcWatch(proc.pid)
    deadline = time.monotonic() + _SETTLE_MAX_S
    while time.monotonic() < deadline:
        watch.begin()
        time.sleep(1.0)
        watch.end()
        if watch.cpu_pct < _IDLE_CPU_PCT:
            return
    print(f"  (influxd still at {watch.cpu_pct:.0f} % CPU after {_SETTLE_MAX_S:.0f} s)", flush=True)


def _ingest_once(
    ctx: Context, consumer: Consumer, per_message: int, key: tuple[str, int]
) -> IngestRun:
    opts = ctx.opts
    estimate = ctx.rates.get(key, _GUESS[key])
    messages = max(200, int(estimate * (opts.warmup + opts.duration) * _MARGIN))
    per_byte = _MESSAGE_BYTES.get(per_message, 200 * per_message)
    messages = min(messages, _LOAD_BUDGET_BYTES // per_byte)
    loaddir = ctx.workdir / "load"
    loaddir.mkdir(exist_ok=True)
    files = write_files(ctx.load_gateways, messages, per_message, loaddir)
    publishers = FilePublishers(ctx.broker, files)
    total = publishers.total
    notes: list[str] = []
    _settle(ctx)
    consumer.start()
    try:
        consumer.prime(probe_publisher(ctx.broker, ctx.load_gateways[0], per_message))
        watch = ProcWatch(consumer.pid)
        writes_influx = getattr(consumer, "influx", None) is not None
        influx_proc = ctx.influx.proc
        influx_watch = ProcWatch(influx_proc.pid) if writes_influx and influx_proc else None
        publishers.start()
        # A fast consumer may drain the capped load within the warm-up: keep the warm-up to a
        # small share of the load's expected duration.
        warmup = min(opts.warmup, 0.15 * messages / max(estimate, 1.0))
        if warmup < opts.warmup:
            notes.append(f"warm-up shortened to {warmup:.1f} s (the load is capped)")
        warm_end = publishers.started + warmup
        while time.monotonic() < warm_end:
            publishers.poll()
            time.sleep(0.1)
        acked = getattr(consumer, "acked", None)
        c0 = consumer.count()
        a0 = acked() if acked else 0
        watch.begin()
        if influx_watch:
            influx_watch.begin()
        t0 = time.monotonic()
        # (time, count) at each poll: where the count stopped moving, if it did.
        samples = [(t0, c0)]
        while time.monotonic() - t0 < opts.duration:
            time.sleep(0.25)
            publishers.poll()
            watch.sample()
            samples.append((time.monotonic(), consumer.count()))
            if samples[-1][1] >= total:
                notes.append("the load ran out before the window closed (window shortened)")
                break
        else:
            samples.append((time.monotonic(), consumer.count()))
        t1, c1 = samples[-1]
        a1 = acked() if acked else 0
        watch.end()
        if influx_watch:
            influx_watch.end()
        window = t1 - t0
        still_publishing = not publishers.poll()
        deadline = time.monotonic() + max(60.0, opts.duration * 2)
        while not publishers.poll() and time.monotonic() < deadline:
            time.sleep(0.1)
        if publishers.failed():
            notes.append(f"a publisher failed: exit codes {publishers.failed()}")
        pub_rate = (
            total / (publishers.finished - publishers.started) if publishers.finished else None
        )
        rate = (c1 - c0) / window
        if still_publishing and pub_rate is not None and rate > 0.9 * pub_rate:
            notes.append("the publishers may have been the bottleneck")
        # Drain: wait until everything published is stored, or nothing moves for 10 s.
        final, last_change = consumer.count(), time.monotonic()
        drain_deadline = time.monotonic() + max(60.0, 3 * opts.duration)
        while final < total and time.monotonic() < drain_deadline:
            time.sleep(0.5)
            now_count = consumer.count()
            if now_count != final:
                final, last_change = now_count, time.monotonic()
            elif time.monotonic() - last_change > 10:
                break
        lost: int | None = total - final
        if final < total and time.monotonic() >= drain_deadline:
            notes.append(f"{total - final} messages still undelivered when the drain timed out")
            lost = None
        elif final < total and final == c1 and not still_publishing:
            # A consumer that dropped messages stored nothing after the window: the window ends
            # where its count reached its final value, so what it stored is credited over the
            # time it spent storing, not diluted by the idle rest of the window.
            plateau = next(t for t, c in samples if c == final)
            if t1 - plateau > _STALL_S:
                t1, window = plateau, plateau - t0
                notes.append(
                    "it stored nothing more once the publishers were done: window ended at its "
                    "last stored message"
                )
                rate = (c1 - c0) / window if window > 0 else 0.0
        if window < 2:
            notes.append(f"a window of {window:.1f} s only: an unreliable figure")
    finally:
        consumer.stop()
        publishers.stop()
        notes += consumer.problems()
        for _, paths, _ in files:
            for path in paths:
                path.unlink(missing_ok=True)
    if rate > 0:
        ctx.rates[key] = rate
    notes.append(consumer.acks)
    return IngestRun(
        msgs_s=rate,
        readings_s=rate * per_message,
        publish_msgs_s=pub_rate,
        cpu_pct=watch.cpu_pct,
        rss_mib=watch.rss_peak_kb / 1024,
        lost=lost,
        window_s=window,
        published=total,
        acked_msgs_s=(a1 - a0) / window if acked else None,
        influxd_cpu_pct=influx_watch.cpu_pct if influx_watch else None,
        notes=notes,
    )


def _consumer_factory(ctx: Context, kind: str, per_message: int) -> Callable[[], Consumer]:
    wd = ctx.workdir
    if kind == "bare":
        return lambda: BareSubscriber(ctx.broker, None, per_message, wd)
    if kind == "script":
        return lambda: BareSubscriber(ctx.broker, ctx.influx, per_message, wd)
    if kind == "sqlite":
        return lambda: LinliServer(
            ctx.broker, None, per_message, wd, ctx.registry_yaml, ctx.server_env
        )
    if kind == "influx":
        return lambda: LinliServer(
            ctx.broker, ctx.influx, per_message, wd, ctx.registry_yaml, ctx.server_env
        )
    if kind == "nodered":
        return lambda: NodeRed(ctx.broker, ctx.influx, per_message, wd, batched=False)
    if kind == "nodered-batch":
        return lambda: NodeRed(ctx.broker, ctx.influx, per_message, wd, batched=True)
    raise ValueError(kind)


_LABELS = {
    "bare": "bare paho subscriber, count only (ceiling)",
    "script": "bare paho subscriber → InfluxDB v1 /write, batched",
    "sqlite": "Linli server → SQLite (ack after commit, rules on)",
    "influx": "Linli server → InfluxDB (ack after spool commit; rate as stored in influxd)",
    "nodered": "Node-RED mqtt in → json → influxdb out (per message)",
    "nodered-batch": "Node-RED mqtt in → json → join → influxdb batch",
}


def ingest_bench(kind: str) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        name = f"ingest-{kind}"
        if kind.startswith("nodered") and not node_red_available():
            raise RuntimeError("Node-RED is not installed (scripts/bench installs it)")
        for per_message in ctx.opts.per_message:
            runs: list[IngestRun] = []
            for rep in range(ctx.opts.repeats):
                consumer = _consumer_factory(ctx, kind, per_message)()
                r = _ingest_once(ctx, consumer, per_message, (kind, per_message))
                runs.append(r)
                print(
                    f"  {name} {per_message}/msg #{rep + 1}: {r.msgs_s:,.0f} msg/s "
                    f"({r.readings_s:,.0f} readings/s), published "
                    f"{r.publish_msgs_s or 0:,.0f} msg/s, CPU {r.cpu_pct:.0f} %, "
                    f"RSS {r.rss_mib:.0f} MiB, lost {r.lost}"
                    + (f"  [{'; '.join(r.notes)}]" if r.notes else ""),
                    flush=True,
                )
            _ingest_figures(ctx, kind, per_message, runs)

    return run


def _ingest_figures(ctx: Context, kind: str, per_message: int, runs: list[IngestRun]) -> None:
    name = f"ingest-{kind}"
    label = f"{_LABELS[kind]}, {per_message} reading(s)/msg"
    detail = [r.__dict__ for r in runs]
    notes = sorted({n for r in runs for n in r.notes})
    repro = ctx.reproduce(name)
    rows: list[tuple[str, str, list[float]]] = [
        ("messages/s", "msg/s", [r.msgs_s for r in runs]),
        ("readings/s", "readings/s", [r.readings_s for r in runs]),
        ("publish rate", "msg/s", [r.publish_msgs_s or 0.0 for r in runs]),
        ("consumer CPU", "% of a core", [r.cpu_pct for r in runs]),
        ("consumer peak RSS", "MiB", [r.rss_mib for r in runs]),
        ("messages lost", "msg", [float(r.lost) for r in runs if r.lost is not None]),
    ]
    if kind == "influx":
        rows.append(("acked (spooled) messages/s", "msg/s", [r.acked_msgs_s or 0.0 for r in runs]))
    influxd = [r.influxd_cpu_pct for r in runs if r.influxd_cpu_pct is not None]
    if influxd:
        # influxd's work differs by consumer (Linli writes 4 tags and 5 fields per point, the
        # baselines 2 and 2), and it shares the 2 cores with the consumer.
        rows.append(("influxd CPU", "% of a core", influxd))
    for i, (metric, unit, values) in enumerate(rows):
        ctx.figures.append(
            Figure(
                name,
                f"{label}: {metric}",
                unit,
                values,
                repro,
                notes if i == 0 else [],
                detail if i == 0 else [],
            )
        )


def _ratios(ctx: Context) -> None:
    """Linli ÷ baseline, from the medians of this run."""

    def med(kind: str, per_message: int, metric: str) -> float | None:
        for f in ctx.figures:
            if (
                f.bench == f"ingest-{kind}"
                and f.metric.endswith(f"{per_message} reading(s)/msg: {metric}")
                and f.values
            ):
                return f.median
        return None

    pairs = [
        ("sqlite", "bare", "messages/s"),
        ("influx", "script", "readings/s"),
        ("influx", "nodered", "readings/s"),
        ("influx", "nodered-batch", "readings/s"),
        ("sqlite", "nodered-batch", "readings/s"),
    ]
    for per_message in PER_MESSAGE:
        for ours, theirs, metric in pairs:
            a, b = med(ours, per_message, metric), med(theirs, per_message, metric)
            if a is None or b is None or b == 0:
                continue
            ctx.figures.append(
                Figure(
                    "ratios",
                    f"{_LABELS[ours].split(' (')[0]} ÷ {_LABELS[theirs].split(',')[0]}, "
                    f"{per_message}/msg, {metric}",
                    "×",
                    [a / b],
                    "(from the two figures above, same run)",
                )
            )


BENCHMARKS: dict[str, Callable[[Context], None]] = {
    **{f"ingest-{k}": ingest_bench(k) for k in _LABELS},
    "alarm-latency": _extra.alarm_latency,
    "edge-agent": _extra.edge_agent,
    "sim": _extra.simulator,
    "queries": _extra.queries,
}


def _selected(only: list[str]) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    names = []
    for item in only:
        for part in item.split(","):
            matches = [n for n in BENCHMARKS if n == part or n.startswith(part + "-")]
            if not matches:
                raise SystemExit(f"unknown benchmark {part!r}; --list shows them")
            names += [m for m in matches if m not in names]
    return names


def _table(figures: list[Figure]) -> str:
    lines = [f"{'figure':<96} {'median':>12} {'min':>10} {'max':>10}  unit"]
    current = None
    for f in figures:
        if f.bench != current:
            current = f.bench
            lines.append(f"-- {f.bench}   reproduce: {f.reproduce}")
        lo = min(f.values) if f.values else float("nan")
        hi = max(f.values) if f.values else float("nan")
        fmt = "{:>12,.1f}" if f.median < 100 else "{:>12,.0f}"
        lines.append(
            f"{f.metric[:96]:<96} {fmt.format(f.median)} {fmt.format(lo)[2:]:>10} "
            f"{fmt.format(hi)[2:]:>10}  {f.unit}"
        )
        for note in f.notes:
            lines.append(f"{'':<4}note: {note}")
    return "\n".join(lines)


@contextlib.contextmanager
def _services(ctx: Context) -> Iterator[None]:
    ctx.broker.start()
    ctx.influx.start()
    try:
        yield
    finally:
        ctx.influx.stop()
        ctx.broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 s warm-up, 8 s window, 1 repeat")
    parser.add_argument("--warmup", type=float, help="seconds before each window (default 5)")
    parser.add_argument("--duration", type=float, help="measurement window in s (default 30)")
    parser.add_argument("--repeats", type=int, help="repeats per figure (default 3)")
    parser.add_argument("--publishers", type=int, default=4, help="mosquitto_pub processes")
    parser.add_argument(
        "--per-message",
        default="1,50",
        help="readings per message of the ingest benchmarks (default 1,50)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="LINLI_X=VALUE",
        help="a setting for every Linli server started (to compare configurations)",
    )
    parser.add_argument("--only", action="append", default=[], help="a benchmark or prefix")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/<time>.json)")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    raw = sys.argv[1:] if argv is None else argv
    opts = Options(
        warmup=args.warmup if args.warmup is not None else (2.0 if args.quick else 5.0),
        duration=args.duration if args.duration is not None else (8.0 if args.quick else 30.0),
        repeats=args.repeats if args.repeats is not None else (1 if args.quick else 3),
        publishers=args.publishers,
        quick=args.quick,
        argv=raw,
        per_message=tuple(int(x) for x in args.per_message.split(",")),
        server_env=tuple(args.server_env),
    )
    names = _selected(args.only)
    started = datetime.now(UTC)
    out = args.out or REPO / "bench" / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        ctx = Context(opts, Path(tmp))
        desc = machine()
        print("machine:", json.dumps(desc, ensure_ascii=False), flush=True)
        with _services(ctx):
            for name in names:
                print(f"==> {name}", flush=True)
                t = time.monotonic()
                try:
                    BENCHMARKS[name](ctx)
                except Exception as exc:  # one broken benchmark must not lose the others
                    errors[name] = f"{type(exc).__name__}: {exc}"
                    print(f"  {name} FAILED: {errors[name]}", flush=True)
                print(f"  ({time.monotonic() - t:.0f} s)", flush=True)
        _ratios(ctx)
    print()
    print(_table(ctx.figures))
    for name, error in errors.items():
        print(f"FAILED {name}: {error}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "command": shlex.join(["scripts/bench", *raw]),
                "options": {k: v for k, v in opts.__dict__.items() if k != "argv"},
                "machine": desc,
                "figures": [f.as_json() for f in ctx.figures],
                "errors": errors,
                "threads_alive_at_end": threading.active_count(),
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
    )
    print(f"results: {out}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
