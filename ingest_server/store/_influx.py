"""The InfluxDB adapter: line protocol on ``/write``, InfluxQL on ``/query`` (the v1 HTTP API,
served by InfluxDB 1.x natively, 2.x through DBRP mappings and 3.x Core).

Writes never wait for InfluxDB. ``write`` commits the new readings to a local SQLite spool in
one transaction (that is the durable write the MQTT acks wait for), together with their ids in a
``seen`` table that drops replays; a flusher thread sends the spool to InfluxDB in order, in
batches, and deletes a batch only after InfluxDB accepted it. During an outage the spool grows and
the flusher retries with capped, jittered backoff. A batch resent after a crash overwrites the
same points (same series and timestamp), so nothing is duplicated.

The spool holds line protocol ready to send: one row per ``write`` call (its lines joined by
newlines, ``n`` = how many), so a flush is a read, a join and one POST, and a delete by range.
Deletes need no fsync of their own: a delete lost to a power cut only makes the flusher resend
points InfluxDB already has, which overwrite themselves.

Measurements: one per reading kind (``smoke``, ``door``, ``occupancy``, ``health``). Tags:
``site``, ``gateway``, ``device``, ``room`` (absent when unknown). Fields: ``id`` (string),
``unknown_device`` (boolean) and the reading's values (see docs/server.md).

Errors::

    StoreError (ingest_server._errors)
    ├── StoreUnavailable   InfluxDB unreachable or answering 5xx: retried, points stay spooled
    └── _Rejected          InfluxDB refused the points (400): moved to the ``rejected`` table
"""

from __future__ import annotations

import enum
import json
import logging
import math
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from ingest_server._errors import StoreError, StoreUnavailable
from ingest_server._model import (
    OccupancyBucket,
    StoredReading,
    from_us,
    rebuild_reading,
    to_us,
)
from ingest_server.store._port import MAX_SERIES_LIMIT

__all__ = ["MEASUREMENTS", "InfluxStore", "to_line"]

log = logging.getLogger(__name__)

MEASUREMENTS = ("smoke", "door", "occupancy", "health")
_TAGS = ("site", "gateway", "device", "room")
_META = frozenset({"time", "id", "unknown_device", *_TAGS})
_FROM = ",".join(f'"{m}"' for m in MEASUREMENTS)
# Retry quickly at first (a restart takes a second), then back off to at most 10 s so that a
# returning InfluxDB is noticed within seconds without hammering one that is down.
_BACKOFF_START_S = 0.5
_BACKOFF_CAP_S = 10.0
# A batch's ids go to SQLite as one JSON array (json_each): one statement, any batch size.
_SEEN_LOOKUP = "SELECT id FROM seen WHERE id IN (SELECT value FROM json_each(?))"
_SEEN_INSERT = (
    "INSERT INTO seen (id, ts_us)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)"
)
# A flush smaller than a full batch waits this long for more points: at a few thousand
# readings/s that turns ~100-line POSTs (one per consumer batch) into ~1,000-line ones, at the
# cost of points showing up in InfluxDB this much later (the spool already made them durable).
_LINGER_S = 0.25
# At close, how long to keep sending what is spooled to a reachable InfluxDB.
_CLOSE_FLUSH_S = 5.0
# Cached series keys (measurement + tags) before the cache starts over: a few hundred bytes each,
# far more than the devices of a large deployment.
_SERIES_CACHE_MAX = 50_000
# Spool rows read per fetch while assembling a batch.
_FETCH_ROWS = 64

# seen: WITHOUT ROWID, so a reading id costs one B-tree insert, not a row plus an index entry.
_SPOOL_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, ts_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_ts ON seen (ts_us);
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY, line TEXT NOT NULL, reason TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 1
);
"""

# The line-protocol escapes of InfluxDB (and of influxdb-client's Point, whose output this
# module reproduces byte for byte).
_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_KEY = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_ESCAPE_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})
_READING_KEYS = frozenset({"id", "device", "ts", "kind"})


class _Rejected(StoreError):
    """InfluxDB refused the points themselves (HTTP 400): retrying cannot help."""


def _quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    """An InfluxQL quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ns(when: datetime) -> int:
    return to_us(when) * 1000


def _duration(step: timedelta) -> str:
    us = to_us(from_us(0) + step)
    if us <= 0:
        raise StoreError("step must be positive")
    return f"{us // 1_000_000}s" if us % 1_000_000 == 0 else f"{us}u"


def _tag_value(value: str) -> str:
    escaped = value.translate(_ESCAPE_KEY)
    return escaped + " " if escaped.endswith("\\") else escaped


def _field(key: str, value: object) -> str | None:
    """``key=value`` in line protocol (``key`` already escaped); None for a value not written."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{key}={value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = str(value)
        return f"{key}={text[:-2] if text.endswith('.0') else text}"
    if isinstance(value, str):
        return f'{key}="{value.translate(_ESCAPE_STRING)}"'
    if value is None:
        return None
    raise StoreError(f"field {key!r}: a {type(value).__name__} cannot be written to InfluxDB")


class _LineFormatter:
    """Stored readings → line protocol. The series key (measurement and tags) is cached per
    (kind, tags), and the field names of each reading class are escaped and sorted once."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, str, str | None], str] = {}
        self._layouts: dict[type, tuple[tuple[str, str], ...]] = {}
        self._enums: dict[tuple[str, enum.Enum], str] = {}

    def _series_key(self, kind: str, site: str, gateway: str, device: str, room: str | None) -> str:
        tags = [
            f"{key}={_tag_value(value)}"
            for key, value in (
                ("device", device),
                ("gateway", gateway),
                ("room", room),
                ("site", site),
            )
            if value
        ]
        head = kind.translate(_ESCAPE_MEASUREMENT)
        return f"{head},{','.join(tags)} " if tags else f"{head} "

    def _layout(self, cls: type) -> tuple[tuple[str, str], ...]:
        model_fields: dict[str, Any] = getattr(cls, "model_fields", {})
        names = [n for n in model_fields if n not in _READING_KEYS]
        names += ["id", "unknown_device"]
        layout = tuple((name, name.translate(_ESCAPE_KEY)) for name in sorted(names))
        self._layouts[cls] = layout
        return layout

    def line(self, stored: StoredReading, ts_us: int | None = None) -> str:
        """The line of ``stored``; ``ts_us`` is its timestamp in µs when the caller has it."""
        reading = stored.reading
        cache_key = (reading.kind, stored.site, stored.gateway, reading.device, stored.room)
        head = self._series.get(cache_key)
        if head is None:
            if len(self._series) >= _SERIES_CACHE_MAX:
                self._series.clear()
            head = self._series[cache_key] = self._series_key(*cache_key)
        layout = self._layouts.get(type(reading)) or self._layout(type(reading))
        fields = []
        for name, key in layout:
            value: Any = (
                stored.unknown_device if name == "unknown_device" else getattr(reading, name)
            )
            # The common types first, by exact type (bool is not int here; enums go on).
            kind = type(value)
            if kind is int:
                fields.append(f"{key}={value}i")
            elif kind is str:
                fields.append(f'{key}="{value.translate(_ESCAPE_STRING)}"')
            elif kind is bool:
                fields.append(f"{key}=true" if value else f"{key}=false")
            elif value is not None:
                # Enum members (a reading's state, source...) are few: formatted once each.
                cached = self._enums.get((key, value)) if isinstance(value, enum.Enum) else None
                text = cached or _field(key, value)
                if text is not None:
                    fields.append(text)
                    if cached is None and isinstance(value, enum.Enum):
                        self._enums[(key, value)] = text
        if ts_us is None:
            ts_us = to_us(reading.ts)
        return f"{head}{','.join(fields)} {ts_us * 1000}"


def to_line(stored: StoredReading) -> str:
    """The line-protocol line of a stored reading."""
    return _LineFormatter().line(stored)


def _connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL for the writer: the spool commit is what MQTT acks wait for; it must survive power
    # loss. The flusher only deletes what InfluxDB already holds: NORMAL (see the docstring).
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """A spool written before rows held several lines: every old row is one line (n = 1)."""
    for table in ("spool", "rejected"):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if "n" not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN n INTEGER NOT NULL DEFAULT 1")


class InfluxStore:
    """The InfluxDB adapter of :class:`~ingest_server.store.TimeSeriesStore`."""

    name = "influxdb"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        spool_path: Path,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        batch_size: int = 5000,
        timeout_s: float = 10.0,
        seen_retention: timedelta = timedelta(days=90),
        linger_s: float = _LINGER_S,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.batch_size = batch_size
        self.seen_retention = seen_retention
        self.linger_s = linger_s
        self._params: dict[str, str] = {"db": database}
        if retention_policy:
            self._params["rp"] = retention_policy
        if username is not None and password is not None:
            self._params |= {"u": username, "p": password}
        self._write_params = {**self._params, "precision": "ns"}
        headers = {"Authorization": f"Token {token}"} if token else {}
        timeout = httpx.Timeout(timeout_s)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._flush_http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        spool_path.parent.mkdir(parents=True, exist_ok=True)
        self._spool_path = spool_path
        self._format = _LineFormatter()
        # Held around every spool transaction (both connections) and the point counters.
        self._lock = threading.Lock()
        self._conn = _connect(spool_path)
        self._conn.executescript(_SPOOL_SCHEMA)
        _migrate(self._conn)
        self._pending = self._count_spooled(self._conn)
        self._urgent = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reachable = True
        self._flushed = 0
        self._failures = 0
        self._flusher = threading.Thread(
            target=self._flush_loop, name="influx-flusher", daemon=True
        )
        self._flusher.start()

    # -- writes --------------------------------------------------------------------------

    @contextmanager
    def _transaction(
        self, conn: sqlite3.Connection | None = None, *, spooled: int = 0
    ) -> Iterator[sqlite3.Connection]:
        """A write transaction on ``conn`` (the writer's by default); once committed, the count
        of spooled points changes by ``spooled``, under the same lock."""
        conn = conn or self._conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._pending += spooled

    def write(self, readings: Sequence[StoredReading]) -> list[StoredReading]:
        if not readings:
            return []
        fresh: list[StoredReading] = []
        conn = self._conn
        try:
            with self._lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # One statement per step, whatever the batch size: each statement releases
                    # and retakes the GIL, and under load the MQTT network thread holds it for
                    # up to a switch interval each time (executemany steps once per row).
                    ids = json.dumps([r.id for r in readings])
                    seen = {row[0] for row in conn.execute(_SEEN_LOOKUP, (ids,))}
                    for stored in readings:
                        if stored.id not in seen:
                            seen.add(stored.id)
                            fresh.append(stored)
                    if fresh:
                        times = [to_us(s.reading.ts) for s in fresh]
                        marks = json.dumps([[s.id, t] for s, t in zip(fresh, times, strict=True)])
                        conn.execute(_SEEN_INSERT, (marks,))
                        line = self._format.line
                        text = "\n".join([line(s, t) for s, t in zip(fresh, times, strict=True)])
                        conn.execute(
                            "INSERT INTO spool (line, n) VALUES (?, ?)", (text, len(fresh))
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                # Counted under the same lock as the commit, so the flusher never sees the rows
                # without the count.
                before = self._pending
                self._pending += len(fresh)
        except sqlite3.Error as exc:
            raise StoreError(f"InfluxDB spool write failed: {exc}") from exc
        if fresh and (before == 0 or before + len(fresh) >= self.batch_size):
            self._wake.set()
        return fresh

    def _post(self, body: bytes) -> None:
        try:
            resp = self._flush_http.post("/write", params=self._write_params, content=body)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if resp.status_code == 204:
            return
        if resp.status_code == 400:
            raise _Rejected(f"InfluxDB refused points: {resp.text[:300]}")
        raise StoreUnavailable(f"InfluxDB /write answered {resp.status_code}: {resp.text[:300]}")

    def _flush_loop(self) -> None:
        reader = _connect(self._spool_path, synchronous="NORMAL")
        delay = _BACKOFF_START_S
        lingering_since: list[float] = []
        try:
            while not self._stop.is_set():
                try:
                    delay = self._flush_once(reader, delay, lingering_since)
                except sqlite3.Error as exc:
                    # A spool disk error: the points stay spooled; try again after a pause.
                    log.warning(
                        "InfluxDB spool flush failed, retrying in %.0f s: %s", _BACKOFF_CAP_S, exc
                    )
                    self._stop.wait(_BACKOFF_CAP_S)
        finally:
            reader.close()

    def _due(self, lingering_since: list[float]) -> bool:
        """Whether to send now: a full batch, someone waiting, or the linger is over. Otherwise
        wait (for a write that fills a batch, at most until the linger ends)."""
        self._wake.clear()
        with self._lock:
            pending, urgent = self._pending, self._urgent
        if pending <= 0:
            lingering_since.clear()
            self._wake.wait(timeout=1.0)
            return False
        if pending >= self.batch_size or urgent:
            return True
        now = time.monotonic()
        if not lingering_since:
            lingering_since.append(now)
        left = self.linger_s - (now - lingering_since[0])
        if left <= 0:
            return True
        self._wake.wait(timeout=left)
        return False

    def _flush_once(
        self, reader: sqlite3.Connection, delay: float, lingering_since: list[float]
    ) -> float:
        """Send the oldest spooled batch when it is due; return the backoff delay to use next."""
        if not self._due(lingering_since):
            return delay
        lingering_since.clear()
        texts: list[str] = []
        points = 0
        last: int | None = None
        cursor = reader.execute("SELECT seq, n, line FROM spool ORDER BY seq")
        try:
            while points < self.batch_size:
                rows = cursor.fetchmany(_FETCH_ROWS)
                if not rows:
                    break
                for seq, n, text in rows:
                    texts.append(text)
                    points += n
                    last = seq
                    if points >= self.batch_size:
                        break
        finally:
            # Ends the read transaction, so checkpoints are not held back by it.
            cursor.close()
        if last is None:
            with self._lock:
                self._pending = self._count_spooled(reader)
            return delay
        try:
            self._post("\n".join(texts).encode())
        except _Rejected as exc:
            log.warning("moving %d points to the rejected table: %s", points, exc)
            with self._transaction(reader, spooled=-points) as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO rejected (seq, line, reason, n)"
                    " SELECT seq, line, ?, n FROM spool WHERE seq <= ?",
                    (str(exc)[:500], last),
                )
                conn.execute("DELETE FROM spool WHERE seq <= ?", (last,))
            return delay
        except StoreUnavailable as exc:
            self._reachable = False
            self._failures += 1
            wait = delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
            log.warning(
                "InfluxDB write failed (attempt %d, %d points waiting); retrying in %.1f s: %s",
                self._failures,
                self.spool_depth(),
                wait,
                exc,
            )
            self._stop.wait(wait)
            return min(delay * 2, _BACKOFF_CAP_S)
        with self._transaction(reader, spooled=-points) as conn:
            conn.execute("DELETE FROM spool WHERE seq <= ?", (last,))
        if not self._reachable:
            log.warning("InfluxDB writes resumed after %d failed attempts", self._failures)
        self._reachable = True
        self._failures = 0
        self._flushed += points
        return _BACKOFF_START_S

    @staticmethod
    def _count_spooled(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT coalesce(sum(n), 0) FROM spool").fetchone()[0])

    def spool_depth(self) -> int:
        """Points committed locally but not yet accepted by InfluxDB."""
        with self._lock:
            return self._pending

    def wait_flushed(self, timeout: float) -> bool:
        """Wait (monotonic) until the spool is empty, sending without lingering meanwhile; True
        if it emptied in time."""
        with self._lock:
            self._urgent += 1
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.spool_depth() == 0:
                    return True
                self._wake.set()
                time.sleep(0.05)
            return self.spool_depth() == 0
        finally:
            with self._lock:
                self._urgent -= 1

    def prune(self, now: datetime) -> int:
        # InfluxDB applies its own retention policy; only the replay filter is trimmed here.
        try:
            with self._transaction() as conn:
                conn.execute(
                    "DELETE FROM seen WHERE ts_us < ?", (to_us(now - self.seen_retention),)
                )
        except sqlite3.Error as exc:
            raise StoreError(f"InfluxDB spool pruning failed: {exc}") from exc
        return 0

    # -- queries -------------------------------------------------------------------------

    def create_database(self) -> None:
        """``CREATE DATABASE`` (InfluxDB 1.x; 2.x and 3.x create buckets/databases otherwise)."""
        try:
            resp = self._http.post(
                "/query", params={**self._params, "q": f"CREATE DATABASE {_ident(self.database)}"}
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if resp.status_code != 200 or "error" in resp.text:
            raise StoreError(f"CREATE DATABASE failed ({resp.status_code}): {resp.text[:300]}")

    def _query(self, q: str) -> list[dict[str, Any]]:
        try:
            resp = self._http.get("/query", params={**self._params, "q": q, "epoch": "u"})
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if resp.status_code >= 500:
            raise StoreUnavailable(f"InfluxDB /query answered {resp.status_code}")
        try:
            body = resp.json()
        except ValueError as exc:
            raise StoreError(f"InfluxDB /query answered {resp.status_code}, not JSON") from exc
        if resp.status_code != 200 or "error" in body:
            raise StoreError(f"InfluxDB /query failed: {body.get('error', resp.status_code)}")
        series: list[dict[str, Any]] = []
        for result in body.get("results", []):
            if "error" in result:
                if "database not found" in str(result["error"]):
                    return []
                raise StoreError(f"InfluxQL error: {result['error']}")
            series.extend(result.get("series", []))
        return series

    @staticmethod
    def _rows(series: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        for s in series:
            columns = s["columns"]
            tags = s.get("tags") or {}
            for values in s["values"]:
                yield s["name"], {**tags, **dict(zip(columns, values, strict=True))}

    @staticmethod
    def _stored(kind: str, row: dict[str, Any]) -> StoredReading:
        fields = {k: v for k, v in row.items() if k not in _META and v is not None}
        reading = rebuild_reading(kind, row["id"], row["device"], from_us(row["time"]), fields)
        return StoredReading(
            reading,
            site=row.get("site") or "",
            gateway=row.get("gateway") or "",
            room=row.get("room") or None,
            unknown_device=bool(row.get("unknown_device")),
        )

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
        source = f'"{kind}"' if kind in MEASUREMENTS else _FROM
        if kind is not None and kind not in MEASUREMENTS:
            return []
        q = (
            f'SELECT * FROM {source} WHERE "device" = {_quote(device)}'  # noqa: S608
            f" AND time >= {_ns(start)} AND time < {_ns(end)} ORDER BY time ASC LIMIT {limit}"
        )
        out = [self._stored(name, row) for name, row in self._rows(self._query(q))]
        out.sort(key=lambda s: (to_us(s.ts), s.id))
        return out[:limit]

    def occupancy(
        self, site: str, room: str, start: datetime, end: datetime, step: timedelta
    ) -> list[OccupancyBucket]:
        q = (
            'SELECT max("count") AS max_count, mean("count") AS mean_count,'  # noqa: S608
            ' sum("entries") AS entries, sum("exits") AS exits, count("id") AS samples'
            f' FROM "occupancy" WHERE "site" = {_quote(site)} AND "room" = {_quote(room)}'
            f" AND time >= {_ns(start)} AND time < {_ns(end)}"
            f" GROUP BY time({_duration(step)}) fill(none)"
        )
        out = []
        for _, row in self._rows(self._query(q)):
            if not row.get("samples"):
                continue
            out.append(
                OccupancyBucket(
                    start=from_us(row["time"]),
                    max_count=row["max_count"],
                    mean_count=row["mean_count"],
                    entries=row["entries"],
                    exits=row["exits"],
                    samples=row["samples"],
                )
            )
        return out

    def latest(self, *, site: str | None = None, device: str | None = None) -> list[StoredReading]:
        where = []
        if site is not None:
            where.append(f'"site" = {_quote(site)}')
        if device is not None:
            where.append(f'"device" = {_quote(device)}')
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        q = f'SELECT * FROM {_FROM}{clause} GROUP BY "device" ORDER BY time DESC LIMIT 1'  # noqa: S608
        out = [self._stored(name, row) for name, row in self._rows(self._query(q))]
        out.sort(key=lambda s: (s.device, s.kind))
        return out

    def count(self) -> int:
        total = 0
        for _, row in self._rows(self._query(f'SELECT count("id") FROM {_FROM}')):  # noqa: S608
            total += int(row.get("count") or 0)
        return total

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def gauges(self) -> dict[str, float]:
        with self._lock:
            depth = self._pending
            rejected = int(
                self._conn.execute("SELECT coalesce(sum(n), 0) FROM rejected").fetchone()[0]
            )
        return {
            "linli_influx_spool_points": float(depth),
            "linli_influx_rejected_points": float(rejected),
            "linli_influx_reachable": 1.0 if self._reachable else 0.0,
        }

    def close(self) -> None:
        # What is lingering goes now if InfluxDB answers; otherwise it stays spooled for the
        # next start (the spool is durable), and shutdown is not held up.
        if self._reachable and self.spool_depth():
            self.wait_flushed(_CLOSE_FLUSH_S)
        self._stop.set()
        self._wake.set()
        self._flusher.join(timeout=30)
        self._http.close()
        self._flush_http.close()
        with self._lock:
            self._conn.close()
