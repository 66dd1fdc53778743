"""Against a real Mosquitto running the shipped secure config with the generated passwd and
ACL: each gateway is pinned to its own topics, and only known users get in."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from ingest_server.broker_acl import generate, read_credentials
from protocol import Channel, alerts_topic, channel_topic, server_subscriptions, shared
from rules import parse_registry
from tests.mqtt_security.clients import Client, connected, drain_until, refused
from tests.mqtt_security.conftest import (
    DISPLAY,
    GW_A,
    GW_B,
    NOTIFY,
    REGISTRY_YAML,
    SERVER,
    SITE_A,
    SITE_B,
    AclFiles,
    Pki,
    SecureMosquitto,
)

A_READINGS = channel_topic(SITE_A, GW_A, Channel.READINGS)
A_STATUS = channel_topic(SITE_A, GW_A, Channel.STATUS)
A_CMD = channel_topic(SITE_A, GW_A, Channel.CMD)
B_READINGS = channel_topic(SITE_B, GW_B, Channel.READINGS)
B_ALARM = channel_topic(SITE_B, GW_B, Channel.ALARM)
B_STATUS = channel_topic(SITE_B, GW_B, Channel.STATUS)
B_CMD = channel_topic(SITE_B, GW_B, Channel.CMD)
B_CONFIG = channel_topic(SITE_B, GW_B, Channel.CONFIG)
# Gateway A pretending to be B while naming its own gateway id in B's site.
A_IN_SITE_B = channel_topic(SITE_B, GW_A, Channel.READINGS)

NOT_AUTHORIZED = "Not authorized"


def _login(acl: AclFiles, user: str) -> tuple[str, str]:
    return user, acl.passwords[user]


def test_gateway_cannot_publish_under_another_gateways_topics(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    port = secure_broker.port
    with (
        connected(port, f"srv-{unique_id}", *_login(acl_files, SERVER)) as server,
        connected(port, GW_A, *_login(acl_files, GW_A)) as gateway_a,
    ):
        for topic_filter in server_subscriptions():
            assert server.subscribe(topic_filter) == [1]
        forged = [B_READINGS, B_ALARM, B_STATUS, A_IN_SITE_B]
        for topic in forged:
            gateway_a.publish(topic, f"forged {unique_id}".encode())
        # Mosquitto keeps one publisher's messages in order, so once the server has A's own
        # later reading, any forged one the broker let through would have arrived before it.
        own = f"own {unique_id}".encode()
        gateway_a.publish(A_READINGS, own)
        seen = drain_until(server, A_READINGS, own)
        assert seen == [(A_READINGS, own)]


def test_gateway_may_publish_its_own_status_and_alarm(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    port = secure_broker.port
    a_alarm = channel_topic(SITE_A, GW_A, Channel.ALARM)
    with (
        connected(port, f"srv-{unique_id}", *_login(acl_files, SERVER)) as server,
        connected(port, GW_A, *_login(acl_files, GW_A)) as gateway_a,
    ):
        server.subscribe(shared(server_subscriptions(SITE_A)[0], "ingest"))
        server.subscribe(A_STATUS)
        gateway_a.publish(a_alarm, b"alarm")
        assert server.next_message() == (a_alarm, b"alarm")
        gateway_a.publish(A_STATUS, b"online")
        assert server.next_message() == (A_STATUS, b"online")


def test_gateway_cannot_forge_another_gateways_last_will(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    """A Last Will on B's status topic is accepted at CONNECT by Mosquitto 2.0 but never
    published: B must not look offline (or online) because A says so."""
    port = secure_broker.port
    with connected(port, f"srv-{unique_id}", *_login(acl_files, SERVER)) as server:
        server.subscribe(B_STATUS)
        server.subscribe(A_STATUS)
        forger = Client(GW_A, *_login(acl_files, GW_A))
        forger.client.will_set(B_STATUS, f"offline {unique_id}".encode(), qos=1)
        assert forger.connect(port).connected
        forger.drop()
        honest = Client(GW_A, *_login(acl_files, GW_A))
        own = f"own will {unique_id}".encode()
        honest.client.will_set(A_STATUS, own, qos=1)
        assert honest.connect(port).connected
        honest.drop()
        assert drain_until(server, A_STATUS, own) == [(A_STATUS, own)]


def test_gateway_cannot_read_another_gateways_commands(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    port = secure_broker.port
    with (
        connected(port, f"srv-{unique_id}", *_login(acl_files, SERVER)) as server,
        connected(port, GW_A, *_login(acl_files, GW_A)) as gateway_a,
    ):
        # Mosquitto 2.0 grants the subscriptions and checks the ACL on each delivery instead,
        # so what counts is that nothing of B's reaches A.
        gateway_a.subscribe(B_CMD)
        gateway_a.subscribe(f"linli/v1/{SITE_B}/#")
        assert gateway_a.subscribe(A_CMD) == [1]
        server.publish(B_CONFIG, b"config for B", retain=True)
        server.publish(B_CMD, b"self-test B")
        own = f"self-test A {unique_id}".encode()
        server.publish(A_CMD, own)
        assert drain_until(gateway_a, A_CMD, own) == [(A_CMD, own)]
        server.publish(B_CONFIG, b"", retain=True)


def test_gateway_cannot_publish_commands_or_alerts(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    port = secure_broker.port
    with (
        connected(port, f"disp-{unique_id}", *_login(acl_files, DISPLAY)) as display,
        connected(port, GW_B, *_login(acl_files, GW_B)) as gateway_b,
        connected(port, GW_A, *_login(acl_files, GW_A)) as gateway_a,
        connected(port, f"srv-{unique_id}", *_login(acl_files, SERVER)) as server,
    ):
        assert gateway_b.subscribe(B_CMD) == [1]
        assert display.subscribe(alerts_topic(SITE_B)) == [1]
        gateway_a.publish(B_CMD, b"silence B's sounder")
        gateway_a.publish(alerts_topic(SITE_B), b"all clear (forged)")
        server.publish(B_CMD, b"real command")
        server.publish(alerts_topic(SITE_B), b"real alert")
        assert drain_until(gateway_b, B_CMD, b"real command") == [(B_CMD, b"real command")]
        assert drain_until(display, alerts_topic(SITE_B), b"real alert") == [
            (alerts_topic(SITE_B), b"real alert")
        ]


def test_server_reads_up_and_writes_down_but_cannot_forge_readings(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    port = secure_broker.port
    with (
        connected(port, f"srv-{unique_id}", *_login(acl_files, SERVER)) as server,
        connected(port, f"watch-{unique_id}", *_login(acl_files, SERVER)) as watcher,
        connected(port, GW_B, *_login(acl_files, GW_B)) as gateway_b,
    ):
        assert watcher.subscribe(f"linli/v1/{SITE_B}/+/up/#") == [1]
        assert gateway_b.subscribe(f"linli/v1/{SITE_B}/{GW_B}/down/#") == [1]
        server.publish(B_READINGS, b"forged by the server")
        gateway_b.publish(B_READINGS, b"real")
        assert drain_until(watcher, B_READINGS, b"real") == [(B_READINGS, b"real")]
        server.publish(B_CMD, b"cmd")
        assert gateway_b.next_message() == (B_CMD, b"cmd")


def test_notify_user_only_publishes_alerts(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    port = secure_broker.port
    with (
        connected(port, f"disp-{unique_id}", *_login(acl_files, DISPLAY)) as display,
        connected(port, f"notify-{unique_id}", *_login(acl_files, NOTIFY)) as notify,
    ):
        notify.subscribe(A_READINGS)
        assert display.subscribe(A_READINGS) == [1]
        assert display.subscribe(alerts_topic(SITE_A)) == [1]
        with connected(port, GW_A, *_login(acl_files, GW_A)) as gateway_a:
            gateway_a.publish(A_READINGS, b"reading")
        display.publish(alerts_topic(SITE_A), b"forged by a display")
        notify.publish(alerts_topic(SITE_A), b"alert")
        assert drain_until(display, alerts_topic(SITE_A), b"alert") == [
            (alerts_topic(SITE_A), b"alert")
        ]
        assert notify.received.empty()


def test_anonymous_wrong_password_and_unknown_users_are_refused(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    port = secure_broker.port
    anonymous = refused(port, f"anon-{unique_id}")
    assert not anonymous.connected
    assert anonymous.reason == NOT_AUTHORIZED
    wrong = refused(port, GW_A, GW_A, acl_files.passwords[GW_B])
    assert not wrong.connected
    assert wrong.reason == NOT_AUTHORIZED
    unknown = refused(port, f"x-{unique_id}", f"x-{unique_id}", acl_files.passwords[GW_A])
    assert not unknown.connected
    assert unknown.reason == NOT_AUTHORIZED
    # The positive control: the right password for that user gets in.
    with connected(port, GW_A, *_login(acl_files, GW_A)) as client:
        assert isinstance(client, Client)


def test_rotation_takes_effect_on_broker_reload(tmp_path: Path, pki: Pki, unique_id: str) -> None:
    """`--rotate` then SIGHUP (systemctl reload): the old password is refused, the new one and
    the untouched gateway's still work, without restarting the broker."""
    registry = parse_registry(REGISTRY_YAML, "test")
    acl_dir = tmp_path / "acl"
    generate(registry, acl_dir, source="test", server_user=SERVER)
    old = read_credentials(acl_dir / "credentials")
    broker = SecureMosquitto(tmp_path / "broker", acl_dir, pki)
    broker.start()
    try:
        with connected(broker.port, GW_A, GW_A, old[GW_A]):
            pass
        generate(registry, acl_dir, source="test", server_user=SERVER, rotate=[GW_A])
        new = read_credentials(acl_dir / "credentials")
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while refused(broker.port, f"probe-{unique_id}", GW_A, old[GW_A]).connected:
            assert time.monotonic() < deadline, "the broker did not reload its password file"
            time.sleep(0.05)
        with connected(broker.port, GW_A, GW_A, new[GW_A]):
            pass
        with connected(broker.port, GW_B, GW_B, old[GW_B]):
            pass
    finally:
        broker.stop()
