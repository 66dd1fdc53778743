"""Roles, permissions and the principal a request acts as."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ALL_SITES", "ROLE_PERMISSIONS", "Permission", "Principal", "Role"]

# Stored in a user's or key's site list: every site, present and future.
ALL_SITES = "*"


class Role(enum.StrEnum):
    OPERATOR = "operator"
    MANAGER = "manager"
    INSPECTOR = "inspector"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    """What a route needs. Site scoping is separate: see :mod:`ingest_server.auth._policy`."""

    SITE_READ = "site.read"  # registry, telemetry, occupancy, alerts, log entries of a site
    ANALYTICS_READ = "analytics.read"  # utilization, findings, compliance
    ALERT_ACT = "alert.act"  # acknowledge, assign, resolve, notes
    ALERT_SILENCE = "alert.silence"
    PATROL_RECORD = "patrol.record"  # the patrol record only
    INSPECTION_RECORD = "inspection.record"  # every manual record and corrections
    LOG_EXPORT = "log.export"  # exports, verification of exports and heads
    REPORT_MAKE = "report.make"
    ROOM_EDIT = "room.edit"  # rooms and a site's own fields (opening hours)
    REGISTRY_EDIT = "registry.edit"  # sites, gateways, devices
    SYSTEM_READ = "system.read"  # metrics, dead letters, channel health
    USER_ADMIN = "user.admin"  # users, API keys, the audit log


_READ = {Permission.SITE_READ}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        _READ | {Permission.ALERT_ACT, Permission.ALERT_SILENCE, Permission.PATROL_RECORD}
    ),
    Role.MANAGER: frozenset(
        _READ
        | {
            Permission.ANALYTICS_READ,
            Permission.REPORT_MAKE,
            Permission.ROOM_EDIT,
            Permission.LOG_EXPORT,
        }
    ),
    Role.INSPECTOR: frozenset(
        _READ
        | {
            Permission.ANALYTICS_READ,
            Permission.PATROL_RECORD,
            Permission.INSPECTION_RECORD,
            Permission.LOG_EXPORT,
            Permission.REPORT_MAKE,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a signed-in user (``via="session"``) or an API key."""

    username: str
    name: str
    role: Role
    # None: every site.
    sites: frozenset[str] | None
    via: str
    csrf_token: str | None = None
    key_id: str | None = None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def sees(self, site: str) -> bool:
        return self.sites is None or site in self.sites

    def visible(self, sites: Iterable[str]) -> list[str]:
        return [s for s in sites if self.sees(s)]

    @property
    def actor(self) -> str:
        """How the audit log and alert history name this principal."""
        return self.username if self.key_id is None else f"{self.username}/key:{self.key_id}"


def parse_sites(values: Iterable[str]) -> frozenset[str] | None:
    """A stored site list as a principal's: ``*`` anywhere means every site."""
    sites = frozenset(values)
    return None if ALL_SITES in sites else sites
