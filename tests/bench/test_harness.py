"""The benchmark harness runs end to end in its quickest mode on its cheapest benchmark, so it
cannot rot unnoticed. Figures are recorded, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.mosquitto
@pytest.mark.influxdb
def test_quickest_run_writes_figures_and_machine(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            *(
                "--only",
                "ingest-bare",
                "--quick",
                "--warmup",
                "0.5",
                "--duration",
                "2",
                "--per-message",
                "1",
            ),
            *("--out", str(out)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert {"cpu", "cores", "ram_gib", "os", "python", "mosquitto", "influxd"} <= set(
        result["machine"]
    )
    assert result["errors"] == {}
    by_metric = {f["metric"]: f for f in result["figures"]}
    rate = by_metric["bare paho subscriber, count only (ceiling), 1 reading(s)/msg: messages/s"]
    assert rate["median"] > 0
    assert rate["reproduce"].startswith("scripts/bench --only ingest-bare --quick")
    lost = by_metric["bare paho subscriber, count only (ceiling), 1 reading(s)/msg: messages lost"]
    assert lost["values"] == [0.0]
    assert "reproduce: scripts/bench --only ingest-bare" in proc.stdout
