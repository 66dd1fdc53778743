"""The shipped TLS listener (deploy/mosquitto/linli-secure.conf) and its mTLS option, against a
real Mosquitto with a throwaway CA."""

from __future__ import annotations

from protocol import Channel, channel_topic
from tests.mqtt_security.clients import (
    connected,
    drain_until,
    refused,
    tls_context,
    tls_handshake,
)
from tests.mqtt_security.conftest import (
    GW_A,
    GW_B,
    SERVER,
    SITE_A,
    SITE_B,
    AclFiles,
    Pki,
    SecureMosquitto,
)

A_READINGS = channel_topic(SITE_A, GW_A, Channel.READINGS)
B_READINGS = channel_topic(SITE_B, GW_B, Channel.READINGS)
B_CMD = channel_topic(SITE_B, GW_B, Channel.CMD)


def test_tls_listener_accepts_a_verifying_client(
    secure_broker: SecureMosquitto, acl_files: AclFiles, pki: Pki, unique_id: str
) -> None:
    context = tls_context(str(pki.ca.cert))
    password = acl_files.passwords[GW_A]
    with (
        connected(
            secure_broker.port, f"srv-{unique_id}", SERVER, acl_files.passwords[SERVER]
        ) as server,
        connected(secure_broker.tls_port, GW_A, GW_A, password, tls=context) as gateway,
    ):
        server.subscribe(A_READINGS)
        gateway.publish(A_READINGS, b"over TLS")
        assert server.next_message() == (A_READINGS, b"over TLS")
    # The password is still required on the TLS listener.
    assert refused(secure_broker.tls_port, GW_A, tls=tls_context(str(pki.ca.cert))).reason == (
        "Not authorized"
    )


def test_tls_listener_refuses_plain_tcp(
    secure_broker: SecureMosquitto, acl_files: AclFiles
) -> None:
    outcome = refused(secure_broker.tls_port, GW_A, GW_A, acl_files.passwords[GW_A])
    assert not outcome.connected, outcome.reason
    assert outcome.reason.startswith(("disconnected", "SSLError")), outcome.reason


def test_client_refuses_a_broker_it_cannot_verify(
    secure_broker: SecureMosquitto, acl_files: AclFiles, pki: Pki
) -> None:
    assert tls_handshake(secure_broker.tls_port, tls_context(str(pki.ca.cert))) is None
    failure = tls_handshake(secure_broker.tls_port, tls_context(str(pki.other_ca.cert)))
    assert failure is not None
    assert "CERTIFICATE_VERIFY_FAILED" in failure


def test_mtls_certificate_is_the_identity(
    mtls_broker: SecureMosquitto, acl_files: AclFiles, pki: Pki, unique_id: str
) -> None:
    context = tls_context(str(pki.ca.cert), str(pki.gateway_a.cert), str(pki.gateway_a.key))
    with (
        connected(
            mtls_broker.port, f"srv-{unique_id}", SERVER, acl_files.passwords[SERVER]
        ) as server,
        # No password: the certificate's CN (GW_A) is the username, and the ACL applies to it.
        connected(mtls_broker.tls_port, GW_A, tls=context) as gateway,
    ):
        server.subscribe("linli/v1/+/+/up/#")
        gateway.publish(B_READINGS, b"forged")
        gateway.publish(A_READINGS, b"mtls")
        assert drain_until(server, A_READINGS, b"mtls") == [(A_READINGS, b"mtls")]


def test_mtls_refuses_a_client_without_a_certificate(
    mtls_broker: SecureMosquitto, acl_files: AclFiles, pki: Pki
) -> None:
    context = tls_context(str(pki.ca.cert))
    outcome = refused(mtls_broker.tls_port, GW_A, GW_A, acl_files.passwords[GW_A], tls=context)
    assert not outcome.connected, outcome.reason
    assert outcome.reason.startswith(("disconnected", "SSLError")), outcome.reason


def test_a_gateway_cannot_take_over_another_gateways_session(
    secure_broker: SecureMosquitto, acl_files: AclFiles, pki: Pki, unique_id: str
) -> None:
    """On the gateways' listener the client id is the username: A connecting with B's client id
    neither disconnects B nor receives B's commands."""
    context = tls_context(str(pki.ca.cert))
    with (
        connected(
            secure_broker.port, f"srv-{unique_id}", SERVER, acl_files.passwords[SERVER]
        ) as server,
        connected(
            secure_broker.tls_port, GW_B, GW_B, acl_files.passwords[GW_B], tls=context
        ) as gateway_b,
        connected(
            secure_broker.tls_port, GW_B, GW_A, acl_files.passwords[GW_A], tls=context
        ) as impostor,
    ):
        assert gateway_b.subscribe(B_CMD) == [1]
        impostor.subscribe(B_CMD)
        command = f"self-test {unique_id}".encode()
        server.publish(B_CMD, command)
        assert gateway_b.next_message() == (B_CMD, command)
        assert gateway_b.client.is_connected()
        assert impostor.received.empty()
