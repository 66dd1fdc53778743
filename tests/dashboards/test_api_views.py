"""The page data and the live stream against the real server and broker."""

from __future__ import annotations

import json

from tests.dashboards.conftest import Deployment


def test_site_view_has_rooms_by_floor_with_live_occupancy(deployment: Deployment) -> None:
    view = deployment.server.get(f"/ui/api/sites/{deployment.site}/live")
    rooms = {r["id"]: r for r in view["rooms"]}
    assert [r["floor"] for r in view["rooms"]] == sorted(
        (r["floor"] for r in view["rooms"]), reverse=True
    )
    assert rooms["nursery"]["occupancy"] == 5
    assert rooms["nursery"]["capacity"] == 12
    assert rooms["canteen"]["source"] == "counter"
    assert rooms["canteen"]["occupancy"] == 16
    print(json.dumps(view, indent=1, ensure_ascii=False)[:3000])
