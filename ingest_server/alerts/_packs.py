"""Loading live rule packs from a directory, keeping the last good version of each."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import rules
from rules.facility import RegistryError, Site, parse_registry
from rules.live import PackError, RulePack, parse_pack

__all__ = ["DEFAULT_PACK_DIR", "PackLoader", "PackReport", "check_packs"]

log = logging.getLogger(__name__)

DEFAULT_PACK_DIR = Path(rules.__file__).resolve().parent / "packs" / "live"


@dataclass
class PackReport:
    """The outcome of one load: packs in force, and errors of refused files."""

    packs: dict[str, RulePack]
    errors: list[str] = field(default_factory=list)


class PackLoader:
    """Reads ``*.yaml`` packs from ``directory``. A refused file leaves the last good pack of
    the same id in force, so the server keeps running on it."""

    def __init__(self, directory: Path = DEFAULT_PACK_DIR, default_pack: str = "national") -> None:
        self.directory = directory
        self.default_pack = default_pack
        self._good: dict[str, RulePack] = {}

    @property
    def packs(self) -> dict[str, RulePack]:
        return dict(self._good)

    def load(self, sites: Iterable[Site] = (), *, log_errors: bool = True) -> PackReport:
        """(Re)load every pack; file I/O, so call it from a thread."""
        site_list = list(sites)
        texts: dict[str, tuple[Path, str]] = {}
        errors: list[str] = []
        for path in sorted(self.directory.glob("*.yaml")):
            try:
                texts[path.stem] = (path, path.read_text(encoding="utf-8"))
            except OSError as exc:
                errors.append(f"{path}: cannot read: {exc}")
        fresh: dict[str, RulePack] = {}
        pending = dict(texts)
        while pending:
            progressed = False
            for stem, (path, text) in list(pending.items()):
                parent_id = _extends(text)
                if parent_id is not None and parent_id in pending and parent_id != stem:
                    continue  # load the parent first
                del pending[stem]
                progressed = True
                held = [
                    s
                    for s in site_list
                    if s.jurisdiction == stem
                    or (stem == self.default_pack and s.jurisdiction not in texts)
                ]
                try:
                    pack = parse_pack(
                        text,
                        str(path),
                        parent=lambda pid: fresh.get(pid) or self._good.get(pid),
                        sites=held,
                    )
                    if pack.id != stem:
                        raise PackError(f"{path}: id: {pack.id!r} differs from the file name")
                except PackError as exc:
                    errors.append(str(exc))
                    continue
                fresh[stem] = pack
            if not progressed:  # an extends cycle
                for stem, (path, _) in pending.items():
                    errors.append(f"{path}: extends: cycle through {stem!r}")
                break
        for error in errors if log_errors else ():
            kept = "keeping the last good pack" if self._good else "no pack in force"
            log.error("rule pack refused (%s): %s", kept, error)
        self._good.update(fresh)
        return PackReport(packs=dict(self._good), errors=errors)


def _extends(text: str) -> str | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    value = data.get("extends") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def check_packs(directory: Path = DEFAULT_PACK_DIR, registry: Path | None = None) -> PackReport:
    """Validate every pack in ``directory`` (room references against ``registry`` if given)."""
    sites: list[Site] = []
    if registry is not None:
        try:
            sites = list(parse_registry(registry.read_text(encoding="utf-8"), str(registry)).sites)
        except (OSError, RegistryError) as exc:
            return PackReport(packs={}, errors=[str(exc)])
    return PackLoader(directory).load(sites, log_errors=False)
