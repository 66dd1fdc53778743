"""Brokers configured from the shipped deploy/mosquitto/linli-secure.conf with files generated
by the ACL generator, and a throwaway PKI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest_server.broker_acl import generate, read_credentials
from rules import parse_registry
from tests.mqtt_security.pki import Authority, Pair
from tests.services import REPO, Mosquitto, ServiceUnavailable, free_port

SECURE_CONF = REPO / "deploy" / "mosquitto" / "linli-secure.conf"
TUNING_DIR = REPO / "deploy" / "mosquitto" / "conf.d"

SITE_A = "sec-site-a"
SITE_B = "sec-site-b"
GW_A = "sec-a-gw1"
GW_B = "sec-b-gw1"
SERVER = "linli-server"
NOTIFY = "sec-notify"
DISPLAY = "sec-display"

REGISTRY_YAML = f"""
sites:
  - id: {SITE_A}
    name: 甲社区服务中心
    rooms: [{{id: r1, name: 托育室, function: infant_care, floor: 1, area_m2: 80}}]
    gateways: [{{id: {GW_A}, devices: [{{id: sec-smk-a, kind: smoke, room: r1}}]}}]
  - id: {SITE_B}
    name: 乙社区服务中心
    rooms: [{{id: r1, name: 食堂, function: dining, floor: 1, area_m2: 120}}]
    gateways: [{{id: {GW_B}, devices: [{{id: sec-smk-b, kind: smoke, room: r1}}]}}]
"""


@dataclass(frozen=True)
class Pki:
    ca: Pair
    server: Pair
    gateway_a: Pair  # CN = GW_A
    other_ca: Pair  # a CA the broker does not trust


@dataclass(frozen=True)
class AclFiles:
    directory: Path
    passwords: dict[str, str]


class SecureMosquitto(Mosquitto):
    """Mosquitto running deploy/mosquitto/linli-secure.conf (plus the shipped tuning) with the
    paths and ports substituted: ``port`` is the loopback listener, ``tls_port`` the TLS one."""

    name = "mosquitto"

    def __init__(self, workdir: Path, acl_dir: Path, pki: Pki, *, mtls: bool = False) -> None:
        super().__init__(workdir)
        self.tls_port = free_port()
        text = SECURE_CONF.read_text()
        replacements = {
            "/etc/mosquitto/linli/": f"{acl_dir}/",
            "/etc/mosquitto/certs/ca.crt": str(pki.ca.cert),
            "/etc/mosquitto/certs/server.crt": str(pki.server.cert),
            "/etc/mosquitto/certs/server.key": str(pki.server.key),
            "listener 1883 127.0.0.1": f"listener {self.port} 127.0.0.1",
            "listener 8883": f"listener {self.tls_port} 127.0.0.1",
        }
        if mtls:
            replacements |= {
                "#require_certificate true": "require_certificate true",
                "#use_identity_as_username true": "use_identity_as_username true",
            }
        for old, new in replacements.items():
            if old not in text:
                raise AssertionError(f"{SECURE_CONF} no longer contains {old!r}")
            text = text.replace(old, new)
        base = [
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *(["user root"] if os.geteuid() == 0 else []),
            f"include_dir {TUNING_DIR}",
        ]
        self.config_path.write_text("\n".join(base) + "\n" + text)


def _start(broker: Mosquitto) -> Mosquitto:
    try:
        broker.start()
    except ServiceUnavailable as exc:
        pytest.fail(f"real service unavailable: {exc}", pytrace=False)
    return broker


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = Authority(directory / "ca")
    other = Authority(directory / "other", name="Untrusted CA")
    return Pki(
        ca=ca.pair,
        server=ca.issue("server", "localhost", server=True),
        gateway_a=ca.issue("gw-a", GW_A, server=False),
        other_ca=other.pair,
    )


@pytest.fixture(scope="session")
def acl_files(tmp_path_factory: pytest.TempPathFactory) -> AclFiles:
    directory = tmp_path_factory.mktemp("acl")
    registry = parse_registry(REGISTRY_YAML, "tests/mqtt_security registry")
    generate(
        registry,
        directory,
        source="tests/mqtt_security registry",
        server_user=SERVER,
        notify_user=NOTIFY,
        display_user=DISPLAY,
    )
    return AclFiles(directory, read_credentials(directory / "credentials"))


@pytest.fixture(scope="session")
def secure_broker(
    tmp_path_factory: pytest.TempPathFactory, acl_files: AclFiles, pki: Pki
) -> Iterator[SecureMosquitto]:
    broker = SecureMosquitto(tmp_path_factory.mktemp("secure"), acl_files.directory, pki)
    _start(broker)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def mtls_broker(
    tmp_path_factory: pytest.TempPathFactory, acl_files: AclFiles, pki: Pki
) -> Iterator[SecureMosquitto]:
    broker = SecureMosquitto(tmp_path_factory.mktemp("mtls"), acl_files.directory, pki, mtls=True)
    _start(broker)
    yield broker
    broker.stop()
