"""``linli rules check``: the shipped packs pass; a bad pack is named and fails the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from linli_cli import main
from tests.rules.live.factories import PACKS


def test_the_shipped_packs_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    out = capsys.readouterr().out
    assert "national 2026.1: 9 rules" in out
    assert "hangzhou 2026.1: 9 rules" in out


def test_a_bad_pack_fails_naming_file_rule_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "national.yaml").write_text((PACKS / "national.yaml").read_text())
    (tmp_path / "city.yaml").write_text(
        "id: city\nversion: '1'\nextends: national\nrules:\n- {id: door.held_open, rooms: [r9]}\n"
    )
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "sites:\n  - id: s1\n    name: 幸福里\n    jurisdiction: city\n"
        "    rooms: [{id: r1, name: 日间照料室, floor: 1}]\n"
    )
    assert main(["rules", "check", "--dir", str(tmp_path), "--registry", str(registry)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'city.yaml'}: rule 'door.held_open': rooms: no room 'r9'" in err
