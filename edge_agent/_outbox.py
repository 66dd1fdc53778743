"""The durable outbox: every accepted reading lives here until the broker acknowledges it.

SQLite in WAL mode, one table, two lanes:

- **alarm**: alarm-class readings; their transaction commits with ``synchronous=FULL`` (fsync of
  the WAL), so a power cut right after the commit keeps them. Never dropped.
- **telemetry**: everything else; ``synchronous=NORMAL`` (survives a crash of the process; the
  last transactions may be lost on power loss). Dropped oldest first when the outbox is full.

Each reading gets its id at commit: ``{epoch}-{seq}``, where ``epoch`` is 16 random hex digits
drawn once per outbox database and ``seq`` is the row's AUTOINCREMENT key (never reused, even
after deletes), so ids are unique across restarts and replays reuse them.

The size bound counts the stored payload bytes plus a fixed per-row overhead; the file itself is
that plus SQLite's page slack (freed pages are reused, so it does not keep growing).

Thread-safe: one connection behind a lock; the writer and the uplink thread share it.
"""

from __future__ import annotations

import enum
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_agent._errors import OutboxError, OutboxWriteFailed

__all__ = ["Lane", "Outbox", "OutboxDepth", "Row"]

log = logging.getLogger(__name__)

# Index and row header bytes SQLite spends per row, roughly; keeps the bound honest for
# small readings.
ROW_OVERHEAD_BYTES = 64

# Four checkpoints' worth of 4 KiB pages (SQLite checkpoints every 1,000 pages).
WAL_LIMIT_BYTES = 16 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lane INTEGER NOT NULL,
    device TEXT NOT NULL,
    payload BLOB NOT NULL,
    actions TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_lane_seq ON outbox (lane, seq);
"""


class Lane(enum.IntEnum):
    ALARM = 0
    TELEMETRY = 1


@dataclass(frozen=True, slots=True)
class Row:
    """A stored reading: its JSON (with its id), and the local actions taken for an alarm."""

    seq: int
    lane: Lane
    device: str
    payload: bytes
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    alarms: int
    telemetry: int
    bytes: int
    dropped: int


# Builds the stored JSON of one reading from its id; raises ValueError if the reading is bad.
Build = Callable[[str], bytes]


@dataclass(frozen=True, slots=True)
class Pending:
    """A reading to commit: its lane, device, a builder of its JSON, and alarm actions."""

    lane: Lane
    device: str
    build: Build
    actions: tuple[str, ...] = ()


class Outbox:
    """A bounded, durable, two-lane queue of readings in SQLite."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # After a checkpoint the WAL file is cut back to this size, so the bound on disk
            # is not undone by a WAL that grew during a burst.
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            self._db.executescript(_SCHEMA)
            self.epoch = self._meta("epoch") or self._new_epoch()
            self._dropped = int(self._meta("dropped") or 0)
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
            self._next_seq = (int(row[0]) if row else 0) + 1
            counts = dict.fromkeys(Lane, 0)
            self._last = dict.fromkeys(Lane, 0)
            self._added = dict.fromkeys(Lane, 0)
            self._bytes = 0
            for lane, count, size, last in self._db.execute(
                "SELECT lane, COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), MAX(seq) FROM outbox "
                "GROUP BY lane"
            ):
                counts[Lane(lane)] = int(count)
                self._last[Lane(lane)] = int(last)
                self._bytes += int(size) + int(count) * ROW_OVERHEAD_BYTES
            self._counts = counts
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _new_epoch(self) -> str:
        epoch = secrets.token_hex(8)
        self._db.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?)", (epoch,))
        return epoch

    def get_meta(self, key: str) -> str | None:
        """A value the agent keeps beside the readings (e.g. the last remote config)."""
        with self._lock:
            return self._meta(key)

    def set_meta(self, key: str, value: str | None) -> None:
        """Store (or, with None, remove) a value beside the readings."""
        with self._lock:
            try:
                if value is None:
                    self._db.execute("DELETE FROM meta WHERE key=?", (key,))
                else:
                    self._db.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        (key, value),
                    )
            except sqlite3.Error as exc:
                raise OutboxError(f"writing {key!r} to {self.path} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reading_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def commit(self, items: Sequence[Pending]) -> tuple[list[tuple[Pending, Row]], int]:
        """Commit ``items`` in one transaction; returns the stored rows and how many were
        refused by their builder (a ValueError: logged by the caller's builder, skipped).

        Raises OutboxWriteFailed if the transaction fails; then nothing was stored.
        """
        stored: list[tuple[Pending, Row]] = []
        refused = 0
        with self._lock:
            full_sync = any(item.lane is Lane.ALARM for item in items)
            seq = self._next_seq
            try:
                if full_sync:
                    self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("BEGIN IMMEDIATE")
                for item in items:
                    try:
                        payload = item.build(self.reading_id(seq))
                    except ValueError:
                        refused += 1
                        continue
                    self._db.execute(
                        "INSERT INTO outbox (seq, lane, device, payload, actions) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (seq, int(item.lane), item.device, payload, ",".join(item.actions)),
                    )
                    stored.append(
                        (item, Row(seq, item.lane, item.device, payload, tuple(item.actions)))
                    )
                    seq += 1
                added = sum(len(r.payload) + ROW_OVERHEAD_BYTES for _, r in stored)
                dropped = self._make_room(added)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise OutboxWriteFailed(f"commit to {self.path} failed: {exc}") from exc
            finally:
                if full_sync:
                    self._db.execute("PRAGMA synchronous=NORMAL")
            self._next_seq = seq
            for _, row in stored:
                self._counts[row.lane] += 1
                self._added[row.lane] += 1
                self._last[row.lane] = row.seq
            self._bytes += added
            if dropped:
                self._dropped += dropped[0]
                self._counts[Lane.TELEMETRY] -= dropped[0]
                self._bytes -= dropped[1]
        return stored, refused

    def _make_room(self, added: int) -> tuple[int, int] | None:
        """Inside a transaction: delete the oldest telemetry until the new rows fit."""
        excess = self._bytes + added - self.max_bytes
        if excess <= 0:
            return None
        count = 0
        freed = 0
        cursor = self._db.execute(
            "SELECT seq, LENGTH(payload) FROM outbox WHERE lane=? ORDER BY seq",
            (int(Lane.TELEMETRY),),
        )
        victims: list[int] = []
        for seq, size in cursor:
            if freed >= excess:
                break
            victims.append(int(seq))
            freed += int(size) + ROW_OVERHEAD_BYTES
            count += 1
        cursor.close()
        if not victims:
            log.warning(
                "outbox %s is over its bound of %d bytes with alarms only; alarms are kept",
                self.path,
                self.max_bytes,
            )
            return None
        self._db.executemany("DELETE FROM outbox WHERE seq=?", ((s,) for s in victims))
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(self._dropped + count),),
        )
        log.warning(
            "outbox full (%d bytes): dropped the %d oldest telemetry readings",
            self.max_bytes,
            count,
        )
        return count, freed

    def shed(self, count: int) -> int:
        """Delete the ``count`` oldest telemetry rows (counted as dropped) to free space."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                gone = self._db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE lane=? "
                    "ORDER BY seq LIMIT ?) RETURNING LENGTH(payload)",
                    (int(Lane.TELEMETRY), count),
                ).fetchall()
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (str(self._dropped + len(gone)),),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise OutboxWriteFailed(f"shedding telemetry in {self.path} failed: {exc}") from exc
            self._dropped += len(gone)
            self._counts[Lane.TELEMETRY] -= len(gone)
            self._bytes -= sum(int(size) + ROW_OVERHEAD_BYTES for (size,) in gone)
        if gone:
            log.warning("outbox: shed the %d oldest telemetry readings to make room", len(gone))
        return len(gone)

    def last_seq(self, lane: Lane) -> int:
        """The highest seq ever committed to ``lane`` (0 if none), without a query.

        Read without the lock: the publisher polls it to skip queries when nothing is new; a
        value one commit old only delays it to its next poll."""
        return self._last[lane]

    def added(self, lane: Lane) -> int:
        """Rows committed to ``lane`` since this outbox was opened (never decreases); read
        without the lock, like :meth:`last_seq`."""
        return self._added[lane]

    def pending(self, lane: Lane, after: int, limit: int) -> list[Row]:
        """Up to ``limit`` rows of ``lane`` with seq above ``after``, oldest first."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT seq, device, payload, actions FROM outbox "
                    "WHERE lane=? AND seq>? ORDER BY seq LIMIT ?",
                    (int(lane), after, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(f"reading {self.path} failed: {exc}") from exc
        return [
            Row(int(s), lane, str(d), bytes(p), tuple(a.split(",")) if a else ())
            for s, d, p, a in rows
        ]

    def delete(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged rows; returns how many existed (dropped ones may not)."""
        keys = list(seqs)
        if not keys:
            return 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                gone: list[tuple[int, int]] = []
                for chunk in range(0, len(keys), 500):
                    part = keys[chunk : chunk + 500]
                    marks = ",".join("?" * len(part))
                    gone += self._db.execute(
                        f"DELETE FROM outbox WHERE seq IN ({marks}) "  # noqa: S608 - marks only
                        "RETURNING lane, LENGTH(payload)",
                        part,
                    ).fetchall()
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise OutboxError(f"deleting from {self.path} failed: {exc}") from exc
            for lane, size in gone:
                self._counts[Lane(lane)] -= 1
                self._bytes -= int(size) + ROW_OVERHEAD_BYTES
        return len(gone)

    def depth(self) -> OutboxDepth:
        with self._lock:
            return OutboxDepth(
                alarms=self._counts[Lane.ALARM],
                telemetry=self._counts[Lane.TELEMETRY],
                bytes=self._bytes,
                dropped=self._dropped,
            )
