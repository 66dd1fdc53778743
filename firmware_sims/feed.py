"""One gateway's simulated devices, pulled by a simulated edge driver.

The edge agent's simulated driver asks for new readings now and then; a ``GatewayFeed`` advances
the gateway's sites to that time and hands over the readings of that gateway's devices only. The
scenarios that act on devices and rooms (fire, prop_door, silence, crowd…) work the same way; the
transport ones (uplink_loss, broker_restart, hostile, skew_clock) belong to an MQTT sink and
should be played on the edge agent's own network instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from firmware_sims.devices import SmokeDetector
from firmware_sims.events import published_readings
from firmware_sims.fleet import DEFAULT_MAX_STEP, Fleet
from firmware_sims.scenarios import Scenario
from protocol import Reading
from rules import Registry

__all__ = ["GatewayFeed"]


class GatewayFeed:
    """The devices of ``gateway`` (their whole sites simulated), starting at ``start``."""

    def __init__(
        self,
        registry: Registry,
        gateway: str,
        *,
        start: datetime,
        seed: int = 0,
        max_step: timedelta = DEFAULT_MAX_STEP,
    ) -> None:
        self.gateway = gateway
        self.fleet = Fleet(registry, start=start, seed=seed, gateways={gateway}, max_step=max_step)

    @property
    def devices(self) -> list[str]:
        """Ids of this gateway's devices."""
        return [d.id for d in self.fleet.devices.values() if d.gateway.id == self.gateway]

    def poll(self, now: datetime) -> list[Reading]:
        """Readings of this gateway's devices from the last poll up to ``now``, oldest first."""
        return published_readings(self.fleet.advance(now), self.gateway)

    def schedule(self, scenario: Scenario, start: datetime | None = None) -> datetime:
        """Check and schedule a scenario (see ``Fleet.schedule``)."""
        return self.fleet.schedule(scenario, start)

    def self_test(self, device: str) -> bool:
        """Start a detector's self-test at the next poll (a ``self_test`` command); False if
        ``device`` is not one of this gateway's detectors."""
        found = self.fleet.device(device)
        if not isinstance(found, SmokeDetector) or found.gateway.id != self.gateway:
            return False
        found.self_test(self.fleet.now)
        return True
