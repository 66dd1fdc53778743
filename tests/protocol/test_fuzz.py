"""Junk fed to the decoder raises only the protocol's own errors."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ProtocolError, decode_message
from tests.protocol.factories import NOW, batch, door, health, occupancy, smoke

TOPICS = [
    "linli/v1/s1/gw01/up/readings",
    "linli/v1/s1/gw01/up/alarm",
    "linli/v1/s1/gw01/status",
    "linli/v1/s1/gw01/down/cmd",
    "linli/v1/s1/gw01/down/config",
    "linli/v1/s1/alerts",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


def _decodes_or_protocol_error(topic: str, payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_message(topic, payload, now=NOW)


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from(TOPICS) | st.text(max_size=40), payload=st.binary(max_size=300))
def test_random_bytes(topic: str, payload: bytes) -> None:
    _decodes_or_protocol_error(topic, payload)


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from(TOPICS), value=json_values)
def test_random_json(topic: str, value: object) -> None:
    _decodes_or_protocol_error(topic, json.dumps(value).encode())


@settings(max_examples=500, deadline=None)
@given(
    topic=st.sampled_from(TOPICS[:3]),
    reading=st.sampled_from([smoke(), door(), occupancy(), health()]),
    key=st.sampled_from(
        [
            "v",
            "gateway",
            "seq",
            "sent_at",
            "readings",
            "reading",
            "state",
            "id",
            "ts",
            "kind",
            "device",
            "battery_pct",
            "entries",
            "count",
            "role",
        ]
    ),
    value=json_values,
    where=st.sampled_from(["envelope", "reading"]),
)
def test_mutated_realistic_payloads(
    topic: str, reading: dict[str, object], key: str, value: object, where: str
) -> None:
    reading = dict(reading)
    envelope = batch([reading])
    if where == "reading":
        reading[key] = value
        envelope["readings"] = [reading]
        envelope["reading"] = reading
    else:
        envelope[key] = value
    _decodes_or_protocol_error(topic, json.dumps(envelope).encode())
