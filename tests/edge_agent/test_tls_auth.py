"""TLS and username/password from the config, against a Mosquitto that requires both."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from edge_agent import Agent, GatewayConfig
from firmware_sims.edge_driver import SimulatedDriver
from tests.edge_agent.conftest import config_dict, running, until
from tests.services import Mosquitto, ServiceUnavailable


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


class SecureMosquitto(Mosquitto):
    """Mosquitto with a TLS listener that refuses anonymous clients."""

    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        super().__init__(workdir)
        self.ca = workdir / "ca.pem"
        key, cert, csr = workdir / "server.key", workdir / "server.pem", workdir / "server.csr"
        ca_key, ext = workdir / "ca.key", workdir / "san.ext"
        _run(
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=linli-test-ca",
            "-keyout",
            str(ca_key),
            "-out",
            str(self.ca),
        )
        _run(
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(csr),
        )
        ext.write_text("subjectAltName=IP:127.0.0.1\n")
        _run(
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(self.ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(ext),
            "-out",
            str(cert),
        )
        passwords = workdir / "passwd"
        passwords.write_text("")
        for user, password in users.items():
            _run("mosquitto_passwd", "-b", str(passwords), user, password)
        text = self.config_path.read_text().replace("allow_anonymous true", "allow_anonymous false")
        text += f"cafile {self.ca}\ncertfile {cert}\nkeyfile {key}\npassword_file {passwords}\n"
        self.config_path.write_text(text)


@pytest.fixture
def secure_broker(tmp_path: Path, unique_id: str) -> Any:
    try:
        broker = SecureMosquitto(tmp_path / "secure", {f"gw-{unique_id}": "right-password"})
        broker.start()
    except (ServiceUnavailable, subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.fail(f"cannot set up the TLS broker: {exc}")
    yield broker
    broker.stop()


def _config(tmp_path: Path, uid: str, broker: SecureMosquitto, password: str) -> GatewayConfig:
    data = config_dict(
        tmp_path, uid, broker, devices=[{"id": "p1", "kind": "presence", "driver": "sim"}]
    )
    data["uplink"] |= {"tls": {"ca_file": str(broker.ca)}, "password": password}
    return GatewayConfig.model_validate(data)


async def test_tls_with_the_gateway_id_as_username(
    tmp_path: Path, unique_id: str, secure_broker: SecureMosquitto
) -> None:
    agent = Agent(_config(tmp_path, unique_id, secure_broker, "right-password"))
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        await until(lambda: agent.uplink_connected, what="TLS connection")
        sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": 1})
        await until(lambda: agent.uplink_stats.readings_acked == 1, what="PUBACK over TLS")
        assert agent.outbox.depth().telemetry == 0


async def test_a_wrong_password_is_retried_and_nothing_is_lost(
    tmp_path: Path, unique_id: str, secure_broker: SecureMosquitto
) -> None:
    agent = Agent(_config(tmp_path, unique_id, secure_broker, "wrong-password"))
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    async with running(agent):
        sim.feed("p1", {"kind": "occupancy", "source": "presence", "count": 1})
        await until(lambda: agent.stats.committed == 1, what="commit")
        await until(lambda: agent.uplink_stats.failed_attempts >= 2, what="retries")
        assert not agent.uplink_connected
        assert agent.uplink_stats.connects == 0
        assert agent.outbox.depth().telemetry == 1
