"""Silence and offline thresholds of the page data, and asset paths from hostile input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from dashboards._views import _devices, _gateways
from dashboards.web import _asset
from ingest_server import StoredReading
from protocol import SmokeReading, SmokeState
from rules import Device, DeviceKind, Gateway, Room, Site

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)

SITE = Site(
    id="s1",
    name="测试中心",
    rooms=(Room(id="r1", name="房间", floor=1),),
    gateways=(
        Gateway(
            id="gw1",
            heartbeat_s=60,
            devices=(
                Device(id="smk-1", kind=DeviceKind.SMOKE, room="r1", reporting_interval_s=300),
                Device(id="smk-2", kind=DeviceKind.SMOKE, room="r1", reporting_interval_s=300),
                Device(id="smk-3", kind=DeviceKind.SMOKE, room="r1", reporting_interval_s=300),
            ),
        ),
        Gateway(id="gw2", heartbeat_s=60),
        Gateway(id="gw3", heartbeat_s=60),
        Gateway(id="gw4", heartbeat_s=60),
    ),
)


def smoke(device: str, age: timedelta) -> StoredReading:
    reading = SmokeReading(id=f"{device}-x", device=device, ts=NOW - age, state=SmokeState.NORMAL)
    return StoredReading(reading, "s1", "gw1", "r1", unknown_device=False)


def test_a_device_is_silent_after_three_reporting_intervals() -> None:
    latest = [smoke("smk-1", timedelta(seconds=900)), smoke("smk-2", timedelta(seconds=901))]
    silent = {d.id: d.silent for d in _devices(SITE, latest, NOW)}
    assert silent == {"smk-1": False, "smk-2": True, "smk-3": True}


def test_a_gateway_is_offline_when_it_said_so_went_quiet_or_was_never_heard() -> None:
    def status(gateway: str, state: str, age_s: float) -> dict[str, object]:
        at = NOW - timedelta(seconds=age_s)
        return {"gateway": gateway, "site": "s1", "state": state, "ts": at, "received_at": at}

    statuses = [
        status("gw1", "online", 180),
        status("gw2", "online", 181),
        status("gw3", "offline", 1),
    ]
    offline = {g.id: g.offline for g in _gateways(SITE, statuses, NOW)}
    assert offline == {"gw1": False, "gw2": True, "gw3": True, "gw4": True}


STATIC = Path(str(resources.files("dashboards").joinpath("static"))).resolve()


SEGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "js",
        "pages",
        "site.js",
        "css",
        "app.css",
        "vendor",
        "echarts.min.js",
        "page.html",
        "%2e%2e",
        "..\\..",
        "~",
        ".git",
        "web.py",
        "static",
        "dashboards",
        "\x00",
    ]
)


@given(st.lists(SEGMENTS, max_size=6).map("/".join) | st.text(max_size=30))
def test_asset_paths_never_leave_the_static_folder(path: str) -> None:
    found = _asset(path)
    if found is None:
        return
    target = (STATIC / path).resolve()
    assert target.is_relative_to(STATIC)
    assert target.read_bytes() == found[0]
