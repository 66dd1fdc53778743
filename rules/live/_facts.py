"""What the engine knows about each site, as serialisable state, and the read view rules get."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from protocol import DoorRole, DoorState, SmokeState
from rules.facility import Device, Gateway, Room, Site
from rules.live._model import Text

__all__ = [
    "EVACUATION_WINDOW",
    "DoorFact",
    "GatewayFact",
    "HealthFact",
    "RoomFact",
    "SiteFacts",
    "SiteView",
    "SmokeFact",
]

# After the alarm clears (a drill's aerosol, a detector reset) people are still walking out: a
# room emptied up to this long after the alarm started is still measured, and smoke.alarm waits
# for it. Later, it is people going home, not an evacuation. Ten times a day-care room's 90 s
# norm, and the window in which the fire_drill scenario expects its evacuation time.
EVACUATION_WINDOW = timedelta(minutes=15)


class SmokeFact(BaseModel):
    state: SmokeState
    since: datetime


class DoorFact(BaseModel):
    state: DoorState
    role: DoorRole
    since: datetime
    fault: bool = False


class HealthFact(BaseModel):
    battery_low: bool = False
    tamper: bool = False
    fault: str | None = None


class RoomFact(BaseModel):
    count: int = 0
    since: datetime | None = Field(default=None, description="When the count last changed")
    alarm_at: datetime | None = Field(
        default=None, description="Start of the last smoke alarm in the room's zone"
    )
    alarm_cleared_at: datetime | None = Field(
        default=None, description="When that alarm cleared (None while it is active)"
    )
    count_at_alarm: int | None = None
    evacuated_at: datetime | None = Field(
        default=None,
        description="First time the room was empty during that alarm's evacuation",
    )

    from_counter: bool = Field(
        default=False, description="The count is door counters' entries minus exits"
    )
    reset_at: datetime | None = Field(
        default=None, description="Last daily reset of a counter-derived count (room empty)"
    )
    reset_from: int | None = Field(
        default=None, description="The count that reset removed: the counters' drift"
    )

    def evacuation_s(self) -> float | None:
        if self.alarm_at is None or self.evacuated_at is None:
            return None
        return (self.evacuated_at - self.alarm_at).total_seconds()


class GatewayFact(BaseModel):
    online: bool = True
    last_seen: datetime
    offline_since: datetime | None = None


class SiteFacts(BaseModel):
    """Everything the rules of one site read; the engine's snapshot holds one per site."""

    started: datetime = Field(description="When the engine began watching this site")
    smoke: dict[str, SmokeFact] = Field(default_factory=dict)
    doors: dict[str, DoorFact] = Field(default_factory=dict)
    health: dict[str, HealthFact] = Field(default_factory=dict)
    rooms: dict[str, RoomFact] = Field(default_factory=dict)
    gateways: dict[str, GatewayFact] = Field(default_factory=dict)
    last_seen: dict[str, datetime] = Field(
        default_factory=dict, description="Server time of each device's last message"
    )
    counters_reset_at: datetime | None = Field(
        default=None, description="The last daily reset of counter-derived counts"
    )
    last_ts: dict[str, datetime] = Field(
        default_factory=dict, description="Gateway time of each device's newest state reading"
    )

    def room(self, room_id: str) -> RoomFact:
        fact = self.rooms.get(room_id)
        if fact is None:
            fact = self.rooms[room_id] = RoomFact()
        return fact

    def shift_silence(self, by: timedelta) -> None:
        """Move every last-seen time forward, so the server's own downtime isn't silence."""
        self.started += by
        self.last_seen = {k: v + by for k, v in self.last_seen.items()}
        for gateway in self.gateways.values():
            gateway.last_seen += by


@dataclass
class SiteView:
    """A rule's read-only view of one site: registry, capacities, facts."""

    site: Site
    facts: SiteFacts
    capacities: Mapping[str, int]
    _devices: dict[str, tuple[Gateway, Device]] = field(default_factory=dict)
    _alarms: dict[str | None, datetime] | None = None

    def __post_init__(self) -> None:
        self._devices = {d.id: (g, d) for g, d in self.site.devices()}

    def refresh(self, facts: SiteFacts) -> None:
        """Point at the current facts and forget what was derived from the previous ones."""
        self.facts = facts
        self._alarms = None

    def _alarm_starts(self) -> dict[str | None, datetime]:
        """Start of the active alarm per room (None: detectors without a room), in one pass."""
        if self._alarms is None:
            alarms: dict[str | None, datetime] = {}
            for dev, fact in self.facts.smoke.items():
                if fact.state is SmokeState.ALARM:
                    room = self._room_of(dev)
                    alarms[room] = min(fact.since, alarms.get(room, fact.since))
            self._alarms = alarms
        return self._alarms

    def device(self, device_id: str) -> Device | None:
        found = self._devices.get(device_id)
        return found[1] if found else None

    def gateway_of(self, device_id: str) -> Gateway | None:
        found = self._devices.get(device_id)
        return found[0] if found else None

    def room_name(self, room_id: str | None) -> Text:
        room: Room | None = self.site.room(room_id) if room_id else None
        if room is None:
            return Text(zh=room_id or "未知房间", en=room_id or "unknown room")
        return Text(zh=room.name, en=room.name_en or room.id)

    def site_name(self) -> Text:
        return Text(zh=self.site.name, en=self.site.name_en or self.site.id)

    def room_alarm(self, room_id: str) -> datetime | None:
        """Start of the smoke alarm now active in ``room_id``, else None."""
        return self._alarm_starts().get(room_id)

    def zone_alarm(self, room_id: str) -> datetime | None:
        """Start of the smoke alarm now active in ``room_id``'s zone, else None. The registry
        defines no zones, so a room's zone is its whole site."""
        return self.site_alarm()

    def zone_evacuation_s(self, room_id: str | None) -> float | None:
        """Seconds from the alarm to the last room of ``room_id``'s zone empty, once all are."""
        times = [f.evacuation_s() for f in self.facts.rooms.values() if f.alarm_at is not None]
        if not times or any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)

    def site_alarm(self) -> datetime | None:
        """Start of the earliest smoke alarm now active anywhere in the site, else None."""
        starts = self._alarm_starts().values()
        return min(starts) if starts else None

    def _room_of(self, device_id: str) -> str | None:
        device = self.device(device_id)
        return device.room if device else None

    def subject(self, *, room: str | None = None, device: str | None = None) -> str:
        part = room if room is not None else device
        return f"{self.site.id}/{part}"
