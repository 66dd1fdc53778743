"""Live safety rules (RULES.md B), evaluated as readings arrive. Pure: no I/O, no wall clock.

Rule definitions are pydantic models picked by their ``type`` from :data:`RULE_TYPES` and loaded
from versioned packs (:func:`parse_pack`). :class:`LiveEngine` takes readings, gateway statuses
and ``tick(now)``, and returns :class:`Decision` values (pending / firing / resolved).

Errors::

    ValueError
     └── PackError      a pack that cannot be used (file, rule and field named)
"""

from rules.live._base import RULE_TYPES, Condition, Escalation, RuleBase, Status, rule_type
from rules.live._doors import DoorHeldOpen, DoorNotReleased
from rules.live._engine import EngineSnapshot, LiveEngine, TimerState
from rules.live._facts import SiteFacts, SiteView
from rules.live._health import DeviceFault, DeviceSilent, GatewayOffline
from rules.live._model import (
    Change,
    Decision,
    DecisionState,
    Duration,
    Severity,
    Text,
    parse_duration,
)
from rules.live._occupancy import AfterHoursEntry, RoomOverCapacity, is_open
from rules.live._pack import (
    PackError,
    RulePack,
    parse_pack,
)
from rules.live._smoke import EvacuationIncomplete, SmokeAlarm

__all__ = [
    "RULE_TYPES",
    "AfterHoursEntry",
    "Change",
    "Condition",
    "Decision",
    "DecisionState",
    "DeviceFault",
    "DeviceSilent",
    "DoorHeldOpen",
    "DoorNotReleased",
    "Duration",
    "EngineSnapshot",
    "Escalation",
    "EvacuationIncomplete",
    "GatewayOffline",
    "LiveEngine",
    "PackError",
    "RoomOverCapacity",
    "RuleBase",
    "RulePack",
    "Severity",
    "SiteFacts",
    "SiteView",
    "SmokeAlarm",
    "Status",
    "Text",
    "TimerState",
    "is_open",
    "parse_duration",
    "parse_pack",
    "rule_type",
]
