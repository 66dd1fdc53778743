"""The embedded time-series store: one SQLite file in WAL mode.

Tables (schema versioned with ``PRAGMA user_version``):

- ``readings``: one row per reading, primary key = reading id (so replays are dropped), indexed
  by (device, ts) and (site, room, ts); ``fields`` holds the measured values as JSON.
- ``latest``: the newest reading per (device, kind), kept current on write.
- ``occupancy_1h``: hourly rollups of occupancy per (site, room), kept current on write and kept
  longer than raw readings, so long ranges stay cheap and survive raw retention.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ingest_server._errors import StoreError
from ingest_server._model import (
    OccupancyBucket,
    StoredReading,
    fields_json,
    from_us,
    rebuild_reading,
    to_us,
)
from ingest_server.store._port import MAX_SERIES_LIMIT

__all__ = ["SqliteStore"]

_HOUR_US = 3_600_000_000
# Ids (or device names) per IN list; SQLite allows 32,766 host parameters, stay well below.
_LOOKUP_CHUNK = 900

_MIGRATIONS: list[str] = [
    # 1: the initial schema
    """
    CREATE TABLE readings (
        id TEXT PRIMARY KEY,
        ts_us INTEGER NOT NULL,
        kind TEXT NOT NULL,
        device TEXT NOT NULL,
        site TEXT NOT NULL,
        gateway TEXT NOT NULL,
        room TEXT NOT NULL DEFAULT '',
        unknown_device INTEGER NOT NULL DEFAULT 0,
        count INTEGER,
        entries INTEGER,
        exits INTEGER,
        fields TEXT NOT NULL
    );
    CREATE INDEX readings_device_ts ON readings (device, ts_us);
    CREATE INDEX readings_room_ts ON readings (site, room, ts_us);
    CREATE INDEX readings_ts ON readings (ts_us);
    CREATE TABLE latest (
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        id TEXT NOT NULL,
        site TEXT NOT NULL,
        gateway TEXT NOT NULL,
        room TEXT NOT NULL DEFAULT '',
        unknown_device INTEGER NOT NULL DEFAULT 0,
        fields TEXT NOT NULL,
        PRIMARY KEY (device, kind)
    );
    CREATE INDEX latest_site ON latest (site);
    CREATE TABLE occupancy_1h (
        site TEXT NOT NULL,
        room TEXT NOT NULL,
        hour_us INTEGER NOT NULL,
        max_count INTEGER,
        sum_count INTEGER NOT NULL DEFAULT 0,
        n_count INTEGER NOT NULL DEFAULT 0,
        entries INTEGER NOT NULL DEFAULT 0,
        exits INTEGER NOT NULL DEFAULT 0,
        n_counter INTEGER NOT NULL DEFAULT 0,
        samples INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (site, room, hour_us)
    );
    CREATE INDEX occupancy_1h_hour ON occupancy_1h (hour_us);
    """,
]

_COLUMNS = "id, ts_us, kind, device, site, gateway, room, unknown_device, fields"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss, which acking MQTT messages after it requires.
    conn.execute("PRAGMA synchronous=FULL")
    # Readers and the writer share the file; wait rather than fail on a busy lock.
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _row_to_reading(row: Sequence[Any]) -> StoredReading:
    reading_id, ts_us, kind, device, site, gateway, room, unknown, fields = row
    reading = rebuild_reading(kind, reading_id, device, from_us(ts_us), json.loads(fields))
    return StoredReading(reading, site, gateway, room or None, bool(unknown))


class SqliteStore:
    """The SQLite adapter of :class:`~ingest_server.store.TimeSeriesStore`."""

    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        retention: timedelta = timedelta(days=90),
        rollup_retention: timedelta = timedelta(days=730),
    ) -> None:
        self.path = path
        self.retention = retention
        self.rollup_retention = rollup_retention
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = _connect(path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._migrate()

    # -- schema --------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._write_lock:
            version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                # executescript commits first; the version bump is in the same script.
                self._writer.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
                )

    # -- connections ---------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("the SQLite store is closed")
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            if self._closed:
                raise StoreError("the SQLite store is closed")
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            return fn(self._reader())
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store query failed: {exc}") from exc

    # -- writes --------------------------------------------------------------------------

    def write(self, readings: Sequence[StoredReading]) -> list[StoredReading]:
        if not readings:
            return []
        try:
            with self._transaction() as conn:
                fresh = self._insert_all(conn, readings)
                if fresh is None:
                    existing = self._existing(conn, [s.reading.id for s in readings])
                    fresh = []
                    for stored in readings:
                        reading_id = stored.reading.id
                        if reading_id not in existing:
                            existing.add(reading_id)
                            fresh.append(stored)
                    self._insert(conn, fresh)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store write failed: {exc}") from exc
        return fresh

    @classmethod
    def _insert_all(
        cls, conn: sqlite3.Connection, readings: Sequence[StoredReading]
    ) -> list[StoredReading] | None:
        """Insert every reading, or nothing and return None if any id is already stored (or is
        twice in ``readings``). Replays are rare: looking every id up first cost more than the
        occasional batch inserted twice."""
        conn.execute("SAVEPOINT insert_all")
        try:
            cls._insert(conn, readings)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO insert_all")
            conn.execute("RELEASE insert_all")
            return None
        conn.execute("RELEASE insert_all")
        return list(readings)

    @staticmethod
    def _existing(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[i : i + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in conn.execute(f"SELECT id FROM readings WHERE id IN ({marks})", chunk)  # noqa: S608
            )
        return found

    @staticmethod
    def _insert(conn: sqlite3.Connection, fresh: Sequence[StoredReading]) -> None:
        rows = []
        # The newest of each (device, kind) and one rollup row per (site, room, hour): a batch of
        # thousands of readings from a few dozen devices costs a few dozen upserts.
        latest: dict[tuple[str, str], tuple[Any, ...]] = {}
        rollup: dict[tuple[str, str, int], list[Any]] = {}
        for s in fresh:
            reading = s.reading
            values = reading.__dict__
            reading_id = values["id"]
            device = values["device"]
            kind = values["kind"]
            encoded = fields_json(reading)
            ts_us = to_us(values["ts"])
            room = s.room or ""
            site = s.site
            if kind == "occupancy":
                count, entries, exits = values["count"], values["entries"], values["exits"]
            else:
                count = entries = exits = None
            unknown = 1 if s.unknown_device else 0
            rows.append(
                (
                    reading_id,
                    ts_us,
                    kind,
                    device,
                    site,
                    s.gateway,
                    room,
                    unknown,
                    count,
                    entries,
                    exits,
                    encoded,
                )
            )
            key = (device, kind)
            current = latest.get(key)
            if current is None or (ts_us, reading_id) > (current[2], current[3]):
                latest[key] = (
                    device,
                    kind,
                    ts_us,
                    reading_id,
                    site,
                    s.gateway,
                    room,
                    unknown,
                    encoded,
                )
            if kind == "occupancy":
                hour = (site, room, ts_us - ts_us % _HOUR_US)
                agg = rollup.get(hour)
                if agg is None:
                    agg = rollup[hour] = [None, 0, 0, 0, 0, 0, 0]
                if count is not None:
                    agg[0] = count if agg[0] is None else max(agg[0], count)
                    agg[1] += count
                    agg[2] += 1
                if entries is not None:
                    agg[3] += entries
                    agg[4] += exits or 0
                    agg[5] += 1
                agg[6] += 1
        conn.executemany(
            "INSERT INTO readings (id, ts_us, kind, device, site, gateway, room, unknown_device,"
            " count, entries, exits, fields) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO latest (device, kind, ts_us, id, site, gateway, room, unknown_device,"
            " fields) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (device, kind) DO UPDATE SET"
            " ts_us=excluded.ts_us, id=excluded.id, site=excluded.site, gateway=excluded.gateway,"
            " room=excluded.room, unknown_device=excluded.unknown_device, fields=excluded.fields"
            " WHERE excluded.ts_us > latest.ts_us"
            " OR (excluded.ts_us = latest.ts_us AND excluded.id > latest.id)",
            list(latest.values()),
        )
        conn.executemany(
            "INSERT INTO occupancy_1h (site, room, hour_us, max_count, sum_count, n_count,"
            " entries, exits, n_counter, samples) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (site, room, hour_us) DO UPDATE SET"
            " max_count = CASE WHEN excluded.max_count IS NULL THEN max_count"
            "   WHEN max_count IS NULL THEN excluded.max_count"
            "   ELSE max(max_count, excluded.max_count) END,"
            " sum_count = sum_count + excluded.sum_count, n_count = n_count + excluded.n_count,"
            " entries = entries + excluded.entries, exits = exits + excluded.exits,"
            " n_counter = n_counter + excluded.n_counter, samples = samples + excluded.samples",
            [(*key, *agg) for key, agg in rollup.items()],
        )

    def prune(self, now: datetime) -> int:
        raw_cut = to_us(now - self.retention)
        rollup_cut = to_us(now - self.rollup_retention)
        try:
            with self._transaction() as conn:
                removed = conn.execute("DELETE FROM readings WHERE ts_us < ?", (raw_cut,)).rowcount
                conn.execute("DELETE FROM occupancy_1h WHERE hour_us < ?", (rollup_cut,))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store pruning failed: {exc}") from exc
        return int(removed)

    # -- queries -------------------------------------------------------------------------

    def series(
        self,
        device: str,
        start: datetime,
        end: datetime,
        *,
        kind: str | None = None,
        limit: int = 1000,
    ) -> list[StoredReading]:
        limit = max(1, min(limit, MAX_SERIES_LIMIT))
        sql = f"SELECT {_COLUMNS} FROM readings WHERE device = ? AND ts_us >= ? AND ts_us < ?"  # noqa: S608
        params: list[Any] = [device, to_us(start), to_us(end)]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY ts_us, id LIMIT ?"
        params.append(limit)
        rows = self._read(lambda c: c.execute(sql, params).fetchall())
        return [_row_to_reading(r) for r in rows]

    def occupancy(
        self, site: str, room: str, start: datetime, end: datetime, step: timedelta
    ) -> list[OccupancyBucket]:
        step_us = to_us(from_us(0) + step)
        if step_us <= 0:
            raise StoreError("step must be positive")
        lo, hi = to_us(start), to_us(end)
        use_rollup = step_us % _HOUR_US == 0 and lo % _HOUR_US == 0 and hi % _HOUR_US == 0
        if use_rollup:
            sql = (
                "SELECT hour_us / :step * :step AS b, max(max_count), sum(sum_count),"
                " sum(n_count), sum(entries), sum(exits), sum(n_counter), sum(samples)"
                " FROM occupancy_1h WHERE site = :site AND room = :room"
                " AND hour_us >= :lo AND hour_us < :hi GROUP BY b ORDER BY b"
            )
        else:
            sql = (
                "SELECT ts_us / :step * :step AS b, max(count), sum(count), count(count),"
                " sum(entries), sum(exits), count(entries), count(*)"
                " FROM readings WHERE site = :site AND room = :room AND kind = 'occupancy'"
                " AND ts_us >= :lo AND ts_us < :hi GROUP BY b ORDER BY b"
            )
        params = {"step": step_us, "site": site, "room": room, "lo": lo, "hi": hi}
        rows = self._read(lambda c: c.execute(sql, params).fetchall())
        out = []
        for b, max_count, sum_count, n_count, entries, exits, n_counter, samples in rows:
            out.append(
                OccupancyBucket(
                    start=from_us(b),
                    max_count=max_count,
                    mean_count=sum_count / n_count if n_count else None,
                    entries=entries if n_counter else None,
                    exits=exits if n_counter else None,
                    samples=samples,
                )
            )
        return out

    # -- column reads (for callers that aggregate many rows and need no reading objects) --

    def occupancy_columns(
        self, site: str, room: str, start: datetime, end: datetime, step: timedelta
    ) -> list[tuple[int, int | None, int, int | None, int | None, int]]:
        """Occupancy buckets of raw readings as plain rows: (bucket start µs, sum of counts,
        number of counts, entries, exits, number of counter readings), in time order.

        What :meth:`occupancy` computes without a bucket object and a datetime per bucket: for
        a 30-day report those cost as much as the query.
        """
        step_us = to_us(from_us(0) + step)
        if step_us <= 0:
            raise StoreError("step must be positive")
        sql = (
            "SELECT ts_us / :step * :step AS b, sum(count), count(count), sum(entries),"
            " sum(exits), count(entries) FROM readings WHERE site = :site AND room = :room"
            " AND kind = 'occupancy' AND ts_us >= :lo AND ts_us < :hi GROUP BY b ORDER BY b"
        )
        params = {"step": step_us, "site": site, "room": room, "lo": to_us(start), "hi": to_us(end)}
        rows: list[tuple[int, int | None, int, int | None, int | None, int]]
        rows = self._read(lambda c: c.execute(sql, params).fetchall())
        return rows

    def counter_columns(
        self, devices: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, str, int, int, int | None]]:
        """Door-counter readings of ``devices`` in ``[start, end)`` as plain rows: (device, id,
        ts µs, entries, exits), in no particular order."""
        lo, hi = to_us(start), to_us(end)
        out: list[tuple[str, str, int, int, int | None]] = []
        names = list(devices)
        for i in range(0, len(names), _LOOKUP_CHUNK):
            chunk = names[i : i + _LOOKUP_CHUNK]
            sql = (
                "SELECT device, id, ts_us, entries, exits FROM readings"  # noqa: S608
                f" WHERE device IN ({','.join('?' * len(chunk))}) AND kind = 'occupancy'"
                " AND ts_us >= ? AND ts_us < ? AND entries IS NOT NULL"
            )
            params = (*chunk, lo, hi)

            def fetch(conn: sqlite3.Connection, q: str = sql, p: tuple[Any, ...] = params) -> Any:
                return conn.execute(q, p).fetchall()

            out.extend(self._read(fetch))
        return out

    def latest(self, *, site: str | None = None, device: str | None = None) -> list[StoredReading]:
        sql = f"SELECT {_COLUMNS} FROM latest WHERE 1=1"  # noqa: S608
        params: list[Any] = []
        if site is not None:
            sql += " AND site = ?"
            params.append(site)
        if device is not None:
            sql += " AND device = ?"
            params.append(device)
        sql += " ORDER BY device, kind"
        rows = self._read(lambda c: c.execute(sql, params).fetchall())
        return [_row_to_reading(r) for r in rows]

    def count(self) -> int:
        return int(self._read(lambda c: c.execute("SELECT count(*) FROM readings").fetchone()[0]))

    def ping(self) -> bool:
        try:
            self._read(lambda c: c.execute("SELECT 1").fetchone())
        except StoreError:
            return False
        return True

    def gauges(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        with self._write_lock:
            self._closed = True
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
