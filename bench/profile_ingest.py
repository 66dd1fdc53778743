"""Profile the ingest server under the harness's load with py-spy (not a dependency:
``.venv/bin/pip install py-spy``). Writes a flame graph SVG and a top-functions text file.

    .venv/bin/python bench/profile_ingest.py --per-message 1 --seconds 20 --out /tmp/ingest
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._consumers import LinliServer  # noqa: E402
from bench._load import FilePublishers, bench_registry, registry_yaml, write_files  # noqa: E402
from tests.services import InfluxDB, Mosquitto  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--store", choices=["sqlite", "influx"], default="sqlite")
    parser.add_argument("--env", action="append", default=[], help="extra LINLI_X=value")
    parser.add_argument("--out", type=Path, default=Path("/tmp/linli-ingest-profile"))
    args = parser.parse_args()
    pyspy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker, influx = Mosquitto(workdir / "m"), InfluxDB(workdir / "i")
        broker.start()
        influx.start()
        registry, gateways = bench_registry(16)
        extra = dict(e.split("=", 1) for e in args.env)
        server = LinliServer(
            broker,
            influx if args.store == "influx" else None,
            args.per_message,
            workdir,
            registry_yaml(registry),
            extra,
        )
        server.start()
        files = write_files(gateways[:4], args.messages, args.per_message, workdir)
        pubs = FilePublishers(broker, files)
        try:
            pubs.start()
            time.sleep(2)
            a0, t0 = server.acked(), time.monotonic()
            subprocess.run(
                [pyspy, "record", "-p", str(server.pid), "-d", str(int(args.seconds)),
                 "-o", f"{args.out}.svg", "--threads", "--nonblocking"],
                check=True,
            )  # fmt: skip
            subprocess.run(
                [pyspy, "record", "-p", str(server.pid), "-d", "5", "-f", "raw",
                 "-o", f"{args.out}.txt", "--nonblocking"],
                check=True,
            )  # fmt: skip
            rate = (server.acked() - a0) / (time.monotonic() - t0)
            print(f"{rate:,.0f} msg/s while profiling; flame graph {args.out}.svg")
        finally:
            server.stop()
            pubs.stop()
            influx.stop()
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
