"""Values the live engine speaks: severities, bilingual texts, durations and alert decisions."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Change",
    "Decision",
    "DecisionState",
    "Duration",
    "Severity",
    "Text",
    "parse_duration",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Severity(enum.StrEnum):
    """How urgent an alert is; ordered from least to most urgent."""

    INFO = "info"
    WARNING = "warning"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {s: i for i, s in enumerate(Severity)}


class DecisionState(enum.StrEnum):
    PENDING = "pending"  # the condition holds, its "for" duration has not elapsed yet
    FIRING = "firing"  # the condition held long enough; people must be told
    RESOLVED = "resolved"  # the clear condition held (for "keep firing for"), or pending ended


class Change(enum.StrEnum):
    """What changed in the decision, so the lifecycle knows what to tell people."""

    PENDING = "pending"  # started pending
    FIRED = "fired"  # a new occurrence started firing
    ESCALATED = "escalated"  # severity went up while firing
    UPDATED = "updated"  # details (a count, the evacuation time) or a lower severity changed
    RESOLVED = "resolved"  # a firing occurrence ended
    CANCELLED = "cancelled"  # a pending condition ended before it fired


class Text(BaseModel):
    """A user-facing text in both languages."""

    model_config = _FROZEN

    zh: str
    en: str

    def lang(self, language: str) -> str:
        """The text in ``language`` ("zh-CN" or "en"); Chinese for anything else."""
        return self.en if language.lower().startswith("en") else self.zh


_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$"
)


def parse_duration(value: Any) -> Any:
    """Seconds from a number or a string such as "90", "90s", "5m", "1h30m"; others pass through
    for pydantic to reject. A leading minus stays a negative number, so ``ge=0`` names it."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        match = _DURATION.match(text)
        if match is None or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration: use seconds or e.g. 90s, 5m, 1h30m")
        hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=366 * 86_400)]
"""A duration in seconds, at least 0 and at most a year."""


class Decision(BaseModel):
    """The engine's verdict on one (rule, subject) at one instant."""

    model_config = _FROZEN

    rule: str
    subject: str = Field(description="site/room, site/device or site/gateway")
    site: str
    state: DecisionState
    change: Change
    severity: Severity
    at: datetime = Field(description="Evaluation time")
    since: datetime = Field(description="When the condition started to hold")
    message: Text
    details: dict[str, Any] = Field(default_factory=dict)
    room: str | None = None
    device: str | None = None
    gateway: str | None = None
    remind_every_s: float | None = Field(
        default=None, description="The rule's reminder interval; None leaves it to the route"
    )

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)
