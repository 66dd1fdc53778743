"""Settings fail closed; the records database migrates once; the CLI wires `linli server`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from ingest_server import ServerSettings
from ingest_server._migrations import migrate
from ingest_server._tables import SchemaMigrationRow
from ingest_server.db import make_engine
from linli_cli import build_parser, main
from tests.access import SECRET_KEY, access_settings


def make(**over: Any) -> ServerSettings:
    return ServerSettings(_env_file=None, **(access_settings() | over))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"store": "influxdb"}, "LINLI_INFLUX_URL"),
        ({"influx_token": "t", "influx_username": "u", "influx_password": "p"}, "not both"),
        ({"influx_username": "u"}, "come together"),
        ({"mqtt_username": "u", "mqtt_password": "changeme"}, "default secret"),
        ({"mqtt_share_group": "a/b"}, "SHARE_GROUP"),
        ({"retention_days": 100, "rollup_retention_days": 30}, "ROLLUP"),
        ({"queue_size": 0}, "greater than"),
        ({"secret_key": None}, "LINLI_SECRET_KEY is required"),
        ({"secret_key": "changeme"}, "LINLI_SECRET_KEY is a default"),
        ({"secret_key": "x" * 31}, "shorter than 32"),
        ({"admin_password": None}, "come together"),
        ({"admin_password": "password"}, "at least 12"),
        ({"admin_password": "changemechangeme"}, "well-known default"),
    ],
)
def test_nonsense_settings_are_refused_with_what_to_set(over: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        make(**over)


def test_demo_mode_needs_no_secret_key() -> None:
    assert make(secret_key=None, demo=True).secret_key is None


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_MQTT_PORT", "18830")
    monkeypatch.setenv("LINLI_STORE", "influxdb")
    monkeypatch.setenv("LINLI_INFLUX_URL", "http://127.0.0.1:8086")
    monkeypatch.setenv("LINLI_INFLUX_TOKEN", "tok-8f3a91")
    s = make()
    assert (s.mqtt_port, s.store, s.influx_url) == (18830, "influxdb", "http://127.0.0.1:8086")
    assert "tok-8f3a91" not in repr(s)


def test_migrations_apply_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert migrate(engine, now) == [1]
    assert migrate(engine, now) == []
    tables = set(inspect(engine).get_table_names())
    assert {"sites", "rooms", "gateways", "devices", "dead_letters", "gateway_status"} <= tables
    with Session(engine) as session:
        row = session.scalars(select(SchemaMigrationRow)).one()
    assert (row.version, row.applied_at) == (1, now)
    engine.dispose()


def test_cli_has_the_server_command() -> None:
    args = build_parser().parse_args(["server", "--port", "9000", "--registry", "r.yaml"])
    assert (args.port, args.registry) == (9000, Path("r.yaml"))
    assert args.handler.__name__ == "_cmd_server"


def test_server_refuses_a_broken_registry_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LINLI_SECRET_KEY", SECRET_KEY)
    bad = tmp_path / "registry.yaml"
    bad.write_text(
        "sites:\n  - id: a\n    name: x\n"
        "    rooms: [{id: r, name: y, function: casino, floor: 1}]\n"
    )
    assert main(["server", "--registry", str(bad), "--port", "0"]) == 2
    assert "function" in capsys.readouterr().err
    monkeypatch.setenv("LINLI_STORE", "influxdb")
    assert main(["server"]) == 2
    assert "LINLI_INFLUX_URL" in capsys.readouterr().err
