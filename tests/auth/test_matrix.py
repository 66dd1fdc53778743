"""Every route of the app, called as nobody, as each role at the object's site, and as the
same role at another site: 401 / 403 / 404 / success exactly as the access design says.

The expectations are written here, apart from the policy table: a route the app serves that
this table does not know fails the test, so no endpoint ships without a decision.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ingest_server.auth import route_keys
from tests.access import ADMIN, ADMIN_PASSWORD
from tests.auth.conftest import PASSWORD, ROLES, Deployment, window

ALL = frozenset(ROLES)
OPS = frozenset({"operator", "admin"})
ANALYSTS = frozenset({"manager", "inspector", "admin"})
EDITORS = frozenset({"manager", "admin"})
ADMINS = frozenset({"admin"})
PATROLLERS = frozenset({"operator", "inspector", "admin"})
INSPECTORS = frozenset({"inspector", "admin"})

_ids = itertools.count()

# A request: (method is the route's) path, and keyword arguments for the client.
Request = tuple[str, dict[str, Any]]
Builder = Callable[[Deployment, str], Request]


@dataclass(frozen=True)
class Case:
    allowed: frozenset[str] | None  # None: public
    build: Builder
    scoped: bool = False  # names an object of site A: a user of site B gets 404
    all_sites_only: bool = False  # an admin bound to some sites gets 403
    stream: bool = False  # an endless event stream: only refusals are called
    ok: frozenset[int] = field(default_factory=frozenset)  # accepted codes besides 2xx/3xx


def fixed(path: str, **kw: Any) -> Builder:
    def build(d: Deployment, _caller: str) -> Request:
        def fill(value: Any) -> Any:
            return value.format(a=d.a, b=d.b, alert=d.alert_id) if isinstance(value, str) else value

        params = {k: fill(v) for k, v in kw.get("params", {}).items()}
        return fill(path), kw | ({"params": params} if params else {})

    return build


def new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def _site_body(d: Deployment, _c: str) -> Request:
    site = d.admin("GET", f"/sites/{d.a}").json()
    site.pop("rooms"), site.pop("gateways")
    return f"/sites/{d.a}", {"json": site}


def _room_body(d: Deployment, _c: str) -> Request:
    room = d.admin("GET", f"/sites/{d.a}/rooms/ra").json()
    return f"/sites/{d.a}/rooms/ra", {"json": room}


def _gateway_body(d: Deployment, _c: str) -> Request:
    return f"/sites/{d.a}/gateways/{d.a}-gw", {"json": {"id": f"{d.a}-gw"}}


def _device_body(d: Deployment, _c: str) -> Request:
    device = d.admin("GET", f"/devices/{d.a}-smk").json()["device"]
    return f"/gateways/{d.a}-gw/devices/{d.a}-smk", {"json": device}


def _delete_site(d: Deployment, _c: str) -> Request:
    spare = f"{d.a}x"
    if d.admin("GET", f"/sites/{spare}").status_code == 404:
        assert d.admin("POST", "/sites", json={"id": spare, "name": "备用"}).status_code == 201
    return f"/sites/{spare}", {}


def _delete_room(d: Deployment, _c: str) -> Request:
    if d.admin("GET", f"/sites/{d.a}/rooms/rdel").status_code == 404:
        room = {"id": "rdel", "name": "临时", "function": "culture", "floor": 1, "area_m2": 30}
        assert d.admin("POST", f"/sites/{d.a}/rooms", json=room).status_code == 201
    return f"/sites/{d.a}/rooms/rdel", {}


def _delete_gateway(d: Deployment, _c: str) -> Request:
    gateway = f"{d.a}-gdel"
    gateways = d.admin("GET", "/gateways", params={"site": d.a}).json()
    if gateway not in [g["id"] for g in gateways]:
        assert d.admin("POST", f"/sites/{d.a}/gateways", json={"id": gateway}).status_code == 201
    return f"/gateways/{gateway}", {}


def _delete_device(d: Deployment, _c: str) -> Request:
    device = f"{d.a}-ddel"
    if d.admin("GET", f"/devices/{device}").status_code == 404:
        body = {"id": device, "kind": "smoke", "room": "ra"}
        assert d.admin("POST", f"/gateways/{d.a}-gw/devices", json=body).status_code == 201
    return f"/devices/{device}", {}


def _patrol(d: Deployment) -> dict[str, Any]:
    return {
        "category": "patrol",
        "occurred_at": d.clock.now().isoformat(),
        "inspector": "王芳",
        "checklist": {"exits_clear": "pass", "fire_doors_closed": "pass"},
    }


def _correction(d: Deployment, _c: str) -> Request:
    entry = d.admin("POST", f"/inspection-log/{d.a}/records", json=_patrol(d)).json()
    body = {"corrects_seq": entry["seq"], "reason": "录入错误 typo", "amended": {}}
    return f"/inspection-log/{d.a}/corrections", {"json": body}


def _export(d: Deployment) -> bytes:
    response = d.admin("GET", "/inspection-log/export", params={"site": d.a, "format": "json"})
    assert response.status_code == 200, response.text
    content: bytes = response.content
    return content


def _verify_export(d: Deployment, _c: str) -> Request:
    return "/inspection-log/verify-export", {"content": _export(d)}


def _extends(d: Deployment, _c: str) -> Request:
    head = d.admin("GET", f"/inspection-log/{d.a}/head").json()
    return "/inspection-log/extends", {"json": {"head": head, "export": json.loads(_export(d))}}


def _report(d: Deployment, _c: str) -> Request:
    listing = d.admin("GET", f"/inspection-log/{d.a}/reports").json()["reports"]
    if not listing:
        params = {"lang": "zh", "day": d.clock.now().date().isoformat()}
        made = d.admin("POST", f"/inspection-log/{d.a}/reports/monthly", params=params)
        assert made.status_code == 200, made.text
        listing = [made.json()["name"]]
    return f"/inspection-log/{d.a}/reports/{listing[0]}", {}


def _findings(d: Deployment, _c: str) -> Request:
    rollups = d.client.app.state.rollups  # type: ignore[attr-defined]
    if rollups.findings(d.a) is None:
        rollups.run()
    return f"/sites/{d.a}/findings", {}


def _password(user: str) -> str:
    return ADMIN_PASSWORD if user == ADMIN else PASSWORD


def _logout(d: Deployment, caller: str) -> Request:
    # A fresh session of the caller, so the matrix's own sessions stay signed in.
    login = {"username": caller, "password": _password(caller)}
    token = d.call(None, "POST", "/auth/login", json=login).json()["token"]
    return "/auth/logout", {"headers": {"Authorization": f"Bearer {token}"}}


def _revoke_key(d: Deployment, caller: str) -> Request:
    made = d.call(caller, "POST", "/api-keys", json={"name": "to revoke"})
    assert made.status_code == 201, made.text
    return f"/api-keys/{made.json()['info']['id']}", {}


def _patch_user(d: Deployment, _c: str) -> Request:
    victim = "victim"
    if victim not in [u["username"] for u in d.admin("GET", "/users").json()]:
        body = {"username": victim, "password": PASSWORD, "role": "operator", "sites": [d.a]}
        assert d.admin("POST", "/users", json=body).status_code == 201
    return f"/users/{victim}", {"json": {"name": "改名 renamed"}}


def _new_user(_d: Deployment, _c: str) -> Request:
    body = {"username": new_id("u"), "password": PASSWORD, "role": "operator", "sites": ["*"]}
    return "/users", {"json": body}


def _windowed(path: str) -> Builder:
    return lambda d, _c: (path.format(a=d.a), {"params": window(d.clock)})


def _daily(d: Deployment, _c: str) -> Request:
    today = d.clock.now().date()
    params = {"first": today.isoformat(), "last": today.isoformat()}
    return f"/sites/{d.a}/utilization/daily", {"params": params}


SPEC: dict[str, Case] = {
    "GET /healthz": Case(None, fixed("/healthz")),
    "GET /readyz": Case(None, fixed("/readyz")),
    "GET /": Case(None, fixed("/", follow_redirects=False)),
    "GET /ui/": Case(None, fixed("/ui/")),
    "GET /ui/{page}": Case(None, fixed("/ui/alerts")),
    "GET /static/{path}": Case(None, fixed("/static/css/app.css")),
    "POST /auth/login": Case(
        None,
        lambda d, c: ("/auth/login", {"json": {"username": ADMIN, "password": ADMIN_PASSWORD}}),
    ),
    "POST /auth/logout": Case(ALL, _logout),
    "GET /auth/me": Case(ALL, fixed("/auth/me")),
    "GET /metrics": Case(ADMINS, fixed("/metrics")),
    "GET /sites": Case(ALL, fixed("/sites")),
    "GET /sites/{site_id}": Case(ALL, fixed("/sites/{a}"), scoped=True),
    "POST /sites": Case(
        ADMINS, lambda d, c: ("/sites", {"json": {"id": new_id(d.a + "n"), "name": "新"}})
    ),
    "PUT /sites/{site_id}": Case(EDITORS, _site_body, scoped=True),
    "DELETE /sites/{site_id}": Case(ADMINS, _delete_site, scoped=True),
    "GET /sites/{site_id}/rooms": Case(ALL, fixed("/sites/{a}/rooms"), scoped=True),
    "GET /sites/{site_id}/rooms/{room_id}": Case(ALL, fixed("/sites/{a}/rooms/ra"), scoped=True),
    "POST /sites/{site_id}/rooms": Case(
        EDITORS,
        lambda d, c: (
            f"/sites/{d.a}/rooms",
            {"json": {"id": new_id("r"), "name": "新室", "function": "culture", "floor": 1}},
        ),
        scoped=True,
    ),
    "PUT /sites/{site_id}/rooms/{room_id}": Case(EDITORS, _room_body, scoped=True),
    "DELETE /sites/{site_id}/rooms/{room_id}": Case(EDITORS, _delete_room, scoped=True),
    "GET /gateways": Case(ALL, fixed("/gateways", params={"site": "{a}"}), scoped=True),
    "POST /sites/{site_id}/gateways": Case(
        ADMINS,
        lambda d, c: (f"/sites/{d.a}/gateways", {"json": {"id": new_id(d.a + "-g")}}),
        scoped=True,
    ),
    "PUT /sites/{site_id}/gateways/{gateway_id}": Case(ADMINS, _gateway_body, scoped=True),
    "DELETE /gateways/{gateway_id}": Case(ADMINS, _delete_gateway, scoped=True),
    "GET /devices": Case(ALL, fixed("/devices", params={"site": "{a}"}), scoped=True),
    "GET /devices/{device_id}": Case(ALL, fixed("/devices/{a}-smk"), scoped=True),
    "POST /gateways/{gateway_id}/devices": Case(
        ADMINS,
        lambda d, c: (
            f"/gateways/{d.a}-gw/devices",
            {"json": {"id": new_id(d.a + "-d"), "kind": "smoke", "room": "ra"}},
        ),
        scoped=True,
    ),
    "PUT /gateways/{gateway_id}/devices/{device_id}": Case(ADMINS, _device_body, scoped=True),
    "DELETE /devices/{device_id}": Case(ADMINS, _delete_device, scoped=True),
    "GET /readings": Case(
        ALL,
        lambda d, c: ("/readings", {"params": {"device": f"{d.a}-smk"} | window(d.clock)}),
        scoped=True,
    ),
    "GET /latest": Case(ALL, fixed("/latest", params={"site": "{a}"}), scoped=True),
    "GET /sites/{site_id}/rooms/{room_id}/occupancy": Case(
        ALL, _windowed("/sites/{a}/rooms/ra/occupancy"), scoped=True
    ),
    "GET /dead-letters": Case(ADMINS, fixed("/dead-letters")),
    "GET /dead-letters/reasons": Case(ADMINS, fixed("/dead-letters/reasons")),
    "GET /sites/{site_id}/compliance": Case(ANALYSTS, fixed("/sites/{a}/compliance"), scoped=True),
    "GET /sites/{site_id}/utilization": Case(
        ANALYSTS, _windowed("/sites/{a}/utilization"), scoped=True
    ),
    "GET /sites/{site_id}/utilization/daily": Case(ANALYSTS, _daily, scoped=True),
    "GET /sites/{site_id}/findings": Case(ANALYSTS, _findings, scoped=True),
    "GET /sites/{site_id}/inspections/due": Case(
        ALL, fixed("/sites/{a}/inspections/due"), scoped=True
    ),
    "POST /inspection-log/{site}/records": Case(
        PATROLLERS,
        lambda d, c: (f"/inspection-log/{d.a}/records", {"json": _patrol(d)}),
        scoped=True,
    ),
    "POST /inspection-log/{site}/corrections": Case(INSPECTORS, _correction, scoped=True),
    "GET /inspection-log/{site}/entries": Case(
        ALL, fixed("/inspection-log/{a}/entries"), scoped=True
    ),
    "GET /inspection-log/{site}/verify": Case(
        ALL, fixed("/inspection-log/{a}/verify"), scoped=True
    ),
    "GET /inspection-log/{site}/head": Case(
        ANALYSTS, fixed("/inspection-log/{a}/head"), scoped=True
    ),
    "POST /inspection-log/verify-export": Case(ANALYSTS, _verify_export),
    "POST /inspection-log/extends": Case(ANALYSTS, _extends),
    "GET /inspection-log/export": Case(
        ANALYSTS,
        fixed("/inspection-log/export", params={"site": "{a}", "format": "json"}),
        scoped=True,
    ),
    "POST /inspection-log/{site}/reports/{kind}": Case(
        ANALYSTS,
        lambda d, c: (
            f"/inspection-log/{d.a}/reports/monthly",
            {"params": {"lang": "en", "day": d.clock.now().date().isoformat()}},
        ),
        scoped=True,
    ),
    "GET /inspection-log/{site}/reports": Case(
        ALL, fixed("/inspection-log/{a}/reports"), scoped=True
    ),
    "GET /inspection-log/{site}/reports/{name}": Case(ALL, _report, scoped=True),
    "GET /alerts": Case(ALL, fixed("/alerts", params={"site": "{a}"}), scoped=True),
    "GET /alerts/channels": Case(ADMINS, fixed("/alerts/channels")),
    "GET /alerts/stream": Case(ALL, fixed("/alerts/stream"), stream=True),
    "GET /alerts/{alert_id}": Case(ALL, fixed("/alerts/{alert}"), scoped=True),
    "POST /alerts/{alert_id}/acknowledge": Case(
        OPS, fixed("/alerts/{alert}/acknowledge", json={}), scoped=True, ok=frozenset({409})
    ),
    "POST /alerts/{alert_id}/assign": Case(
        OPS, fixed("/alerts/{alert}/assign", json={"assignee": "王芳"}), scoped=True
    ),
    "POST /alerts/{alert_id}/resolve": Case(
        OPS,
        fixed("/alerts/{alert}/resolve", json={"note": "已关门 closed"}),
        scoped=True,
        ok=frozenset({409}),
    ),
    "POST /alerts/{alert_id}/silence": Case(
        OPS,
        fixed("/alerts/{alert}/silence", json={"duration_s": 600, "reason": "维修 repair"}),
        scoped=True,
        ok=frozenset({409}),
    ),
    "POST /alerts/{alert_id}/notes": Case(
        OPS, fixed("/alerts/{alert}/notes", json={"text": "已派人 sent someone"}), scoped=True
    ),
    "GET /ui/api/overview": Case(ALL, fixed("/ui/api/overview")),
    "GET /ui/api/sites/{site_id}/live": Case(ALL, fixed("/ui/api/sites/{a}/live"), scoped=True),
    "GET /ui/api/me": Case(ALL, fixed("/ui/api/me")),
    "GET /ui/api/checklists": Case(ALL, fixed("/ui/api/checklists")),
    "GET /ui/api/stream": Case(
        ALL, fixed("/ui/api/stream", params={"site": "{a}"}), scoped=True, stream=True
    ),
    "GET /users": Case(ADMINS, fixed("/users"), all_sites_only=True),
    "POST /users": Case(ADMINS, _new_user, all_sites_only=True),
    "PATCH /users/{username}": Case(ADMINS, _patch_user, all_sites_only=True),
    "GET /api-keys": Case(ALL, fixed("/api-keys")),
    "POST /api-keys": Case(ALL, fixed("/api-keys", json={"name": "matrix"})),
    "DELETE /api-keys/{key_id}": Case(ALL, _revoke_key),
    "GET /audit": Case(ADMINS, fixed("/audit"), all_sites_only=True),
    "GET /audit/verify": Case(ADMINS, fixed("/audit/verify"), all_sites_only=True),
}


def test_every_route_has_a_decision_in_this_table(deployment: Deployment) -> None:
    served = set(route_keys(deployment.client.app.routes))  # type: ignore[attr-defined]
    assert sorted(served - SPEC.keys()) == [], "routes without an expectation here"
    assert sorted(SPEC.keys() - served) == [], "expectations for routes the app lacks"


def _check(d: Deployment, key: str, user: str | None, expected: str) -> str | None:
    """Call ``key`` as ``user``; a mismatch as text, or None."""
    case = SPEC[key]
    method = key.split(" ", 1)[0]
    path, kw = case.build(d, user or ADMIN)
    if user is None:
        kw.pop("headers", None)
    status = d.call(user, method, path, **kw).status_code
    good = {
        "401": status == 401,
        "403": status == 403,
        "404": status == 404,
        "ok": status < 400 or status in case.ok,
        "public": status not in (401, 403) and status < 500,
    }[expected]
    return None if good else f"{key} as {user or 'anonymous'}: {status}, expected {expected}"


@pytest.mark.parametrize("key", sorted(SPEC))
def test_route(deployment: Deployment, key: str) -> None:
    d, case = deployment, SPEC[key]
    wrong: list[str | None] = []
    if case.allowed is None:
        wrong.append(_check(d, key, None, "public"))
        assert [w for w in wrong if w] == []
        return
    wrong.append(_check(d, key, None, "401"))
    for role in ROLES:
        here, there = f"{role}-a", f"{role}-b"
        if role not in case.allowed:
            wrong.append(_check(d, key, here, "403"))
            continue
        if case.all_sites_only:
            wrong.append(_check(d, key, here, "403"))
        elif not case.stream:
            wrong.append(_check(d, key, here, "ok"))
        if case.scoped and not case.all_sites_only:
            wrong.append(_check(d, key, there, "404"))
    if not case.stream:
        wrong.append(_check(d, key, ADMIN, "ok"))
    assert [w for w in wrong if w] == []
