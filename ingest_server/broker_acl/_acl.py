"""Who may publish and subscribe where: the broker users a registry implies, and their ACL.

The topic filters follow ``protocol.topics`` (its module docstring draws the layout); the
per-gateway ones are derived from ``channel_topic`` so they cannot drift from it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol import PREFIX, Channel, channel_topic
from rules import Registry

__all__ = ["Access", "BrokerUser", "Grant", "Role", "acl_text", "broker_users"]


class Role(enum.StrEnum):
    GATEWAY = "gateway"  # one per registry gateway; the MQTT username is the gateway id
    SERVER = "server"  # the ingest server (and, by default, its alert notifications)
    NOTIFY = "notify"  # an alert publisher with its own identity (LINLI_NOTIFY mqtt channel)
    DISPLAY = "display"  # on-site displays reading the alerts topics


class Access(enum.StrEnum):
    READ = "read"  # subscribe and receive
    WRITE = "write"  # publish


@dataclass(frozen=True, slots=True)
class Grant:
    access: Access
    topic: str


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """One MQTT identity and what it may do. ``site`` is set for gateways."""

    name: str
    role: Role
    grants: tuple[Grant, ...]
    site: str | None = None


def _subtree(site: str, gateway: str, channel: Channel) -> str:
    """``linli/v1/{site}/{gateway}/up/#`` from the channel ``up/…`` (or ``down/…``)."""
    topic = channel_topic(site, gateway, channel)
    return topic.rsplit("/", 1)[0] + "/#"


def _gateway(site: str, gateway: str) -> BrokerUser:
    grants = (
        Grant(Access.WRITE, _subtree(site, gateway, Channel.READINGS)),
        Grant(Access.WRITE, channel_topic(site, gateway, Channel.STATUS)),
        Grant(Access.READ, _subtree(site, gateway, Channel.CMD)),
    )
    return BrokerUser(gateway, Role.GATEWAY, grants, site)


# Every site's alerts topic (protocol.alerts_topic with a wildcard site).
_ALL_ALERTS = f"{PREFIX}/+/alerts"
_SERVER_GRANTS = (
    Grant(Access.READ, f"{PREFIX}/+/+/up/#"),
    Grant(Access.READ, f"{PREFIX}/+/+/{Channel.STATUS.value}"),
    Grant(Access.WRITE, f"{PREFIX}/+/+/down/#"),
    Grant(Access.WRITE, _ALL_ALERTS),
)


def broker_users(
    registry: Registry,
    *,
    server_user: str,
    notify_user: str | None = None,
    display_user: str | None = None,
) -> list[BrokerUser]:
    """The server, the optional notify and display users, then every gateway (by site)."""
    users = [BrokerUser(server_user, Role.SERVER, _SERVER_GRANTS)]
    if notify_user is not None:
        users.append(BrokerUser(notify_user, Role.NOTIFY, (Grant(Access.WRITE, _ALL_ALERTS),)))
    if display_user is not None:
        users.append(BrokerUser(display_user, Role.DISPLAY, (Grant(Access.READ, _ALL_ALERTS),)))
    for site in registry.sites:
        users.extend(_gateway(site.id, gw.id) for gw in site.gateways)
    return users


def acl_text(users: Sequence[BrokerUser], header: Iterable[str] = ()) -> str:
    """A Mosquitto ``acl_file``. No lines precede the first ``user``, so anonymous clients (if
    a listener ever allowed them) may do nothing."""
    lines = [f"# {line}" if line else "#" for line in header]
    for user in users:
        where = f" of site {user.site}" if user.site else ""
        lines += ["", f"# {user.role.value}{where}", f"user {user.name}"]
        lines += [f"topic {g.access.value} {g.topic}" for g in user.grants]
    return "\n".join(lines) + "\n"
