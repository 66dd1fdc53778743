from __future__ import annotations

import pytest

from protocol import (
    BadTopic,
    Channel,
    TopicInfo,
    alerts_topic,
    channel_topic,
    parse_topic,
    server_subscriptions,
    shared,
    valid_publish_topic,
)


@pytest.mark.parametrize("channel", list(Channel))
def test_build_and_parse_round_trip(channel: Channel) -> None:
    topic = channel_topic("hz-xihu-01", "gw-2F", channel)
    assert topic == f"linli/v1/hz-xihu-01/gw-2F/{channel.value}"
    assert parse_topic(topic) == TopicInfo("hz-xihu-01", "gw-2F", channel)
    assert parse_topic(topic).topic == topic


def test_site_alerts_topic() -> None:
    assert alerts_topic("s1") == "linli/v1/s1/alerts"
    assert parse_topic("linli/v1/s1/alerts") == TopicInfo("s1", None, None)


@pytest.mark.parametrize("bad", ["+", "#", "a/b", "", "x" * 65, "-lead", "空", "a b", "$sys"])
def test_unsafe_ids_are_refused_on_build(bad: str) -> None:
    with pytest.raises(BadTopic, match="id"):
        channel_topic("site", bad, Channel.READINGS)
    with pytest.raises(BadTopic):
        alerts_topic(bad)


@pytest.mark.parametrize(
    ("topic", "match"),
    [
        ("other/v1/s/g/status", "does not start"),
        ("linli/v2/s/g/status", "does not start"),
        ("linli/v1/s/g/up/other", "unknown channel"),
        ("linli/v1/s/g", "unknown channel"),
        ("linli/v1/s+/g/status", "site id"),
        ("linli/v1/s/g#/status", "gateway id"),
    ],
)
def test_parse_names_what_is_wrong(topic: str, match: str) -> None:
    with pytest.raises(BadTopic, match=match):
        parse_topic(topic)


@pytest.mark.parametrize("topic", ["a/+/b", "a/#", "", "a\x00b"])
def test_publish_refuses_wildcards_and_junk(topic: str) -> None:
    with pytest.raises(BadTopic):
        valid_publish_topic(topic)


def test_server_subscriptions_and_shared() -> None:
    assert server_subscriptions() == [
        "linli/v1/+/+/up/alarm",
        "linli/v1/+/+/up/readings",
        "linli/v1/+/+/status",
    ]
    assert shared("linli/v1/+/+/up/readings", "ingest") == "$share/ingest/linli/v1/+/+/up/readings"
    with pytest.raises(BadTopic):
        shared("x", "a/b")
