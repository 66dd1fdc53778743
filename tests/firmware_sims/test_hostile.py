from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sims import HOSTILE_LABELS, Fleet, demo_registry, hostile_payloads
from protocol import (
    MAX_READINGS_PER_BATCH,
    AlarmEvent,
    Channel,
    ProtocolError,
    ReadingBatch,
    channel_topic,
    decode_message,
    encode,
    is_alarm_class,
)
from tests.firmware_sims.conftest import readings, run

NOW = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("payload", hostile_payloads("gw-1", NOW), ids=lambda p: p.label)
def test_each_hostile_payload_is_refused_with_its_expected_error(payload: object) -> None:
    from firmware_sims import HostilePayload

    assert isinstance(payload, HostilePayload)
    with pytest.raises(ProtocolError) as info:
        decode_message(channel_topic("site-1", "gw-1", payload.channel), payload.payload, now=NOW)
    assert type(info.value) is payload.expect
    assert info.value.code == payload.expect.code


def test_the_catalogue_lists_every_payload_once() -> None:
    labels = [p.label for p in hostile_payloads("gw-1", NOW)]
    assert tuple(labels) == HOSTILE_LABELS
    assert len(set(labels)) == len(labels)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), hour=st.integers(0, 23), minutes=st.integers(1, 90))
def test_whatever_the_seed_and_hour_a_fleet_only_sends_what_the_protocol_accepts(
    seed: int, hour: int, minutes: int
) -> None:
    start = NOW.replace(hour=hour)
    fleet = Fleet(demo_registry(), start=start, seed=seed, max_step=timedelta(seconds=20))
    events = run(fleet, timedelta(minutes=minutes), step=timedelta(minutes=5))
    found = readings(events)
    for i in range(0, len(found), MAX_READINGS_PER_BATCH):
        chunk = [r for r in found[i : i + MAX_READINGS_PER_BATCH] if not is_alarm_class(r)]
        if chunk:
            batch = ReadingBatch(gateway="gw-1", sent_at=fleet.now, seq=1, readings=chunk)
            topic = channel_topic("site-1", "gw-1", Channel.READINGS)
            decoded = decode_message(topic, encode(batch), now=fleet.now)
            assert decoded.message == batch
    for reading in (r for r in found if is_alarm_class(r)):
        event = AlarmEvent(gateway="gw-1", sent_at=fleet.now, seq=1, reading=reading)
        topic = channel_topic("site-1", "gw-1", Channel.ALARM)
        assert decode_message(topic, encode(event), now=fleet.now).message == event
