"""The InfluxDB adapter: line protocol on ``/write``, InfluxQL on ``/query`` (the v1 HTTP API,
served by InfluxDB 1.x natively, 2.x through DBRP mappings and 3.x Core).

Writes never wait for InfluxDB. ``write`` commits the new readings to a local SQLite spool in
one transaction (that is the durable write the MQTT acks wait for), together with their ids in a
``seen`` table that drops replays; a flusher thread sends the spool to InfluxDB in order, in
batches, and deletes a batch only after InfluxDB accepted it. During an outage the spool grows and
the flusher retries with capped, jittered backoff. A batch resent after a crash overwrites the
same points (same series and timestamp), so nothing is duplicated.

Measurements: one per reading kind (``smoke``, ``door``, ``occupancy``, ``health``). Tags:
``site``, ``gateway``, ``device``, ``room`` (absent when unknown). Fields: ``id`` (string),
``unknown_device`` (boolean) and the reading's values (see docs/server.md).
"""

from __future__ import annotations

import logging
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
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from ingest_server._errors import StoreError, StoreUnavailable
from ingest_server._model import (
    OccupancyBucket,
    StoredReading,
    from_us,
    rebuild_reading,
    to_us,
)
from ingest_server.store._port import MAX_SERIES_LIMIT

__all__ = ["MEASUREMENTS", "InfluxStore"]

log = logging.getLogger(__name__)

MEASUREMENTS = ("smoke", "door", "occupancy", "health")
_TAGS = ("site", "gateway", "device", "room")
_META = frozenset({"time", "id", "unknown_device", *_TAGS})
_FROM = ",".join(f'"{m}"' for m in MEASUREMENTS)
# Retry quickly at first (a restart takes a second), then back off to at most 10 s so that a
# returning InfluxDB is noticed within seconds without hammering one that is down.
_BACKOFF_START_S = 0.5
_BACKOFF_CAP_S = 10.0
# Ids per "already seen?" lookup, far below SQLite's host parameter limit.
_LOOKUP_CHUNK = 900

_SPOOL_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, ts_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS seen_ts ON seen (ts_us);
CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY, line TEXT NOT NULL, reason TEXT NOT NULL
);
"""


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


def to_line(stored: StoredReading) -> str:
    """The line-protocol line of a stored reading (built by influxdb-client's ``Point``)."""
    point: Any = Point(stored.kind)  # type: ignore[no-untyped-call]
    for tag in _TAGS:
        value = getattr(stored, tag)
        if value:
            point = point.tag(tag, value)
    point = point.field("id", stored.id).field("unknown_device", stored.unknown_device)
    for name, value in stored.fields().items():
        point = point.field(name, value)
    return str(point.time(_ns(stored.ts), WritePrecision.NS).to_line_protocol())


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the spool commit is what MQTT acks wait for; it must survive power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


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
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.batch_size = batch_size
        self.seen_retention = seen_retention
        self._params: dict[str, str] = {"db": database}
        if retention_policy:
            self._params["rp"] = retention_policy
        if username is not None and password is not None:
            self._params |= {"u": username, "p": password}
        headers = {"Authorization": f"Token {token}"} if token else {}
        timeout = httpx.Timeout(timeout_s)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._flush_http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        spool_path.parent.mkdir(parents=True, exist_ok=True)
        self._spool_path = spool_path
        self._lock = threading.Lock()
        self._conn = _connect(spool_path)
        self._conn.executescript(_SPOOL_SCHEMA)
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
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def write(self, readings: Sequence[StoredReading]) -> list[StoredReading]:
        if not readings:
            return []
        try:
            with self._transaction() as conn:
                ids = [r.id for r in readings]
                seen: set[str] = set()
                for i in range(0, len(ids), _LOOKUP_CHUNK):
                    chunk = ids[i : i + _LOOKUP_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    seen.update(
                        row[0]
                        for row in conn.execute(f"SELECT id FROM seen WHERE id IN ({marks})", chunk)  # noqa: S608
                    )
                fresh: list[StoredReading] = []
                for stored in readings:
                    if stored.id not in seen:
                        seen.add(stored.id)
                        fresh.append(stored)
                conn.executemany(
                    "INSERT INTO seen (id, ts_us) VALUES (?, ?)",
                    [(s.id, to_us(s.ts)) for s in fresh],
                )
                conn.executemany(
                    "INSERT INTO spool (line) VALUES (?)", [(to_line(s),) for s in fresh]
                )
        except sqlite3.Error as exc:
            raise StoreError(f"InfluxDB spool write failed: {exc}") from exc
        if fresh:
            self._wake.set()
        return fresh

    def _post(self, lines: list[str]) -> None:
        try:
            resp = self._flush_http.post(
                "/write",
                params={**self._params, "precision": "ns"},
                content="\n".join(lines).encode(),
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if resp.status_code == 204:
            return
        if resp.status_code == 400:
            raise _Rejected(f"InfluxDB refused points: {resp.text[:300]}")
        raise StoreUnavailable(f"InfluxDB /write answered {resp.status_code}: {resp.text[:300]}")

    def _flush_loop(self) -> None:
        reader = _connect(self._spool_path)
        delay = _BACKOFF_START_S
        try:
            while not self._stop.is_set():
                try:
                    delay = self._flush_once(reader, delay)
                except sqlite3.Error as exc:
                    # A spool disk error: the points stay spooled; try again after a pause.
                    log.warning(
                        "InfluxDB spool flush failed, retrying in %.0f s: %s", _BACKOFF_CAP_S, exc
                    )
                    self._stop.wait(_BACKOFF_CAP_S)
        finally:
            reader.close()

    def _flush_once(self, reader: sqlite3.Connection, delay: float) -> float:
        """Send the oldest spooled batch; return the backoff delay to use next."""
        self._wake.clear()
        batch = reader.execute(
            "SELECT seq, line FROM spool ORDER BY seq LIMIT ?", (self.batch_size,)
        ).fetchall()
        if not batch:
            self._wake.wait(timeout=1.0)
            return delay
        last = batch[-1][0]
        try:
            self._post([line for _, line in batch])
        except _Rejected as exc:
            log.warning("moving %d points to the rejected table: %s", len(batch), exc)
            with self._transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO rejected (seq, line, reason)"
                    " SELECT seq, line, ? FROM spool WHERE seq <= ?",
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
                self._spool_depth(reader),
                wait,
                exc,
            )
            self._stop.wait(wait)
            return min(delay * 2, _BACKOFF_CAP_S)
        with self._transaction() as conn:
            conn.execute("DELETE FROM spool WHERE seq <= ?", (last,))
        if not self._reachable:
            log.warning("InfluxDB writes resumed after %d failed attempts", self._failures)
        self._reachable = True
        self._failures = 0
        self._flushed += len(batch)
        return _BACKOFF_START_S

    @staticmethod
    def _spool_depth(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM spool").fetchone()[0])

    def spool_depth(self) -> int:
        """Points committed locally but not yet accepted by InfluxDB."""
        with self._lock:
            return self._spool_depth(self._conn)

    def wait_flushed(self, timeout: float) -> bool:
        """Wait (monotonic) until the spool is empty; True if it emptied in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.spool_depth() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.spool_depth() == 0

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
            depth = self._spool_depth(self._conn)
            rejected = int(self._conn.execute("SELECT count(*) FROM rejected").fetchone()[0])
        return {
            "linli_influx_spool_points": float(depth),
            "linli_influx_rejected_points": float(rejected),
            "linli_influx_reachable": 1.0 if self._reachable else 0.0,
        }

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._flusher.join(timeout=30)
        self._http.close()
        self._flush_http.close()
        with self._lock:
            self._conn.close()
