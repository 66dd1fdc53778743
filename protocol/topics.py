"""MQTT topic layout, built and parsed in this one module.

::

    linli/v1/{site}/{gateway}/status            retained; "online" birth, "offline" Last Will
    linli/v1/{site}/{gateway}/up/alarm          alarm-class events, QoS 1, sent first
    linli/v1/{site}/{gateway}/up/readings       batches of readings from the outbox, QoS 1
    linli/v1/{site}/{gateway}/down/config       retained gateway configuration
    linli/v1/{site}/{gateway}/down/cmd          commands (self-test, silence local sounder)
    linli/v1/{site}/alerts                      alerts for on-site displays
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol._errors import BadTopic
from protocol._ids import MAX_ID_LENGTH, is_valid_id

__all__ = [
    "PREFIX",
    "Channel",
    "TopicInfo",
    "alerts_topic",
    "channel_topic",
    "parse_topic",
    "server_subscriptions",
    "shared",
    "valid_publish_topic",
]

PREFIX = "linli/v1"


class Channel(enum.StrEnum):
    """The per-gateway topics."""

    STATUS = "status"
    ALARM = "up/alarm"
    READINGS = "up/readings"
    CONFIG = "down/config"
    CMD = "down/cmd"


_CHANNELS = {c.value: c for c in Channel}


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A parsed Linli topic. ``gateway`` and ``channel`` are None for the site alerts topic."""

    site: str
    gateway: str | None
    channel: Channel | None

    @property
    def topic(self) -> str:
        if self.gateway is None or self.channel is None:
            return alerts_topic(self.site)
        return channel_topic(self.site, self.gateway, self.channel)


def _check_id(value: str, what: str) -> None:
    if not is_valid_id(value):
        raise BadTopic(
            f"{what} id {value[:80]!r} is not 1–{MAX_ID_LENGTH} characters of "
            "letters, digits, '_' or '-' starting with a letter or digit",
            where="topic",
        )


def channel_topic(site: str, gateway: str, channel: Channel) -> str:
    """Build the topic of one of a gateway's channels."""
    _check_id(site, "site")
    _check_id(gateway, "gateway")
    return f"{PREFIX}/{site}/{gateway}/{channel.value}"


def alerts_topic(site: str) -> str:
    """Build the topic on which a site's alerts are published for on-site displays."""
    _check_id(site, "site")
    return f"{PREFIX}/{site}/alerts"


def parse_topic(topic: str) -> TopicInfo:
    """Parse a Linli topic, or raise BadTopic saying which part is wrong."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise BadTopic(f"{topic[:200]!r} does not start with {PREFIX}/{{site}}/", where="topic")
    site = parts[2]
    _check_id(site, "site")
    if len(parts) == 4 and parts[3] == "alerts":
        return TopicInfo(site, None, None)
    gateway = parts[3]
    _check_id(gateway, "gateway")
    channel = _CHANNELS.get("/".join(parts[4:]))
    if channel is None:
        raise BadTopic(
            f"{topic[:200]!r}: unknown channel {'/'.join(parts[4:])[:80]!r}, expected one of "
            + ", ".join(_CHANNELS),
            where="topic",
        )
    return TopicInfo(site, gateway, channel)


def valid_publish_topic(topic: str) -> str:
    """Return ``topic`` if it may be published to, else raise BadTopic (wildcards, empty, NUL)."""
    if not topic:
        raise BadTopic("empty topic", where="topic")
    if "+" in topic or "#" in topic:
        raise BadTopic(f"{topic[:200]!r}: wildcards are not allowed on publish", where="topic")
    if "\x00" in topic:
        raise BadTopic("topic contains a NUL character", where="topic")
    if len(topic.encode()) > 65535:
        raise BadTopic("topic is longer than MQTT's 65,535 bytes", where="topic")
    return topic


def server_subscriptions(site: str = "+") -> list[str]:
    """Topic filters a server subscribes to: every gateway's up/ channels and status."""
    if site != "+":
        _check_id(site, "site")
    return [
        f"{PREFIX}/{site}/+/{Channel.ALARM.value}",
        f"{PREFIX}/{site}/+/{Channel.READINGS.value}",
        f"{PREFIX}/{site}/+/{Channel.STATUS.value}",
    ]


def shared(topic_filter: str, group: str) -> str:
    """Wrap a filter as an MQTT 5 shared subscription so servers in ``group`` split the load."""
    _check_id(group, "share group")
    return f"$share/{group}/{topic_filter}"
