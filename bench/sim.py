"""How many simulated devices, and readings per second, one simulator process sustains.

Starts a real Mosquitto (tuned like the tests, via tests/services.py) and a QoS 1 subscriber
(mosquitto_sub, another process) that drains every reading, generates a fleet of about --devices
devices, and drives it with a stepped clock as fast as the broker acknowledges: every reading is
published at QoS 1 and PUBACKed before the clock stops. Prints the devices, the readings and
messages per second, and how many times faster than real time that fleet ran.

    .venv/bin/python bench/sim.py --devices 10000 --sim-minutes 60
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_sims import Fleet, FleetRunner, MqttOptions, MqttSink, generate_registry
from protocol import ManualClock
from tests.services import Mosquitto, find_binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--sim-minutes", type=float, default=60.0)
    parser.add_argument("--step-s", type=float, default=10.0, help="simulated seconds per step")
    # 16 rooms make about 49 devices per centre, one gateway each: DESIGN.md's "100 centres ×
    # 50 sensors" pilot, and few enough connections for one process (MAX_GATEWAY_CLIENTS).
    parser.add_argument("--rooms-per-site", type=int, default=16)
    parser.add_argument("--devices-per-gateway", type=int, default=50)
    parser.add_argument("--mqtt", choices=["5", "3.1.1"], default="5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    one = generate_registry(1, rooms_per_site=args.rooms_per_site)
    per_site = len(one.sites[0].devices())
    sites = max(1, round(args.devices / per_site))
    registry = generate_registry(
        sites, rooms_per_site=args.rooms_per_site, devices_per_gateway=args.devices_per_gateway
    )
    start = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday: centres busy
    clock = ManualClock(start)
    built = time.perf_counter()
    fleet = Fleet(registry, start=start, seed=args.seed, max_step=timedelta(seconds=args.step_s))
    built = time.perf_counter() - built

    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        sub = subprocess.Popen(
            [find_binary("mosquitto_sub", "/usr/bin"), "-h", broker.host, "-p", str(broker.port),
             "-q", "1", "-t", "linli/v1/#", "-i", "bench-sub"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        sink = MqttSink(MqttOptions(host=broker.host, port=broker.port, protocol=args.mqtt))
        runner = FleetRunner(fleet, sink, clock)
        try:
            t0 = time.perf_counter()
            stats = runner.run_stepped(
                clock, start + timedelta(minutes=args.sim_minutes), timedelta(seconds=args.step_s)
            )
            flushed = sink.flush(120)
            real = time.perf_counter() - t0
        finally:
            sink.close()
            sub.terminate()
            sub.wait(10)
            broker.stop()

    sim_s = args.sim_minutes * 60
    print(
        f"devices            {len(fleet.devices):,} ({len(fleet.gateways):,} gateways, "
        f"{len(fleet.sites):,} sites; built in {built:.1f} s)"
    )
    speedup = sim_s / real
    print(
        f"simulated          {args.sim_minutes:g} min in {real:.1f} s = {speedup:,.1f}x real time"
    )
    print(
        f"readings           {stats.readings:,} = {stats.readings / real:,.0f} readings/s (QoS 1, "
        f"all acknowledged: {flushed})"
    )
    print(f"messages           {sink.messages:,} = {sink.messages / real:,.0f} messages/s")
    print(
        f"real-time load     {stats.readings / sim_s:,.1f} readings/s at 1x; this process "
        f"sustains that fleet up to {sim_s / real:,.1f}x"
    )
    print("reproduce          .venv/bin/python bench/sim.py " + shlex.join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
