"""Rule-pack changes between runs always appear in the audit log."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ingest_server import ServerSettings, create_app
from ingest_server.alerts._packs import DEFAULT_PACK_DIR
from tests.access import access_settings, sign_in
from tests.services import Mosquitto


def _loads(settings: ServerSettings) -> list[dict[str, Any]]:
    with TestClient(create_app(settings)) as client:
        sign_in(client)
        entries = client.get("/audit", params={"action": "rule_packs.loaded"}).json()
        assert client.get("/audit/verify").json()["ok"] is True
    return [e["detail"] for e in entries]


def test_a_changed_pack_is_recorded_once_with_what_changed(
    mosquitto: Mosquitto, tmp_path: Path, unique_id: str
) -> None:
    packs = tmp_path / "packs"
    shutil.copytree(DEFAULT_PACK_DIR, packs)
    settings = ServerSettings(  # type: ignore[call-arg]
        _env_file=None,
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        mqtt_client_id=f"srv-{unique_id}",
        mqtt_site=unique_id,
        records_url=f"sqlite:///{tmp_path / 'records.db'}",
        sqlite_path=tmp_path / "telemetry.db",
        rule_pack_dir=packs,
        **access_settings(),
    )
    [first] = _loads(settings)
    assert "national" in first["packs"]
    assert sorted(first["changed"]) == sorted(first["packs"])
    # The same packs again: nothing new to record.
    assert len(_loads(settings)) == 1
    hangzhou = packs / "hangzhou.yaml"
    text = hangzhou.read_text(encoding="utf-8")
    hangzhou.write_text(text.replace("version:", "version: edited-", 1), encoding="utf-8")
    entries = _loads(settings)
    assert len(entries) == 2
    assert entries[1]["changed"] == ["hangzhou"]
    assert entries[1]["packs"]["hangzhou"] != first["packs"]["hangzhou"]
