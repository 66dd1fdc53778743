"""Sessions, CSRF, API keys, throttling, limits and the audit log, on a real server app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from ingest_server import ServerSettings, create_app
from tests.access import ADMIN, ADMIN_PASSWORD, SECRET_KEY, access_settings
from tests.auth.conftest import PASSWORD, Deployment
from tests.services import Mosquitto


def _fresh(d: Deployment, *users: str) -> None:
    """New sessions for ``users`` (earlier tests may have moved the clock past the old)."""
    for user in users:
        password = ADMIN_PASSWORD if user == ADMIN else PASSWORD
        d.tokens[user] = _login(d, user, password)["token"]
    d.client.cookies.clear()


def _login(d: Deployment, user: str, password: str = PASSWORD) -> dict[str, str]:
    d.client.cookies.clear()
    response = d.client.post("/auth/login", json={"username": user, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_a_browser_session_needs_its_csrf_token_for_changes(deployment: Deployment) -> None:
    d = deployment
    login = _login(d, "manager-a")
    assert "linli_session" in d.client.cookies
    room = d.client.get(f"/sites/{d.a}/rooms/ra").json()
    assert room["id"] == "ra"
    refused = d.client.put(f"/sites/{d.a}/rooms/ra", json=room)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["detail"]
    wrong = d.client.put(f"/sites/{d.a}/rooms/ra", json=room, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    ok = d.client.put(
        f"/sites/{d.a}/rooms/ra", json=room, headers={"X-CSRF-Token": login["csrf_token"]}
    )
    assert ok.status_code == 200, ok.text
    d.client.cookies.clear()


def test_sign_out_ends_the_session(deployment: Deployment) -> None:
    d = deployment
    token = _login(d, "operator-a")["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    d.client.cookies.clear()
    assert d.client.get("/auth/me", headers=bearer).json()["username"] == "operator-a"
    assert d.client.post("/auth/logout", headers=bearer).status_code == 204
    assert d.client.get("/auth/me", headers=bearer).status_code == 401


def test_api_keys_are_scoped_and_revocable(deployment: Deployment) -> None:
    d = deployment
    made = d.call("inspector-a", "POST", "/api-keys", json={"name": "export job"})
    assert made.status_code == 201
    key, key_id = made.json()["key"], made.json()["info"]["id"]
    as_key = {"X-API-Key": key}
    assert d.call(None, "GET", f"/sites/{d.a}", headers=as_key).status_code == 200
    assert d.call(None, "GET", f"/sites/{d.b}", headers=as_key).status_code == 404
    # A key cannot mint keys, nor reach beyond its owner.
    assert d.call(None, "POST", "/api-keys", headers=as_key, json={"name": "x"}).status_code == 403
    wider = d.call("inspector-a", "POST", "/api-keys", json={"name": "y", "sites": [d.b]})
    assert wider.status_code == 422
    higher = d.call("inspector-a", "POST", "/api-keys", json={"name": "z", "role": "admin"})
    assert higher.status_code == 422
    # Only its hash is stored; listing never shows the key.
    listed = d.call("inspector-a", "GET", "/api-keys").json()
    assert key not in str(listed)
    assert key_id in str(listed)
    assert d.call("inspector-a", "DELETE", f"/api-keys/{key_id}").status_code == 200
    assert d.call(None, "GET", f"/sites/{d.a}", headers=as_key).status_code == 401


def test_failed_sign_ins_are_throttled_then_allowed_again(deployment: Deployment) -> None:
    d = deployment
    wrong = {"username": "operator-b", "password": "not the password"}
    for _ in range(5):
        assert d.call(None, "POST", "/auth/login", json=wrong).status_code == 401
    right = {"username": "operator-b", "password": PASSWORD}
    throttled = d.call(None, "POST", "/auth/login", json=right)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    assert "稍后" in throttled.json()["detail"]
    d.clock.advance(901)
    assert d.call(None, "POST", "/auth/login", json=right).status_code == 200


def test_disabling_a_user_ends_their_sessions(deployment: Deployment) -> None:
    d = deployment
    body = {"username": "leaver", "password": PASSWORD, "role": "operator", "sites": [d.a]}
    assert d.admin("POST", "/users", json=body).status_code == 201
    token = _login(d, "leaver")["token"]
    d.client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert d.client.get("/auth/me", headers=bearer).status_code == 200
    assert d.admin("PATCH", "/users/leaver", json={"disabled": True}).status_code == 200
    assert d.client.get("/auth/me", headers=bearer).status_code == 401
    again = {"username": "leaver", "password": PASSWORD}
    assert d.call(None, "POST", "/auth/login", json=again).status_code == 401


def test_a_weak_password_is_refused_with_the_reason(deployment: Deployment) -> None:
    body = {"username": "weak", "password": "changeme", "role": "operator", "sites": ["*"]}
    response = deployment.admin("POST", "/users", json=body)
    assert response.status_code == 422
    assert "12 characters" in response.json()["detail"]


def test_a_session_expires_with_the_clock(deployment: Deployment) -> None:
    d = deployment
    token = _login(d, "manager-b")["token"]
    d.client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert d.client.get("/auth/me", headers=bearer).status_code == 200
    d.clock.advance(8 * 3600 + 1)
    assert d.client.get("/auth/me", headers=bearer).status_code == 401


def test_oversized_bodies_are_refused(deployment: Deployment) -> None:
    body = b'{"name": "' + b"x" * (2 << 20) + b'"}'
    response = deployment.admin(
        "POST", "/sites", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_the_audit_log_records_sign_ins_changes_and_silences(deployment: Deployment) -> None:
    d = deployment
    _fresh(d, ADMIN, "operator-a")
    d.call(None, "POST", "/auth/login", json={"username": "ghost", "password": "nope-nope"})
    silenced = d.call(
        "operator-a",
        "POST",
        f"/alerts/{d.alert_id}/silence",
        json={"duration_s": 300, "reason": "更换门磁 replacing the contact"},
    )
    assert silenced.status_code == 200, silenced.text
    entries = d.admin("GET", "/audit", params={"limit": 1000}).json()
    actions = [(e["action"], e["actor"]) for e in entries]
    assert ("signin.failed", "ghost") in actions
    assert ("signin", ADMIN) in actions
    [silence] = [e for e in entries if e["action"] == "alert.silenced"]
    assert silence["actor"] == "operator-a"
    assert silence["detail"]["reason"] == "更换门磁 replacing the contact"
    call = next(e for e in entries if e["path"] == f"/alerts/{d.alert_id}/silence")
    assert (call["method"], call["actor"], call["client"]) == ("POST", "operator-a", "testclient")
    assert d.admin("GET", "/audit/verify").json()["ok"] is True


def test_tampering_with_the_audit_log_is_detected(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    _fresh(d, ADMIN)
    url = str(d.client.app.state.settings.records_url)  # type: ignore[attr-defined]
    engine = create_engine(url)
    # The table refuses edits outright...
    with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"))
    with engine.begin() as conn:
        # ...so a tamperer drops the guard first; the chain still gives them away.
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"))
    engine.dispose()
    verdict = d.admin("GET", "/audit/verify").json()
    assert (verdict["ok"], verdict["first_bad_seq"]) == (False, 2)
    cli = subprocess.run(
        [sys.executable, "-m", "linli_cli", "audit", "--records-url", url, "verify"],
        capture_output=True,
        text=True,
        env={**os.environ, "LINLI_SECRET_KEY": SECRET_KEY},
        check=False,
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "BROKEN at entry 2" in cli.stdout


def test_the_server_refuses_to_start_without_users(
    mosquitto: Mosquitto, tmp_path: Path, unique_id: str
) -> None:
    values = access_settings() | {"admin_username": None, "admin_password": None}
    settings = ServerSettings(  # type: ignore[call-arg]
        _env_file=None,
        mqtt_host=mosquitto.host,
        mqtt_port=mosquitto.port,
        mqtt_client_id=f"srv-{unique_id}",
        mqtt_site=unique_id,
        records_url=f"sqlite:///{tmp_path / 'records.db'}",
        sqlite_path=tmp_path / "telemetry.db",
        **values,
    )
    with pytest.raises(RuntimeError, match="no users"), TestClient(create_app(settings)):
        pass
    # The CLI makes the first admin; then the server starts and they can sign in.
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "linli_cli",
            "users",
            "--records-url",
            settings.records_url,
            "create",
            "chief",
            "--role",
            "admin",
            "--sites",
            "*",
            "--password-stdin",
        ],
        input="chief-admin-password\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with TestClient(create_app(settings)) as client:
        login = {"username": "chief", "password": "chief-admin-password"}
        assert client.post("/auth/login", json=login).status_code == 200


def test_streams_learn_that_their_session_ended(deployment: Deployment) -> None:
    from starlette.requests import Request

    from ingest_server.auth import still_signed_in

    d = deployment
    token = _login(d, "operator-a")["token"]
    d.client.cookies.clear()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/alerts/stream",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "app": d.client.app,
        "query_string": b"",
    }
    assert still_signed_in(Request(scope)) is True
    assert d.client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).is_success
    assert still_signed_in(Request(scope)) is False


def test_a_manager_edits_opening_hours_but_not_the_jurisdiction(deployment: Deployment) -> None:
    d = deployment
    _fresh(d, "manager-a")
    site = d.admin("GET", f"/sites/{d.a}").json()
    site.pop("rooms"), site.pop("gateways")
    hours = [{"days": [1, 2, 3, 4, 5], "open": "08:00", "close": "18:00"}]
    ok = d.call("manager-a", "PUT", f"/sites/{d.a}", json=site | {"opening_hours": hours})
    assert ok.status_code == 200, ok.text
    refused = d.call("manager-a", "PUT", f"/sites/{d.a}", json=site | {"jurisdiction": "hangzhou"})
    assert refused.status_code == 403
    assert "jurisdiction" in refused.json()["detail"]
    assert d.admin("GET", f"/sites/{d.a}").json()["jurisdiction"] == site["jurisdiction"]
