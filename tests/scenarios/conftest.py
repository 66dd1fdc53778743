"""A harness that plays a built-in scenario through the whole system: a seeded fleet of the demo
centre, published by MqttSink to a real Mosquitto, consumed by the real server app, on one
ManualClock shared by both and stepped by ``FleetRunner.run_stepped``.

Each test gets the first demo centre renamed to its own site id (so retained gateway statuses on
the session broker never reach another test's server) and a server subscribed to that site only.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from firmware_sims import (
    DEFAULT_MAX_STEP,
    Fleet,
    FleetRunner,
    MqttOptions,
    MqttSink,
    Scenario,
    demo_registry_text,
)
from firmware_sims.events import Event, Heartbeat, Online, Publish
from ingest_server import ServerSettings, StoredReading, StoredStatus, create_app
from protocol import ManualClock
from rules.facility import parse_registry
from tests.access import access_settings, sign_in_with_key
from tests.services import Mosquitto

DEMO_SITE = "hz-wenxin"
# Every scenario test runs on 10-second steps: the fleet's own grid (max_step), fine enough for
# the 60 s door and 120 s capacity timers, coarse enough to keep a 25-minute drill to 150 steps.
STEP = timedelta(seconds=10)
# How long the server may take to consume one step's messages on a loaded 2-core machine.
CATCH_UP_S = 20.0


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds, or fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def api(client: TestClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Every HTTP request the scenario tests send to the server goes through here, so signing in
    (a bearer token once the API requires it) is added in this one place."""
    return client.request(method, path, **kwargs)


def site_registry_text(site: str, rooms: Collection[str] | None = None) -> str:
    """The first demo centre, with its site and gateway ids renamed after ``site``; with
    ``rooms``, only those rooms and their devices (gateways left without devices dropped)."""
    data = yaml.safe_load(demo_registry_text())
    [first] = [s for s in data["sites"] if s["id"] == DEMO_SITE]
    if rooms is not None:
        first["rooms"] = [r for r in first["rooms"] if r["id"] in rooms]
        for gateway in first["gateways"]:
            gateway["devices"] = [d for d in gateway["devices"] if d.get("room") in rooms]
        first["gateways"] = [g for g in first["gateways"] if g["devices"]]
    text = yaml.safe_dump({"sites": [first]}, allow_unicode=True, sort_keys=False)
    return re.sub(rf"\b{DEMO_SITE}\b", site, text)


class CountingSink(MqttSink):
    """MqttSink that also counts the gateway status messages it publishes, so a test can wait
    for messages the server cannot turn into readings (dead letters)."""

    def __init__(self, options: MqttOptions) -> None:
        super().__init__(options)
        self.statuses = 0
        self.ids: dict[str, list[str]] = {}  # reading ids handed to MQTT, by gateway
        self.all_ids: set[str] = set()

    def handle(self, events: Sequence[Event]) -> None:
        self.statuses += sum(isinstance(e, Online | Heartbeat) for e in events)
        for e in events:
            if isinstance(e, Publish):
                self.ids.setdefault(e.gateway.gateway, []).extend(r.id for r in e.readings)
                self.all_ids.update(r.id for r in e.readings)
        super().handle(events)


class SeenSink:
    """A server sink registered after the alert pipeline's: sinks run in order on the writer
    thread, so a reading seen here has already reached the live rules."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def on_readings(self, stored: Sequence[StoredReading], now: datetime) -> None:
        self.ids.update(s.id for s in stored)

    def on_status(self, statuses: Sequence[StoredStatus], now: datetime) -> None:
        return None


@dataclass
class Run:
    """One scenario run: the server (``client``), the fleet and its sink, the shared clock."""

    client: TestClient
    fleet: Fleet
    sink: CountingSink
    clock: ManualClock
    site: str
    runner: FleetRunner
    seen: SeenSink
    steps: int = 0
    # Wait for every published message (statuses and dead letters too) instead of readings.
    by_messages: bool = False
    checks: list[Callable[[datetime], None]] = field(default_factory=list)

    @property
    def state(self) -> Any:
        return self.client.app.state  # type: ignore[attr-defined]

    def consumed(self) -> int:
        """Readings the server has decoded (stored, or dropped as duplicates)."""
        return int(self.state.metrics.get("readings"))

    def catch_up(self, now: datetime) -> None:
        """Wait until the server has consumed every reading published so far, then let the
        time-driven rules see ``now``."""
        assert self.sink.flush(CATCH_UP_S), "the broker did not acknowledge the fleet's messages"
        if self.by_messages:
            published = self.sink.messages + self.sink.statuses
            wait_for(
                lambda: int(self.state.metrics.get("messages")) >= published,
                CATCH_UP_S,
                f"the server to consume {published} messages at {now.isoformat()}",
            )
        else:
            wait_for(
                lambda: self.seen.ids >= self.sink.all_ids,
                CATCH_UP_S,
                f"the live rules to see {len(self.sink.all_ids)} readings at {now.isoformat()}",
            )
        self.state.alert_pipeline.tick()
        self.steps += 1
        for check in self.checks:
            check(now)

    def play(self, scenario: Scenario, until: datetime, step: timedelta = STEP) -> None:
        self.runner.schedule(scenario)
        self.advance(until, step)

    def advance(self, until: datetime, step: timedelta = STEP) -> None:
        """Step to ``until``. A step longer than STEP still moves the fleet on its own 10 s
        grid, but delivers the whole step's readings at once and ticks the rules once: for
        quiet hours of a long run."""
        self.runner.run_stepped(self.clock, until=until, step=step, after_step=self.catch_up)

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        resp = api(
            self.client, "GET", "/alerts", params={"site": self.site, "limit": 1000, **params}
        )
        assert resp.status_code == 200, resp.text
        result: list[dict[str, Any]] = resp.json()
        return result

    def alerts_of(self, rule: str, subject: str | None) -> list[dict[str, Any]]:
        """Alerts of ``rule`` about a device or room of this site (subjects are site-qualified)."""
        assert subject is not None, f"the scenario names no subject for {rule}"
        return self.alerts(rule=rule, subject=f"{self.site}/{subject}")

    def readings(self, device: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Stored readings of ``device`` in [start, end], oldest first."""
        found: list[dict[str, Any]] = self.get(
            "/readings", device=device, start=start.isoformat(), end=end.isoformat()
        )
        return found

    def get(self, path: str, **params: Any) -> Any:
        resp = api(self.client, "GET", path, params=params)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()


RunFactory = Callable[..., Run]


@pytest.fixture
def scenario_run(tmp_path: Path, unique_id: str, mosquitto: Mosquitto) -> Iterator[RunFactory]:
    """Start the server and a fleet at ``start`` on ``broker`` (the session Mosquitto unless
    given); everything is stopped at the end of the test."""
    stack: list[Callable[[], None]] = []

    def start_run(
        start: datetime,
        *,
        broker: Mosquitto | None = None,
        seed: int = 7,
        exact_counters: bool = False,
        restart_broker: Callable[[], None] | None = None,
        rooms: Collection[str] | None = None,
        max_step: timedelta = DEFAULT_MAX_STEP,
        **server: Any,
    ) -> Run:
        broker = broker or mosquitto
        # The server's SQLite files in memory-backed /dev/shm where there is one: an fsync per
        # small write transaction on a shared disk cost ~0.3 s a step; the checked outcomes do
        # not depend on durability.
        shm = Path("/dev/shm")
        data = Path(
            tempfile.mkdtemp(prefix=f"linli-{unique_id}-", dir=shm if shm.is_dir() else tmp_path)
        )
        stack.append(lambda: shutil.rmtree(data, ignore_errors=True))
        registry = tmp_path / "registry.yaml"
        text = site_registry_text(unique_id, rooms)
        registry.write_text(text, encoding="utf-8")
        values: dict[str, Any] = {
            "mqtt_host": broker.host,
            "mqtt_port": broker.port,
            "mqtt_client_id": f"srv-{unique_id}",
            "mqtt_site": unique_id,
            "records_url": f"sqlite:///{data / 'records.db'}",
            "sqlite_path": data / "telemetry.db",
            "influx_spool_path": data / "spool.db",
            "registry_path": registry,
            "http_port": 0,
            **access_settings(),
        }
        settings = ServerSettings(_env_file=None, **(values | server))
        clock = ManualClock(start)
        client = TestClient(create_app(settings, clock=clock))
        client.__enter__()
        stack.append(lambda: client.__exit__(None, None, None))
        wait_for(lambda: api(client, "GET", "/readyz").status_code == 200, 15, "server readiness")
        # An API key: scenarios move the clock past a session's lifetime (a week in hours).
        sign_in_with_key(client)
        # The harness is the only one to move time: it ticks the rules after each step has
        # been consumed. The server's real-time scheduler would tick at any moment, e.g. after
        # the clock jumped but before the step's readings arrived (every device "silent").
        client.app.state.scheduler.pause()  # type: ignore[attr-defined]
        seen = SeenSink()
        client.app.state.sinks.add(seen)  # type: ignore[attr-defined]
        fleet = Fleet(
            parse_registry(text, str(registry)),
            start=start,
            seed=seed,
            exact_counters=exact_counters,
            max_step=max_step,
        )
        sink = CountingSink(MqttOptions(broker.host, broker.port, restart_broker=restart_broker))
        stack.append(sink.close)
        runner = FleetRunner(fleet, sink, clock)
        return Run(client, fleet, sink, clock, unique_id, runner, seen)

    yield start_run
    for stop in reversed(stack):
        stop()
