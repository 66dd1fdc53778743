"""Scheduler jobs on a real APScheduler 3 scheduler, driven by the injected clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from ingest_server.alerts import (
    AlertPipeline,
    AlertService,
    AlertState,
    PackLoader,
    add_alert_jobs,
    reload_packs_job,
)
from protocol import DoorState, ManualClock
from tests.rules.live.factories import PACKS, door, site


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    scheduler = BackgroundScheduler()
    yield scheduler
    if scheduler.running:
        scheduler.shutdown(wait=True)


def _wait(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_jobs_are_coalesced_single_instance_and_tick_with_the_clock(
    scheduler: BackgroundScheduler,
    pipeline: AlertPipeline,
    service: AlertService,
    clock: ManualClock,
) -> None:
    jobs = add_alert_jobs(scheduler, pipeline, tick_s=0.05, remind_s=0.05, snapshot_s=0.05)
    assert {j.id for j in jobs} == {"alerts.tick", "alerts.remind", "alerts.snapshot"}
    assert all(j.coalesce and j.max_instances == 1 for j in jobs)
    pipeline.on_reading(door("door1", DoorState.OPEN, clock.now()))
    scheduler.start()
    time.sleep(0.2)  # several ticks at clock time 0: nothing may fire
    assert service.list_alerts(state=[AlertState.FIRING], rule="door.held_open") == []
    clock.advance(60)
    assert _wait(lambda: service.list_alerts(state=[AlertState.FIRING], rule="door.held_open"))
    assert _wait(lambda: service.load_snapshot() is not None)


def test_pack_reload_keeps_the_last_good_pack(
    tmp_path: Path, pipeline: AlertPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "national.yaml").write_text((PACKS / "national.yaml").read_text())
    loader = PackLoader(tmp_path)
    reload_packs_job(pipeline, loader, [site()])
    good = loader.packs["national"]
    (tmp_path / "national.yaml").write_text(
        "id: national\nversion: '2'\nrules:\n"
        "- {id: door.held_open, type: door_held_open, for: -1}\n"
    )
    report = loader.load([site()])
    assert report.packs["national"] is good
    assert report.errors == [
        f"{tmp_path / 'national.yaml'}: rule 'door.held_open': for: "
        "Input should be greater than or equal to 0"
    ]
    assert "keeping the last good pack" in caplog.text


def test_city_packs_load_after_their_parent_and_refer_to_their_sites(tmp_path: Path) -> None:
    loader = PackLoader(PACKS)
    report = loader.load([site(), site(id="s2", jurisdiction="hangzhou")])
    assert report.errors == []
    assert set(report.packs) == {"national", "hangzhou"}
    (tmp_path / "national.yaml").write_text((PACKS / "national.yaml").read_text())
    (tmp_path / "city.yaml").write_text(
        "id: city\nversion: '1'\nextends: national\nrules:\n- {id: door.held_open, rooms: [r1]}\n"
    )
    report = PackLoader(tmp_path).load([site(id="s3", jurisdiction="city", rooms=[], gateways=[])])
    assert report.errors == [
        f"{tmp_path / 'city.yaml'}: rule 'door.held_open': rooms: no room 'r1' in the registry"
    ]
