"""Exports: CSV that Excel reads, JSON that verifies offline, PDF with the CJK font embedded, empty
ranges, filters, and signed heads that later exports extend."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest_server.db import make_engine
from ingest_server.inspection_log import (
    CjkFont,
    Ed25519Signer,
    Entry,
    Exporter,
    HeadSigner,
    InspectionLog,
    Link,
    Problem,
    Query,
    SignedHead,
    check_extends,
    read_export,
    verify_export_file,
)
from protocol import ManualClock
from tests.inspection_log.conftest import SITE_NAME, fill, sample


def _exporter(log: InspectionLog, font: CjkFont, site: str, signer: HeadSigner | None) -> Exporter:
    return Exporter(log, site_names={site: SITE_NAME}, font=lambda: font, signer=signer)


def _patrol(log: InspectionLog, clock: ManualClock, site: str, remarks: str) -> None:
    log.record_manual(
        site,
        {
            "category": "patrol",
            "occurred_at": clock.now().isoformat(),
            "inspector": "张三",
            "checklist": {"exits_clear": "pass", "fire_doors_closed": "fail"},
            "remarks": remarks,
        },
    )


def _items(path: Path) -> list[Entry | Link]:
    with path.open(encoding="utf-8") as stream:
        return list(read_export(stream))


def _write(tmp_path: Path, name: str, chunks: object) -> Path:
    path = tmp_path / name
    assert not isinstance(chunks, bytes)
    path.write_bytes(b"".join(chunks))  # type: ignore[arg-type]
    return path


def test_csv_has_a_bom_and_reads_back_with_chinese_headers(
    log: InspectionLog, clock: ManualClock, font: CjkFont, signer: HeadSigner, unique_id: str
) -> None:
    fill(log, clock, unique_id, 4)
    _patrol(log, clock, unique_id, '=HYPERLINK("http://x")')
    data = b"".join(_exporter(log, font, unique_id, signer).chunks(Query(site=unique_id), "csv"))
    assert data.startswith(codecs.BOM_UTF8)
    # What Excel does: take the BOM as the encoding mark, then parse.
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][:4] == ["场所编号", "场所名称", "序号", "发生时间"]
    assert len(rows) == 6
    assert rows[1][1] == SITE_NAME
    assert rows[1][5] == "报警发生"
    assert rows[2][7] == "王芳"
    patrol = rows[5]
    assert patrol[5] == "防火巡查"
    assert "安全出口、疏散通道畅通: 合格" in patrol[8]
    assert patrol[8].startswith("检查人")
    assert patrol[2] == "5"
    # A remark starting with "=" must not become a formula in the spreadsheet.
    dicts = list(csv.DictReader(io.StringIO(text, newline="")))
    assert all(not v.startswith("=") for row in dicts for v in row.values())
    assert b"\r\n" in data


def test_csv_headers_in_english(
    log: InspectionLog, clock: ManualClock, font: CjkFont, unique_id: str
) -> None:
    fill(log, clock, unique_id, 2)
    data = b"".join(
        _exporter(log, font, unique_id, None).chunks(Query(site=unique_id), "csv", "en")
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["site", "site name", "seq"]
    assert rows[1][5] == "Alarm raised"


def test_json_export_verifies_offline_and_tampering_is_named(
    log: InspectionLog,
    clock: ManualClock,
    font: CjkFont,
    signer: HeadSigner,
    tmp_path: Path,
    unique_id: str,
) -> None:
    fill(log, clock, unique_id, 12)
    exporter = _exporter(log, font, unique_id, signer)
    path = _write(tmp_path, "log.json", exporter.chunks(Query(site=unique_id), "json"))
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["count"] == 12
    assert document["heads"] == [{"site": unique_id, "seq": 12, "hash": log.head(unique_id).hash}]  # type: ignore[union-attr]
    report = verify_export_file(path)
    assert report.ok, report.summary()
    assert report.sites[unique_id].from_genesis

    lines = path.read_text(encoding="utf-8").splitlines()
    edited = [
        line.replace('"王芳"', '"赵六"', 1) if '"seq": 5,' in line else line for line in lines
    ]
    assert edited != lines
    (tmp_path / "edited.json").write_text("\n".join(edited) + "\n", encoding="utf-8")
    bad = verify_export_file(tmp_path / "edited.json")
    assert (bad.bad_seq, bad.problem) == (5, Problem.EDITED)

    dropped = [line for line in lines if '"seq": 8,' not in line]
    (tmp_path / "dropped.json").write_text("\n".join(dropped) + "\n", encoding="utf-8")
    bad = verify_export_file(tmp_path / "dropped.json")
    assert (bad.bad_seq, bad.problem) == (9, Problem.MISSING)

    # A pretty-printed copy (as an editor would save it) still verifies, without streaming.
    (tmp_path / "pretty.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
    assert verify_export_file(tmp_path / "pretty.json").ok


def test_filtered_json_keeps_the_chain_with_links(
    log: InspectionLog, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    start = clock.now()
    fill(log, clock, unique_id, 9)
    query = Query(
        site=unique_id,
        start=start + timedelta(minutes=3),
        categories=frozenset({"detector_self_test"}),  # type: ignore[arg-type]
    )
    path = _write(
        tmp_path, "tests.json", _exporter(log, font, unique_id, None).chunks(query, "json")
    )
    items = _items(path)
    full = [i.seq for i in items if hasattr(i, "payload")]
    assert full == [3, 6, 9]
    assert [i.seq for i in items] == list(range(3, 10))
    assert verify_export_file(path).ok


def test_a_later_export_extends_an_earlier_signed_head_and_a_forged_one_does_not(
    log: InspectionLog,
    clock: ManualClock,
    font: CjkFont,
    signer: HeadSigner,
    tmp_path: Path,
    unique_id: str,
) -> None:
    fill(log, clock, unique_id, 5)
    exporter = _exporter(log, font, unique_id, signer)
    first = _write(tmp_path, "first.json", exporter.chunks(Query(site=unique_id), "json"))
    earlier = SignedHead.model_validate(json.loads(first.read_text())["signed_heads"][0])
    assert earlier.seq == 5
    fill(log, clock, unique_id, 5)
    later = _write(tmp_path, "later.json", exporter.chunks(Query(site=unique_id), "json"))

    result = check_extends(_items(later), earlier, signer)
    assert result.ok, result.reason

    forged = earlier.model_copy(update={"hash": "f" * 64})
    result = check_extends(_items(later), forged, signer)
    assert not result.ok
    assert "forged" in result.reason

    other_key = HeadSigner(b"x" * 32, "test-key")
    resigned = other_key.sign(unique_id, 5, "f" * 64, clock.now())
    assert not check_extends(_items(later), resigned, signer).ok

    # A head honestly signed over a chain that was later rewritten: the seq's hash differs.
    rewritten = signer.sign(unique_id, 5, "e" * 64, clock.now())
    result = check_extends(_items(later), rewritten, signer)
    assert not result.ok
    assert "rewritten" in result.reason


def _pdftotext(path: Path, *options: str) -> str:
    return subprocess.run(
        ["pdftotext", *options, str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_pdf_embeds_the_cjk_font_and_shows_the_site_and_entries(
    log: InspectionLog, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 60)
    _patrol(log, clock, unique_id, "二楼防火门被杂物顶住")
    exporter = _exporter(log, font, unique_id, None)
    path = _write(tmp_path, "log.pdf", exporter.chunks(Query(site=unique_id), "pdf"))
    text = _pdftotext(path, "-layout")
    assert SITE_NAME in text
    assert "消防安全检查记录" in text
    assert "分类汇总" in text
    assert "报警发生" in text
    assert "探测器自检" in text
    # Wrapped over two lines of its cell; the reading-order text has it in one block.
    assert "二楼防火门被杂物顶住" in "".join(_pdftotext(path).split())
    for seq in (1, 30, 61):
        assert f"\n{seq} " in text
    fonts = subprocess.run(
        ["pdffonts", str(path)], check=True, capture_output=True, text=True
    ).stdout
    font_rows = fonts.splitlines()[2:]
    assert font_rows
    assert all(" yes yes yes " in row for row in font_rows)  # embedded, subset, ToUnicode
    pages = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    assert "Pages:" in pages.stdout
    assert "Creation" in pages.stdout
    assert pages.stderr == ""  # poppler reports a broken xref or object here


def test_empty_ranges_give_valid_empty_files(
    log: InspectionLog,
    clock: ManualClock,
    font: CjkFont,
    signer: HeadSigner,
    tmp_path: Path,
    unique_id: str,
) -> None:
    fill(log, clock, unique_id, 3)
    far = datetime(2030, 1, 1, tzinfo=UTC)
    query = Query(site=unique_id, start=far, end=far + timedelta(days=30))
    exporter = _exporter(log, font, unique_id, signer)

    data = b"".join(exporter.chunks(query, "csv"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(rows) == 1
    assert rows[0][0] == "场所编号"

    path = _write(tmp_path, "empty.json", exporter.chunks(query, "json"))
    document = json.loads(path.read_text())
    assert document["count"] == 0
    assert document["entries"] == []
    assert verify_export_file(path).ok

    pdf = _write(tmp_path, "empty.pdf", exporter.chunks(query, "pdf", "en"))
    text = _pdftotext(pdf)
    assert "No entries in this range." in text
    assert SITE_NAME in text

    unknown = Query(site="nobody-" + unique_id)
    assert b"".join(exporter.chunks(unknown, "csv")).count(b"\r\n") == 1


def test_all_sites_export_verifies_each_chain(
    log: InspectionLog, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id + "a", 4)
    fill(log, clock, unique_id + "b", 3)
    exporter = _exporter(log, font, unique_id, None)
    path = _write(tmp_path, "all.json", exporter.chunks(Query(), "json"))
    report = verify_export_file(path)
    assert report.ok
    assert {s: i.count for s, i in report.sites.items()} == {unique_id + "a": 4, unique_id + "b": 3}
    pdf = _write(tmp_path, "all.pdf", exporter.chunks(Query(), "pdf"))
    text = _pdftotext(pdf)
    assert "全部场所" in text
    assert unique_id + "b" in text


@pytest.fixture(scope="module")
def busy_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspectionLog]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('busy')}/records.db")
    clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
    log = InspectionLog(engine, clock)
    log.create_tables()
    start = clock.now()
    log.append_many("busy", (sample(i, start + timedelta(seconds=i)) for i in range(1200)))
    yield log
    engine.dispose()


@pytest.mark.parametrize("fmt", ["csv", "json", "pdf"])
def test_exports_stream_in_several_chunks(busy_log: InspectionLog, font: CjkFont, fmt: str) -> None:
    exporter = Exporter(busy_log, font=lambda: font)
    chunks = exporter.chunks(Query(site="busy"), fmt)  # type: ignore[arg-type]
    sizes = [len(c) for c in chunks]
    assert len(sizes) > 2
    assert max(sizes) < sum(sizes) / 2
    assert busy_log.verify("busy").ok


def _ed25519_keys(tmp_path: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = tmp_path / "head-key.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "head-key.pub.pem"
    public.write_bytes(Ed25519Signer.from_private_pem(private.read_bytes()).public_pem())
    return private, public


def test_ed25519_heads_are_checked_with_the_public_key_alone(
    log: InspectionLog, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    private, public = _ed25519_keys(tmp_path)
    operator = Ed25519Signer.from_private_pem(private.read_bytes(), "centre-2026")
    inspector = Ed25519Signer.from_public_pem(public.read_bytes(), "centre-2026")
    assert not inspector.can_sign
    fill(log, clock, unique_id, 4)
    exporter = _exporter(log, font, unique_id, operator)
    first = _write(tmp_path, "first.json", exporter.chunks(Query(site=unique_id), "json"))
    earlier = SignedHead.model_validate(json.loads(first.read_text())["signed_heads"][0])
    assert earlier.alg == "Ed25519"
    fill(log, clock, unique_id, 2)
    later = _write(tmp_path, "later.json", exporter.chunks(Query(site=unique_id), "json"))
    assert check_extends(_items(later), earlier, inspector).ok
    forged = earlier.model_copy(update={"seq": 3})
    assert "forged" in check_extends(_items(later), forged, inspector).reason
    hmac_head = HeadSigner(b"k" * 32, "centre-2026").sign(unique_id, 4, earlier.hash, clock.now())
    assert "HMAC-SHA256" in check_extends(_items(later), hmac_head, inspector).reason
    # A verify-only key exports without signed heads rather than failing.
    unsigned = _write(
        tmp_path,
        "unsigned.json",
        _exporter(log, font, unique_id, inspector).chunks(Query(site=unique_id), "json"),
    )
    assert "signed_heads" not in json.loads(unsigned.read_text())


def test_concurrent_pdf_exports_share_the_font_safely(
    log: InspectionLog, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 80)
    _patrol(log, clock, unique_id, "消防通道堆放杂物")
    exporter = _exporter(log, font, unique_id, None)
    outputs: dict[str, bytes] = {}

    def export(lang: str) -> None:
        outputs[lang] = b"".join(exporter.chunks(Query(site=unique_id), "pdf", lang))  # type: ignore[arg-type]

    threads = [threading.Thread(target=export, args=(lang,)) for lang in ("zh", "en")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for lang, data in outputs.items():
        path = tmp_path / f"{lang}.pdf"
        path.write_bytes(data)
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
        assert info.stderr == ""
        assert SITE_NAME in _pdftotext(path, "-layout")
        assert "消防通道堆放杂物" in "".join(_pdftotext(path).split())
    assert set(outputs) == {"zh", "en"}


def _independent_verify(path: Path) -> int:
    """What an inspector can run with the standard library alone, from the documentation."""
    document = json.loads(path.read_text(encoding="utf-8"))
    previous: dict[str, dict[str, object]] = {}
    for entry in document["entries"]:
        last = previous.get(entry["site"])
        if last is not None:
            assert entry["seq"] == last["seq"] + 1  # type: ignore[operator]
            assert entry["prev_hash"] == last["hash"]
        if not entry.get("link"):
            body = {k: v for k, v in entry.items() if k != "hash"}
            text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            assert hashlib.sha256(text.encode("utf-8")).hexdigest() == entry["hash"]
        previous[entry["site"]] = entry
    return len(document["entries"])


def test_the_documented_canonical_form_verifies_an_export_without_linli(
    log: InspectionLog, clock: ManualClock, font: CjkFont, tmp_path: Path, unique_id: str
) -> None:
    fill(log, clock, unique_id, 9)
    _patrol(log, clock, unique_id, "通道畅通")
    log.correct(unique_id, 3, "记录有误", "李主任", {"by": "值班员张伟", "response_seconds": 30.0})
    path = _write(
        tmp_path,
        "x.json",
        _exporter(log, font, unique_id, None).chunks(Query(site=unique_id), "json"),
    )
    assert _independent_verify(path) == 11
