"""Cost of the broker's security files at city scale: generating them, Mosquitto loading them,
and a gateway's CONNECT with a password check and a large ACL.

    .venv/bin/python bench/mqtt_acl.py [--sites 2000] [--connects 200]

Each generated site has one gateway (firmware_sims.generate_registry), so ``--sites`` is also
the number of gateway users. Mosquitto runs on a free loopback port with the generated passwd
and acl; the connects are sequential paho clients, so the figure is latency, not throughput.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from firmware_sims import generate_registry  # noqa: E402
from ingest_server.broker_acl import generate, read_credentials  # noqa: E402
from tests.mqtt_security.clients import Client  # noqa: E402
from tests.services import Mosquitto  # noqa: E402


class AuthMosquitto(Mosquitto):
    def __init__(self, workdir: Path, acl_dir: Path) -> None:
        super().__init__(workdir)
        text = self.config_path.read_text().replace("allow_anonymous true", "allow_anonymous false")
        text += f"password_file {acl_dir}/passwd\nacl_file {acl_dir}/acl\n"
        self.config_path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--connects", type=int, default=200)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="linli-bench-acl-"))
    registry = generate_registry(args.sites)
    gateways = [g.id for s in registry.sites for g in s.gateways]

    started = time.perf_counter()
    generate(registry, workdir / "acl", source="generated")
    first = time.perf_counter() - started
    started = time.perf_counter()
    result = generate(registry, workdir / "acl", source="generated", rotate=gateways[:1])
    rerun = time.perf_counter() - started
    passwords = read_credentials(workdir / "acl" / "credentials")

    broker = AuthMosquitto(workdir / "broker", workdir / "acl")
    started = time.perf_counter()
    broker.start()
    load = time.perf_counter() - started
    latencies: list[float] = []
    try:
        for i in range(args.connects):
            gw = gateways[i % len(gateways)]
            client = Client(f"{gw}-bench", gw, passwords[gw])
            started = time.perf_counter()
            outcome = client.connect(broker.port)
            latencies.append(time.perf_counter() - started)
            client.close()
            assert outcome.connected, outcome.reason
    finally:
        broker.stop()
    size = sum(p.stat().st_size for p in result.paths.values())
    print(f"users: {len(result.users)} ({len(gateways)} gateways), files: {size / 1024:.0f} KiB")
    print(f"generate, first run: {first * 1000:.0f} ms; re-run: {rerun * 1000:.0f} ms")
    print(f"mosquitto start with these files until it answers: {load * 1000:.0f} ms")
    latencies.sort()
    print(
        f"CONNECT to CONNACK over {len(latencies)} sequential gateways: median "
        f"{statistics.median(latencies) * 1000:.1f} ms, p95 "
        f"{latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms"
    )
    command = f"bench/mqtt_acl.py --sites {args.sites} --connects {args.connects}"
    print(f"reproduce: .venv/bin/python {command}")


if __name__ == "__main__":
    main()
