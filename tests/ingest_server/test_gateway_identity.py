"""A gateway speaks only for itself: a registered gateway publishing under another site's topic
(site_mismatch) or reporting another gateway's devices (device_mismatch) is dead-lettered and
never stored under that centre; through the real consumer and a real Mosquitto."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ingest_server import ServerSettings
from ingest_server._migrations import migrate
from ingest_server._registry import RegistryStore
from ingest_server._service import IngestService
from ingest_server.db import make_engine
from protocol import Channel, channel_topic
from rules import parse_registry
from tests.ingest_server.conftest import REGISTRY_YAML, Publisher, wait_for
from tests.ingest_server.factories import batch_payload, smoke_dict
from tests.services import Mosquitto


def _alarm(gateway: str, reading: dict[str, object], now: datetime) -> bytes:
    return json.dumps(
        {"v": 1, "gateway": gateway, "sent_at": now.isoformat(), "seq": 1, "reading": reading}
    ).encode()


def _status(gateway: str, now: datetime) -> bytes:
    return json.dumps(
        {"v": 1, "gateway": gateway, "state": "online", "ts": now.isoformat()}
    ).encode()


def test_gateway_under_another_site_is_dead_lettered(
    own_mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    unique_id: str,
) -> None:
    # Every site: the wrong-site topics must reach the server to be judged (own broker, so no
    # other test's traffic arrives).
    service = run_service(settings_for(own_mosquitto, mqtt_site="+"))
    gw = f"{unique_id}-gw"
    other_site = f"{unique_id}-other"
    stranger = f"{unique_id}-unregistered"
    now = datetime.now(UTC)
    messages = [
        (
            channel_topic(other_site, gw, Channel.READINGS),
            batch_payload(gw, [smoke_dict("wrong-1", "smk-1", now)]),
        ),
        (
            channel_topic(other_site, gw, Channel.ALARM),
            _alarm(gw, smoke_dict("wrong-2", "smk-1", now, "alarm"), now),
        ),
        (channel_topic(other_site, gw, Channel.STATUS), _status(gw, now)),
        # The same gateway on its own site: stored.
        (
            channel_topic(unique_id, gw, Channel.READINGS),
            batch_payload(gw, [smoke_dict("right-1", "smk-1", now)]),
        ),
        # A gateway the registry does not know is taken at its word (the broker's ACL is what
        # keeps unknown gateways out).
        (
            channel_topic(other_site, stranger, Channel.READINGS),
            batch_payload(stranger, [smoke_dict("stranger-1", "smk-x", now)]),
        ),
    ]
    publisher = Publisher(own_mosquitto, f"pub-{unique_id}")
    try:
        publisher.publish_all(messages)
    finally:
        publisher.close()

    wait_for(lambda: service.metrics.get("messages") == len(messages), 20, "every message")
    assert service.records.dead_letter_reasons() == {"site_mismatch": 3}
    total, letters = service.records.dead_letters(reason="site_mismatch")
    assert total == 3
    assert {letter.topic for letter in letters} == {t for t, _ in messages[:3]}
    assert f"belongs to site {unique_id!r}" in letters[0].detail
    assert f"site {other_site!r}" in letters[0].detail
    assert service.store.count() == 2
    assert service.records.gateway_statuses(site=other_site) == []
    assert service.metrics.dead_letters() == {"site_mismatch": 3}


def test_gateway_site_follows_registry_changes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'records.db'}")
    migrate(engine, datetime.now(UTC))
    store = RegistryStore(engine)
    assert store.gateway_site("gw-1") is None
    store.replace_from(parse_registry(REGISTRY_YAML.format(site="s-1", gateway="gw-1"), "test"))
    assert store.gateway_site("gw-1") == "s-1"
    assert RegistryStore(engine).gateway_site("gw-1") == "s-1"  # from the database
    store.delete_gateway("gw-1")
    assert store.gateway_site("gw-1") is None
    engine.dispose()


TWO_SITES = """
sites:
  - id: {site}
    name: 幸福里社区服务中心
    rooms: [{{id: r1, name: 托育室, function: infant_care, floor: 2, area_m2: 120, places: 12}}]
    gateways: [{{id: {gw}, devices: [{{id: smk-1, kind: smoke, room: r1}}]}}]
  - id: {other}
    name: 和睦里社区服务中心
    rooms: [{{id: r1, name: 食堂, function: dining, floor: 1, area_m2: 200}}]
    gateways: [{{id: {gw2}, devices: [{{id: smk-2, kind: smoke, room: r1}}]}}]
"""


def test_readings_of_another_gateways_devices_are_dead_lettered(
    own_mosquitto: Mosquitto,
    settings_for: Callable[..., ServerSettings],
    run_service: Callable[..., IngestService],
    tmp_path: Path,
    unique_id: str,
) -> None:
    """Within its own topics a gateway could still name another centre's detector; the rules
    would then raise (or clear) that centre's alarm. Such readings are never stored."""
    gw, gw2, other = f"{unique_id}-gw", f"{unique_id}-gw2", f"{unique_id}-other"
    (tmp_path / "registry.yaml").write_text(
        TWO_SITES.format(site=unique_id, gw=gw, other=other, gw2=gw2)
    )
    service = run_service(settings_for(own_mosquitto, mqtt_site="+"))
    now = datetime.now(UTC)
    messages = [
        (
            channel_topic(unique_id, gw, Channel.READINGS),
            batch_payload(
                gw, [smoke_dict("own-1", "smk-1", now), smoke_dict("forged-1", "smk-2", now)]
            ),
        ),
        (
            channel_topic(unique_id, gw, Channel.ALARM),
            _alarm(gw, smoke_dict("forged-2", "smk-2", now, "alarm"), now),
        ),
        (
            channel_topic(other, gw2, Channel.READINGS),
            batch_payload(gw2, [smoke_dict("own-2", "smk-2", now)]),
        ),
    ]
    publisher = Publisher(own_mosquitto, f"pub-{unique_id}")
    try:
        publisher.publish_all(messages)
    finally:
        publisher.close()

    wait_for(lambda: service.metrics.get("messages") == len(messages), 20, "every message")
    assert service.records.dead_letter_reasons() == {"device_mismatch": 2}
    _, letters = service.records.dead_letters(reason="device_mismatch")
    assert {letter.topic for letter in letters} == {t for t, _ in messages[:2]}
    assert all(f"smk-2 (of {gw2})" in letter.detail for letter in letters)
    # The gateway's own reading in the mixed batch, and gw2's own: stored; the forged ones not.
    assert service.store.count() == 2
    assert {(r.reading.id, r.site) for r in service.store.latest()} == {
        ("own-1", unique_id),
        ("own-2", other),
    }
