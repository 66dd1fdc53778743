"""The audit log: sign-ins, failed sign-ins and every state-changing call, append-only and
chained with an HMAC so that an edit, an insertion or a deletion is detected.

``hash[n] = HMAC-SHA256(key, hash[n-1] || canonical JSON of entry n)``, ``hash[0]`` the genesis
below. The key is the server's secret key: whoever can write the database but not read the
server's configuration cannot rebuild a consistent chain after tampering.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from ingest_server.auth._tables import AuditRow
from protocol import Clock

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "AuditVerification",
    "audit_rule_packs",
    "pack_digests",
]

GENESIS = "0" * 64
# The longest path or detail value kept: enough for every route, bounded against log flooding.
_MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    ts: datetime
    actor: str | None
    action: str
    method: str | None
    path: str | None
    status: int | None
    client: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts.astimezone(UTC).isoformat(),
            "actor": self.actor,
            "action": self.action,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "client": self.client,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def _content(row: AuditRow) -> bytes:
    """The canonical JSON an entry's hash covers (everything but the hashes)."""
    body = {
        "seq": row.seq,
        "ts": row.ts.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": row.actor,
        "action": row.action,
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "client": row.client,
        "detail": dict(row.detail),
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _chain(key: bytes, prev: str, content: bytes) -> str:
    return hmac.new(key, prev.encode() + content, hashlib.sha256).hexdigest()


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_TEXT]


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        row.seq,
        row.ts,
        row.actor,
        row.action,
        row.method,
        row.path,
        row.status,
        row.client,
        dict(row.detail),
        row.prev_hash,
        row.hash,
    )


class AuditLog:
    """Appends and verifies the audit chain. Thread-safe within one process."""

    def __init__(self, engine: Engine, clock: Clock, key: bytes) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._clock = clock
        self._key = key
        self._lock = threading.Lock()

    def append(
        self,
        action: str,
        *,
        actor: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        client: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        detail = {k: _clip(v) if isinstance(v, str) else v for k, v in (detail or {}).items()}
        path = _clip(path)
        with self._lock, self._sessions.begin() as s:
            last = s.execute(
                select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
            ).first()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            row = AuditRow(
                seq=seq,
                ts=self._clock.now(),
                actor=actor,
                action=action,
                method=method,
                path=path,
                status=status,
                client=client,
                detail=detail,
                prev_hash=prev,
                hash="",
            )
            row.hash = _chain(self._key, prev, _content(row))
            s.add(row)
        return _entry(row)

    def entries(
        self, *, after_seq: int = 0, limit: int = 100, action: str | None = None
    ) -> list[AuditEntry]:
        query = select(AuditRow).where(AuditRow.seq > after_seq)
        if action is not None:
            query = query.where(AuditRow.action == action)
        with self._sessions() as s:
            rows = s.scalars(query.order_by(AuditRow.seq).limit(limit))
            return [_entry(r) for r in rows]

    def last(self, action: str) -> AuditEntry | None:
        """The newest entry of ``action``."""
        query = select(AuditRow).where(AuditRow.action == action)
        with self._sessions() as s:
            row = s.scalars(query.order_by(AuditRow.seq.desc()).limit(1)).first()
            return None if row is None else _entry(row)

    def verify(self) -> AuditVerification:
        """Walk the whole chain; name the first entry that does not follow from its past."""
        prev, expected_seq, count = GENESIS, 1, 0
        with self._sessions() as s:
            for row in s.scalars(select(AuditRow).order_by(AuditRow.seq)).yield_per(1000):
                count += 1
                if row.seq != expected_seq:
                    return AuditVerification(
                        False, count, row.seq, f"entry {expected_seq} is missing"
                    )
                if row.prev_hash != prev:
                    return AuditVerification(
                        False, count, row.seq, "prev_hash does not match the previous entry"
                    )
                content = _content(row)
                if not hmac.compare_digest(_chain(self._key, prev, content), row.hash):
                    return AuditVerification(
                        False, count, row.seq, "entry content does not match its hash"
                    )
                prev, expected_seq = row.hash, row.seq + 1
        return AuditVerification(True, count)


def pack_digests(packs: Mapping[str, BaseModel]) -> dict[str, dict[str, str]]:
    """Each rule pack's version and the SHA-256 of its validated content."""
    return {
        pack_id: {
            "version": str(getattr(pack, "version", "")),
            "sha256": hashlib.sha256(pack.model_dump_json().encode()).hexdigest(),
        }
        for pack_id, pack in sorted(packs.items())
    }


def audit_rule_packs(audit: AuditLog, packs: Mapping[str, BaseModel]) -> AuditEntry | None:
    """Record the rule packs in force when they differ from the last recorded ones (a pack
    added, removed or edited between runs), naming what changed."""
    now = pack_digests(packs)
    last = audit.last("rule_packs.loaded")
    before: dict[str, dict[str, str]] = {} if last is None else last.detail.get("packs", {})
    if last is not None and before == now:
        return None
    changed = sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))
    return audit.append(
        "rule_packs.loaded", actor="server", detail={"packs": now, "changed": changed}
    )
