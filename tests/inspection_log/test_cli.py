"""``linli verify-log`` and ``linli export`` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from ingest_server.inspection_log import InspectionLog
from protocol import ManualClock
from tests.inspection_log.conftest import KEY, SITE_NAME, sample


def _linli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINLI_INSPECTION_SIGNING_KEY": KEY.decode()}
    env["LINLI_INSPECTION_SIGNING_KEY_ID"] = "test-key"
    return subprocess.run(
        [sys.executable, "-m", "linli_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _populate(engine: Engine, site: str, n: int) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 1, tzinfo=UTC))
    log = InspectionLog(engine, clock)
    log.create_tables()
    log.append_many(site, (sample(i, clock.now() + timedelta(hours=i)) for i in range(n)))


def test_verify_log_on_a_database_then_on_a_tampered_one(
    engine: Engine, db_path: Path, tmp_path: Path, unique_id: str
) -> None:
    _populate(engine, unique_id, 20)
    url = f"sqlite:///{db_path}"
    head = tmp_path / "head.json"
    good = _linli(
        "verify-log", "--db", url, "--site", unique_id, "--emit-head", str(head), cwd=tmp_path
    )
    assert good.returncode == 0, good.stderr
    assert "OK: 20 entries" in good.stdout
    assert json.loads(head.read_text())["seq"] == 20

    _populate(engine, unique_id, 3)
    extends = _linli(
        "verify-log", "--db", url, "--site", unique_id, "--head", str(head), cwd=tmp_path
    )
    assert extends.returncode == 0, extends.stdout + extends.stderr
    assert "EXTENDS" in extends.stdout

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER inspection_entries_no_delete")
    conn.execute("DELETE FROM inspection_entries WHERE site = ? AND seq = 12", (unique_id,))
    conn.close()
    bad = _linli("verify-log", "--db", url, "--site", unique_id, cwd=tmp_path)
    assert bad.returncode == 1
    assert "seq 13" in bad.stdout
    assert "seq 12 missing" in bad.stdout


def test_export_every_format_and_verify_the_json_offline(
    engine: Engine, db_path: Path, tmp_path: Path, unique_id: str
) -> None:
    _populate(engine, unique_id, 48)  # two days, one entry an hour
    url = f"sqlite:///{db_path}"
    common = ["export", "--db", url, "--site", unique_id, "--site-name", f"{unique_id}={SITE_NAME}"]
    day = ["--from", "2026-03-01", "--to", "2026-03-01"]  # local days, "to" inclusive

    out_csv = tmp_path / "day.csv"
    done = _linli(
        *common, *day, "--format", "csv", "--lang", "en", "--out", str(out_csv), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(out_csv.read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "site"
    # 2026-03-01 in Asia/Shanghai is 2026-02-28T16:00Z..2026-03-01T16:00Z: 01:00Z..15:00Z.
    assert len(rows) - 1 == 15
    assert rows[1][1] == SITE_NAME

    out_json = tmp_path / "all.json"
    done = _linli(*common, "--format", "json", "--out", str(out_json), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(out_json.read_text())["signed_heads"][0]["seq"] == 48
    offline = _linli("verify-log", "--file", str(out_json), cwd=tmp_path)
    assert offline.returncode == 0, offline.stdout
    assert "OK: 48 entries" in offline.stdout

    out_pdf = tmp_path / "day.pdf"
    done = _linli(*common, *day, "--format", "pdf", "--out", str(out_pdf), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = subprocess.run(
        ["pdftotext", "-layout", str(out_pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert SITE_NAME in text
    assert "记录条数：15" in text

    tampered = tmp_path / "tampered.json"
    tampered.write_text(out_json.read_text().replace('"王芳"', '"无名"', 1))
    bad = _linli("verify-log", "--file", str(tampered), cwd=tmp_path)
    assert bad.returncode == 1
    assert "seq 2 " in bad.stdout
    assert "edited" in bad.stdout


def test_export_shows_progress_for_long_ranges(
    engine: Engine, db_path: Path, tmp_path: Path, unique_id: str
) -> None:
    _populate(engine, unique_id, 6000)
    out = tmp_path / "big.csv"
    done = _linli(
        "export",
        "--db",
        f"sqlite:///{db_path}",
        "--site",
        unique_id,
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "6,000 / 6,000 entries (100%)" in done.stderr
    assert "3,000 / 6,000" in done.stderr or "3,500 / 6,000" in done.stderr
    assert out.read_bytes().count(b"\r\n") == 6001


def test_an_inspector_checks_an_ed25519_head_with_only_the_public_key(
    engine: Engine, db_path: Path, tmp_path: Path, unique_id: str
) -> None:
    from tests.inspection_log.test_export import _ed25519_keys

    private, public = _ed25519_keys(tmp_path)
    _populate(engine, unique_id, 10)
    url = f"sqlite:///{db_path}"
    operator_env = {**os.environ, "LINLI_INSPECTION_ED25519_PRIVATE_KEY": str(private)}
    head = tmp_path / "head.json"
    signed = subprocess.run(
        [
            sys.executable,
            "-m",
            "linli_cli",
            "verify-log",
            "--db",
            url,
            "--site",
            unique_id,
            "--emit-head",
            str(head),
        ],
        capture_output=True,
        text=True,
        env=operator_env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert json.loads(head.read_text())["alg"] == "Ed25519"
    _populate(engine, unique_id, 5)
    later = tmp_path / "later.json"
    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "linli_cli",
            "export",
            "--db",
            url,
            "--site",
            unique_id,
            "--format",
            "json",
            "--out",
            str(later),
        ],
        capture_output=True,
        text=True,
        env=operator_env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    inspector_env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "linli_cli",
            "verify-log",
            "--file",
            str(later),
            "--head",
            str(head),
            "--public-key",
            str(public),
        ],
        capture_output=True,
        text=True,
        env=inspector_env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "EXTENDS" in checked.stdout
