"""``linli sim``: run a simulated fleet against an MQTT broker on an accelerated clock."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from firmware_sims._demo import demo_registry
from firmware_sims._errors import ScenarioError, SimError
from firmware_sims.clock import AnchoredClock
from firmware_sims.fleet import DEFAULT_MAX_STEP, Fleet, generate_registry, load_registry
from firmware_sims.mqtt import DEFAULT_MAX_UNACKED, MqttOptions, MqttSink
from firmware_sims.runner import DEFAULT_TICK_S, FleetRunner, Progress
from firmware_sims.scenarios import (
    BUILTIN_SCENARIOS,
    Scenario,
    builtin,
    load_scenario_file,
    parse_duration,
)
from protocol import SystemClock

__all__ = ["SimSettings", "main"]

log = logging.getLogger(__name__)

# The coarsest world step at high speeds: the shortest rule durations are tens of seconds.
_MAX_STEP_CAP = timedelta(seconds=60)


class SimSettings(BaseSettings):
    """Settings of ``linli sim`` (environment ``LINLI_SIM_*``; command-line options win)."""

    model_config = SettingsConfigDict(env_prefix="LINLI_SIM_", extra="ignore")

    broker: str = Field(default="127.0.0.1:1883", description="HOST:PORT of the MQTT broker")
    # One simulated minute per real second: a day in 24 minutes, readable on a dashboard.
    speed: float = Field(default=60.0, gt=0, le=100_000)
    seed: int = 0
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    tick_s: float = Field(default=DEFAULT_TICK_S, gt=0, le=10)
    max_unacked: int = Field(default=DEFAULT_MAX_UNACKED, ge=1, le=60_000)


def _broker(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65_536:
        raise SimError(f"--broker: expected HOST:PORT, got {value!r}")
    return host, int(port)


def _duration(value: str, option: str) -> timedelta:
    parsed = parse_duration(value)
    if not isinstance(parsed, timedelta):
        raise SimError(
            f"{option}: expected a duration such as 90s, 10m, 1h30m or 7d, got {value!r}"
        )
    return parsed


def _start(value: str | None) -> datetime:
    if value is None:
        return SystemClock().now()
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise SimError(f"--start: expected an ISO 8601 time, got {value!r}") from None
    return start if start.tzinfo is not None else start.replace(tzinfo=UTC)


def _anchor(value: str | None) -> datetime:
    if value is None:
        return SystemClock().now()
    try:
        anchor = datetime.fromisoformat(value)
    except ValueError:
        raise SimError(f"--anchor: expected an ISO 8601 time, got {value!r}") from None
    return anchor if anchor.tzinfo is not None else anchor.replace(tzinfo=UTC)


def _scenarios(
    specs: list[str], fleet: Fleet, start: datetime, site: str | None
) -> list[tuple[Scenario, datetime]]:
    out: list[tuple[Scenario, datetime]] = []
    for spec in specs:
        name, _, offset_text = spec.partition("@")
        offset = _duration(offset_text, f"--scenario {spec}") if offset_text else timedelta(0)
        when = start + offset
        if name.endswith((".yaml", ".yml")) or Path(name).is_file():
            scenario = load_scenario_file(name)
        else:
            scenario = builtin(name, fleet, start=when, site=site)
        scenario.check(fleet)
        out.append((scenario, when))
    return out


def _reproduce(args: argparse.Namespace, settings: SimSettings, start: datetime) -> str:
    parts = ["linli", "sim"]
    if args.generate:
        parts += ["--generate", str(args.generate), "--rooms-per-site", str(args.rooms_per_site)]
    elif args.registry:
        parts += ["--registry", args.registry]
    parts += ["--broker", settings.broker, "--speed", f"{settings.speed:g}"]
    parts += ["--seed", str(settings.seed), "--start", start.isoformat()]
    if args.duration:
        parts += ["--duration", args.duration]
    for spec in args.scenario:
        parts += ["--scenario", spec]
    if args.site:
        parts += ["--site", args.site]
    return shlex.join(parts)


def main(args: argparse.Namespace) -> int:
    """Run ``linli sim`` with parsed arguments; returns the exit status."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.list_scenarios:
        for spec in BUILTIN_SCENARIOS.values():
            print(f"{spec.name:24} {spec.summary}")
        return 0
    overrides = {
        k: v
        for k, v in {
            "broker": args.broker,
            "speed": args.speed,
            "seed": args.seed,
            "mqtt_protocol": args.mqtt,
        }.items()
        if v is not None
    }
    try:
        settings = SimSettings(**overrides)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        print(f"linli sim: error: {err['loc'][0]}: {err['msg']}", file=sys.stderr)
        return 2
    try:
        return _run(args, settings)
    except (SimError, ScenarioError) as exc:
        print(f"linli sim: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: SimSettings) -> int:
    host, port = _broker(settings.broker)
    if args.generate:
        registry = generate_registry(args.generate, rooms_per_site=args.rooms_per_site)
    elif args.registry:
        registry = load_registry(args.registry)
    else:
        registry = demo_registry()
    start = _start(args.start)
    until = start + _duration(args.duration, "--duration") if args.duration else None
    anchor = _anchor(args.anchor)
    # Anchored to the wall clock, so a server given the same --start/--anchor/--speed agrees.
    clock = AnchoredClock(start, anchor, settings.speed)
    # Steps grow with the speed so a fast clock does not mean thousands of tiny steps a second,
    # but never beyond a minute: rules time doors and evacuations in tens of seconds.
    max_step = min(
        _MAX_STEP_CAP, max(DEFAULT_MAX_STEP, timedelta(seconds=settings.speed * settings.tick_s))
    )
    fleet = Fleet(registry, start=start, seed=settings.seed, max_step=max_step)
    planned = _scenarios(args.scenario, fleet, start, args.site)
    sink = MqttSink(
        MqttOptions(
            host=host,
            port=port,
            protocol=settings.mqtt_protocol,
            max_unacked=settings.max_unacked,
        )
    )
    progress = None if args.no_progress else Progress()
    runner = FleetRunner(fleet, sink, clock, tick_s=settings.tick_s, progress=progress)
    for scenario, when in planned:
        runner.schedule(scenario, when)
    print(
        f"linli sim: {len(fleet.devices):,} devices, {len(fleet.gateways):,} gateways, "
        f"{len(fleet.sites):,} sites -> {host}:{port} at {settings.speed:g}x "
        f"(seed {settings.seed}); Ctrl-C stops\n  reproduce: {_reproduce(args, settings, start)}"
        f"\n  shared clock: --start {start.isoformat()} --anchor {anchor.isoformat()} "
        f"--speed {settings.speed:g}",
        file=sys.stderr,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stats = runner.run(until=until, stop=stop)
        sink.flush(30.0)
    finally:
        sink.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for scenario, _ in planned:
        print(f"scenario {scenario.name}: {scenario.outcome}", file=sys.stderr)
    print(
        f"linli sim: {stats.readings:,} readings in {sink.messages:,} messages over "
        f"{stats.real_s:,.1f} s ({stats.readings_per_s:,.0f} readings/s)",
        file=sys.stderr,
    )
    return 0
