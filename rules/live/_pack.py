"""Live rule packs: versioned YAML per jurisdiction, validated at load.

A pack names its ``id`` and ``version``, may ``extends`` another pack (its rules are merged by
rule id, field by field; ``enabled: false`` switches an inherited rule off), and carries the
occupant load factors used for room capacities. Errors name the file, the rule and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.facility import Site
from rules.live._base import RULE_TYPES, RuleBase

__all__ = [
    "PackError",
    "RulePack",
    "parse_pack",
]


class PackError(ValueError):
    """A rule pack that cannot be used; the message names the file, rule and field."""


class _PackHeader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=40)
    version: str = Field(min_length=1, max_length=40)
    extends: str | None = None
    description: str | None = None
    rules: list[dict[str, Any]] = Field(default_factory=list)


class RulePack(BaseModel):
    """A validated pack: its rules (inherited ones merged in) and capacity data."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: str
    source: str
    extends: str | None = None
    rules: tuple[RuleBase, ...]
    raw_rules: dict[str, dict[str, Any]] = Field(description="Merged rule fields, for children")

    def rule(self, rule_id: str) -> RuleBase | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(rule)"


def _validate_rule(data: dict[str, Any], where: str) -> RuleBase:
    rule_id = data.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise PackError(f"{where}: a rule without an 'id'")
    type_name = data.get("type")
    cls = RULE_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise PackError(
            f"{where}: rule {rule_id!r}: type: unknown rule type {type_name!r}; known: "
            + ", ".join(sorted(RULE_TYPES))
        )
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise PackError(f"{where}: rule {rule_id!r}: {_loc(err['loc'])}: {err['msg']}") from None


def _check_rooms(rule: RuleBase, sites: Iterable[Site], where: str) -> None:
    if rule.rooms is None:
        return
    known = {r.id for s in sites for r in s.rooms} | {
        f"{s.id}/{r.id}" for s in sites for r in s.rooms
    }
    for ref in rule.rooms:
        if ref not in known:
            raise PackError(f"{where}: rule {rule.id!r}: rooms: no room {ref!r} in the registry")


def parse_pack(
    text: str,
    source: str,
    *,
    parent: Callable[[str], RulePack | None] = lambda _id: None,
    sites: Iterable[Site] | None = None,
) -> RulePack:
    """Parse and validate one pack; ``parent`` resolves ``extends``; ``sites``, when given, are
    the sites held to the pack, against which room references are checked."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise PackError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PackError(f"{source}: expected a mapping with id, version and rules")
    try:
        header = _PackHeader.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise PackError(f"{source}: {_loc(err['loc'])}: {err['msg']}") from None

    base: RulePack | None = None
    if header.extends is not None:
        base = parent(header.extends)
        if base is None:
            raise PackError(f"{source}: extends: no pack {header.extends!r} loaded")
    raw: dict[str, dict[str, Any]] = dict(base.raw_rules) if base else {}
    seen: set[str] = set()
    for index, item in enumerate(header.rules):
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            raise PackError(f"{source}: rules[{index}]: a rule without an 'id'")
        if rule_id in seen:
            raise PackError(f"{source}: rule {rule_id!r}: id: appears twice")
        seen.add(rule_id)
        raw[rule_id] = {**raw.get(rule_id, {}), **item}

    site_list = list(sites) if sites is not None else None
    rules: list[RuleBase] = []
    for merged in raw.values():
        rule = _validate_rule(merged, source)
        if site_list is not None:
            _check_rooms(rule, site_list, source)
        rules.append(rule)

    return RulePack(
        id=header.id,
        version=header.version,
        source=source,
        extends=header.extends,
        rules=tuple(rules),
        raw_rules=raw,
    )
