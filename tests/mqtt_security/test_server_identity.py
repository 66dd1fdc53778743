"""The real ingest server and its MQTT alert channel, signed in as the generated server user,
work within the generated ACL: what the ACL grants is what the server needs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from ingest_server import ServerSettings
from ingest_server._service import IngestService
from ingest_server.notify import MqttNotifier, Notification, NotificationKind, render
from protocol import Channel, SystemClock, alerts_topic, channel_topic
from tests.access import access_settings
from tests.ingest_server.conftest import wait_for
from tests.ingest_server.factories import batch_payload, smoke_dict
from tests.mqtt_security.clients import connected
from tests.mqtt_security.conftest import (
    DISPLAY,
    GW_A,
    REGISTRY_YAML,
    SERVER,
    SITE_A,
    AclFiles,
    SecureMosquitto,
)
from tests.notify.conftest import make_alert


@pytest.fixture
def service(
    secure_broker: SecureMosquitto, acl_files: AclFiles, tmp_path: Path, unique_id: str
) -> Iterator[IngestService]:
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY_YAML)
    settings = ServerSettings(
        _env_file=None,  # type: ignore[call-arg]
        mqtt_host="127.0.0.1",
        mqtt_port=secure_broker.port,
        mqtt_username=SERVER,
        mqtt_password=SecretStr(acl_files.passwords[SERVER]),
        mqtt_client_id=f"srv-{unique_id}",
        # MQTT 5 and a shared subscription: the production shape with several servers.
        mqtt_protocol="5",
        mqtt_share_group="ingest",
        mqtt_site=SITE_A,
        records_url=f"sqlite:///{tmp_path / 'records.db'}",
        sqlite_path=tmp_path / "telemetry.db",
        influx_spool_path=tmp_path / "spool.db",
        registry_path=registry,
        http_port=0,
        **access_settings(),
    )
    service = IngestService(settings, SystemClock())
    service.start()
    try:
        assert service.consumer.wait_connected(10), "the server user could not subscribe"
        yield service
    finally:
        service.stop()


def test_server_user_ingests_a_gateways_readings(
    service: IngestService, secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    now = datetime.now(UTC)
    topic = channel_topic(SITE_A, GW_A, Channel.READINGS)
    with connected(secure_broker.port, GW_A, GW_A, acl_files.passwords[GW_A]) as gateway:
        gateway.publish(topic, batch_payload(GW_A, [smoke_dict(unique_id, "sec-smk-a", now)]))
    wait_for(lambda: service.store.count() == 1, 10, "the gateway's reading stored")
    assert service.records.dead_letter_reasons() == {}


async def test_server_user_publishes_alerts_to_displays(
    secure_broker: SecureMosquitto, acl_files: AclFiles, unique_id: str
) -> None:
    alert = make_alert(site=SITE_A)
    title, text = render(NotificationKind.FIRED, alert, "zh-CN")
    notification = Notification(
        kind=NotificationKind.FIRED,
        route="displays",
        language="zh-CN",
        title=title,
        text=text,
        at=alert.since,
        alert=alert,
    )
    # The identity ServerSettings.notify_settings() gives the default "displays" channel.
    notifier = MqttNotifier(
        "displays",
        "127.0.0.1",
        secure_broker.port,
        client_id=f"srv-{unique_id}-alerts",
        username=SERVER,
        password=acl_files.passwords[SERVER],
    )
    with connected(
        secure_broker.port, f"disp-{unique_id}", DISPLAY, acl_files.passwords[DISPLAY]
    ) as display:
        display.subscribe(alerts_topic(SITE_A))
        await notifier.start()
        try:
            await asyncio.to_thread(
                wait_for, lambda: notifier.connected, 10, "the alert channel connected"
            )
            await notifier.send(notification)
        finally:
            await notifier.aclose()
        topic, payload = await asyncio.to_thread(display.next_message)
    assert topic == alerts_topic(SITE_A)
    assert title.encode() in payload
