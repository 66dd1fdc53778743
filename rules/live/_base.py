"""The rule definition base: primitives every live rule shares, and the registry of rule types.

A rule type is a pydantic model with a ``type`` literal, registered with :func:`rule_type`. Its
``evaluate(view, now)`` yields one :class:`Condition` per subject; the engine applies the shared
primitives ("for", hysteresis, keep-firing-for, escalation) to turn conditions into decisions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from rules.live._facts import SiteView
from rules.live._model import Duration, Severity, Text

__all__ = [
    "RULE_TYPES",
    "Condition",
    "Escalation",
    "Input",
    "RuleBase",
    "Status",
    "rule_type",
]


class Input(enum.StrEnum):
    """What a rule reads; a change of one re-evaluates only the rules that read it."""

    SMOKE = "smoke"
    DOOR = "door"
    OCCUPANCY = "occupancy"
    HEALTH = "health"
    STATUS = "status"  # gateway status messages
    SEEN = "seen"  # that a device or gateway sent anything at all
    CLOCK = "clock"  # the passing of time (evaluated on every tick)


class Status(enum.Enum):
    SET = "set"  # the firing condition holds
    HOLD = "hold"  # inside the hysteresis band: neither fire nor clear, keep the current phase
    CLEAR = "clear"  # the clear condition holds


@dataclass(frozen=True)
class Condition:
    """One subject's condition at ``now``, as a rule sees it."""

    subject: str
    status: Status
    message: Text
    since: datetime | None = None  # when the condition started to hold; None means now
    severity: Severity | None = None  # a value-dependent severity; None means the rule's
    details: dict[str, Any] = field(default_factory=dict)
    room: str | None = None
    device: str | None = None
    gateway: str | None = None


class Escalation(BaseModel):
    """Raise the severity once the alert has been firing for ``after`` seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after: Duration
    severity: Severity


class RuleBase(BaseModel):
    """Fields every live rule has. Durations are seconds or strings such as "90s", "5m"."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type_name: ClassVar[str] = ""
    inputs: ClassVar[frozenset[Input]] = frozenset(Input)

    type: str
    id: str = Field(min_length=1, max_length=64)
    enabled: bool = True
    severity: Severity = Severity.MAJOR
    for_s: Duration = Field(default=0, alias="for", description="Hold this long before firing")
    keep_firing_for_s: Duration = Field(
        default=0,
        alias="keep_firing_for",
        description="Keep firing this long after the clear condition holds, against flapping",
    )
    escalate: tuple[Escalation, ...] = ()
    remind_every_s: Duration | None = Field(
        default=None, alias="remind_every", description="Reminder interval until acknowledged"
    )
    rooms: tuple[str, ...] | None = Field(
        default=None, description="Only these rooms ('room' or 'site/room'); None means all"
    )

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        """Yield the condition of every subject this rule watches in the site."""
        raise NotImplementedError

    def applies_to(self, site: str, room: str | None) -> bool:
        if self.rooms is None:
            return True
        if room is None:
            return False
        return room in self.rooms or f"{site}/{room}" in self.rooms

    def severity_after(self, base: Severity, firing_s: float) -> Severity:
        """The severity after firing for ``firing_s`` seconds, escalations applied."""
        result = base
        for step in self.escalate:
            if firing_s >= step.after and step.severity.rank > result.rank:
                result = step.severity
        return result


RULE_TYPES: dict[str, type[RuleBase]] = {}
"""Rule types by their ``type`` name; packs choose a model from here."""

_R = TypeVar("_R", bound=type[RuleBase])


def rule_type(name: str) -> Callable[[_R], _R]:
    """Register a rule model under ``name``."""

    def register(cls: _R) -> _R:
        if name in RULE_TYPES:
            raise ValueError(f"rule type {name!r} registered twice")
        cls.type_name = name
        RULE_TYPES[name] = cls
        return cls

    return register
