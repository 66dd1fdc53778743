"""The page data, the live stream and the static assets against the real server and broker."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from tests.dashboards.conftest import Deployment, wait_for


def test_site_view_has_rooms_by_floor_with_live_occupancy(deployment: Deployment) -> None:
    view = deployment.server.get(f"/ui/api/sites/{deployment.site}/live")
    floors = [r["floor"] for r in view["rooms"]]
    assert floors == sorted(floors, reverse=True)
    rooms = {r["id"]: r for r in view["rooms"]}
    assert rooms["nursery"]["capacity"] == 12
    assert rooms["nursery"]["capacity_basis_en"] == "number of places"
    assert rooms["nursery"]["source"] == "count"
    assert rooms["canteen"]["source"] == "counter"
    assert rooms["canteen"]["occupancy"] == 16, "20 entries − 4 exits since 03:00"
    assert rooms["gym"]["occupancy"] is None
    assert rooms["gym"]["source"] == "none"
    devices = {d["id"]: d for d in view["devices"]}
    assert devices[f"{deployment.site}-door-1"]["role"] == "fire_door"
    assert devices[f"{deployment.site}-heat-1"]["silent"] is True, "never reported"
    assert devices[f"{deployment.site}-smk-1"]["silent"] is False
    assert [g["offline"] for g in view["gateways"]] == [False]
    assert view["day_start"].endswith("+08:00")


def test_overview_sums_up_every_site(deployment: Deployment) -> None:
    view = deployment.server.get("/ui/api/overview")
    sites = {s["id"]: s for s in view["sites"]}
    assert set(sites) >= {deployment.site, deployment.site2}
    mine = sites[deployment.site]
    rooms = {
        r["id"]: r for r in deployment.server.get(f"/ui/api/sites/{deployment.site}/live")["rooms"]
    }
    assert mine["occupancy"] == sum(r["occupancy"] or 0 for r in rooms.values())
    assert mine["capacity"] == sum(r["capacity"] for r in rooms.values())
    assert mine["devices"] == 6
    assert mine["devices_silent"] == 1
    assert mine["gateways_offline"] == 0
    assert mine["compliance_pass"] is not None
    assert mine["compliance_fail"] is not None


def _events(
    url: str, found: list[dict[str, Any]], want: dict[str, Any], stop: threading.Event
) -> None:
    """Read room events until one has ``want``'s items (or ``stop`` is set, seen at the next
    line: the server sends a keep-alive every 15 s)."""
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "room":
                event = json.loads(line.removeprefix("data: "))
                found.append(event)
                if want.items() <= event.items():
                    return
            if stop.is_set():
                return


def test_the_stream_pushes_a_rooms_new_occupancy(deployment: Deployment) -> None:
    d = deployment
    found: list[dict[str, Any]] = []
    stop = threading.Event()
    want = {"room": "elder", "occupancy": 9}
    url = f"{d.server.url}/ui/api/stream?site={d.site}"
    reader = threading.Thread(target=_events, args=(url, found, want, stop))
    before = d.server.app.state.live.subscribers
    reader.start()
    try:
        wait_for(lambda: d.server.app.state.live.subscribers > before, 10, "the subscription")
        d.fleet2.count(f"{d.site2}-cnt-1", 40)  # another site: not on this stream
        d.fleet.count(f"{d.site}-cnt-3", 9)
        reader.join(20)
    finally:
        stop.set()
        reader.join(30)
    assert {e["site"] for e in found} == {d.site}
    assert found
    assert want.items() <= found[-1].items(), found
    hub = d.server.app.state.live
    wait_for(lambda: hub.subscribers == before, 10, "the closed stream to unsubscribe")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/vendor/echarts.min.js", 200),
        ("/static/js/endpoints.js", 200),
        ("/static/css/app.css", 200),
        ("/static/../web.py", 404),
        ("/static/js/..%2F..%2Fweb.py", 404),
        ("/static/vendor/echarts.LICENSE.txt", 404),
        ("/static/page.html", 200),
        ("/ui/nope", 404),
        ("/ui/site", 200),
        ("/ui/", 200),
    ],
)
def test_pages_and_assets(deployment: Deployment, path: str, status: int) -> None:
    response = httpx.get(f"{deployment.server.url}{path}", timeout=10)
    assert response.status_code == status, path
    if path.endswith(".js") and status == 200:
        assert response.headers["content-type"].startswith("text/javascript")
    if path == "/ui/site":
        assert "/static/js/pages/site.js" in response.text
        assert "/static/vendor/echarts.min.js" in response.text
    if path == "/ui/":
        assert "/static/js/pages/overview.js" in response.text
        assert "echarts" not in response.text, "the overview draws no chart"


def test_assets_are_revalidated_by_etag(deployment: Deployment) -> None:
    url = f"{deployment.server.url}/static/vendor/echarts.min.js"
    first = httpx.get(url, timeout=10)
    assert len(first.content) > 500_000
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=10)
    assert again.status_code == 304
    assert again.content == b""


def test_root_leads_to_the_overview(deployment: Deployment) -> None:
    response = httpx.get(f"{deployment.server.url}/", timeout=10)
    assert response.status_code == 307
    assert response.headers["location"] == "/ui/"


def test_unknown_site_is_404(deployment: Deployment) -> None:
    response = httpx.get(f"{deployment.server.url}/ui/api/sites/nope/live", timeout=10)
    assert response.status_code == 404


def test_checklists_are_the_inspection_logs_own(deployment: Deployment) -> None:
    checklists = deployment.server.get("/ui/api/checklists")
    assert set(checklists) == {"patrol", "periodic_check", "equipment_test", "maintenance"}
    assert {
        "item": "exits_clear",
        "zh": "安全出口、疏散通道畅通",
        "en": "Exits and escape routes clear",
    } in (checklists["patrol"])
    # Every offered item is one the log accepts: a record with all of them is stored.
    for category, items in checklists.items():
        record = {
            "category": category,
            "occurred_at": "2026-01-05T09:00:00+08:00",
            "inspector": "张伟",
            "checklist": {i["item"]: "pass" for i in items},
        }
        entry = deployment.server.post(f"/inspection-log/{deployment.site2}/records", record)
        assert entry["category"] == category
        assert len(entry["payload"]["checklist"]) == len(items)
