"""Gateway config: a valid file loads; every kind of mistake names the file, field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent import Agent, ConfigError, load_config, parse_config

GOOD = """\
gateway = "gw-01"
site = "hz-xihu-01"

[uplink]
host = "mqtt.example.cn"
port = 8883
password = "s3cret"
[uplink.tls]
ca_file = "/etc/linli/ca.pem"

[outbox]
path = "outbox.db"

[[drivers]]
name = "zigbee"
factory = "edge_agent.drivers.zigbee2mqtt:Zigbee2MqttDriver"
[drivers.options]
base_topic = "zigbee2mqtt"

[[devices]]
id = "smk-101"
kind = "smoke"
room = "r101"
driver = "zigbee"
address = "0x00158d0001a2b3c4"

[[devices]]
id = "fd-1"
kind = "door"
role = "fire_door"
driver = "zigbee"

[[outputs]]
type = "mqtt"
name = "display"
topic = "centre/display"
"""


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "gw.toml")
    return info.value


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.gateway == "gw-01"
    assert config.outbox.path == tmp_path / "outbox.db"
    assert config.devices[1].role is not None
    assert config.uplink.password is not None
    assert "s3cret" not in repr(config)


def test_field_error_names_file_field_and_line() -> None:
    err = _error(GOOD.replace('kind = "door"', 'kind = "window"'))
    assert err.field == "devices[1].kind"
    assert err.line == GOOD.splitlines().index('kind = "door"') + 1
    assert str(err).startswith(f"gw.toml:{err.line}: devices[1].kind: ")
    assert "window" in str(err)


def test_nested_table_error_points_into_the_array() -> None:
    err = _error(GOOD.replace("port = 8883", "port = 70000"))
    assert err.field == "uplink.port"
    assert err.line == 6


def test_missing_field_points_at_its_table() -> None:
    err = _error(GOOD.replace('role = "fire_door"\n', ""))
    assert err.field == "devices[1]"
    assert "role" in str(err)
    assert err.line == GOOD.splitlines().index("[[devices]]", 20) + 1


def test_toml_syntax_error_gives_the_line() -> None:
    err = _error(GOOD.replace('site = "hz-xihu-01"', "site = hz-xihu-01"))
    assert err.line == 2
    assert "gw.toml:2" in str(err)


def test_unknown_driver_and_bad_topic() -> None:
    err = _error(GOOD.replace('driver = "zigbee"\naddress', 'driver = "gpio"\naddress'))
    assert "driver 'gpio'" in str(err)
    err = _error(GOOD.replace('topic = "centre/display"', 'topic = "centre/#"'))
    assert err.field == "outputs[0].topic" or err.field == "outputs[0]"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ConfigError, match=str(bad)):
        load_config(bad)


def test_driver_problems_are_config_errors(tmp_path: Path) -> None:
    config = parse_config(GOOD.replace("zigbee2mqtt:Zigbee2MqttDriver", "nowhere:Driver"))
    with pytest.raises(ConfigError) as info:
        Agent(config, source="gw.toml")
    assert info.value.field == "drivers[0].factory"
    config = parse_config(GOOD.replace('base_topic = "zigbee2mqtt"', "port = -1"))
    with pytest.raises(ConfigError) as info:
        Agent(config, source="gw.toml")
    assert info.value.field == "drivers[0].options.port"


def test_the_shipped_example_is_valid() -> None:
    from tests.services import REPO

    config = load_config(REPO / "deploy" / "edge" / "gateway.example.toml")
    assert {d.name for d in config.drivers} == {"zigbee", "wired"}
    assert len(config.outputs) == 2


def test_edge_agent_never_imports_simulator_or_server() -> None:
    import subprocess
    import sys

    from tests.services import REPO

    code = (
        "import sys, edge_agent, edge_agent.drivers.zigbee2mqtt, edge_agent.drivers.gpio; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'firmware_sims', 'ingest_server'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out.strip() == "[]"
