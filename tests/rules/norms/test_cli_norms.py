from __future__ import annotations

import json
from pathlib import Path

import pytest

from linli_cli import main

REGISTRY = """
sites:
  - id: bt-01
    name: 包头测试中心
    jurisdiction: baotou
    households: 2000
    floor_area_m2: 700
    rooms:
      - {id: r1, name: 日间照料, function: elderly_care, floor: 1, area_m2: 350, beds: 10}
      - {id: r2, name: 托育, function: infant_care, floor: 4, area_m2: 150, places: 20}
      - {id: r3, name: 食堂, function: dining, floor: 1, area_m2: 100}
  - id: sz-01
    name: 深圳测试中心
    jurisdiction: shenzhen
"""


def test_norms_check_prints_each_norm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "sites.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    assert main(["norms", "check", str(registry), "--site", "bt-01"]) == 0
    out = capsys.readouterr().out
    assert "bt-01 (baotou" in out
    assert "fail" in out
    assert "infant.floor" in out
    assert "第十四条" in out
    assert main(["norms", "check", str(registry), "--site", "bt-01", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    statuses = {r["norm"]: r["status"] for r in report["results"]}
    assert statuses["elderly.per_bed"] == "pass"  # exactly 35 m² per bed
    assert statuses["infant.per_place"] == "fail"  # 7.5 m² per place


def test_norms_check_reports_an_unknown_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "sites.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    assert main(["norms", "check", str(registry)]) == 2
    assert "shenzhen" in capsys.readouterr().err
    assert main(["norms", "check", str(registry), "--site", "nowhere"]) == 2
