"""Credentials every test server starts with, and signing a test client in."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"


def access_settings() -> dict[str, Any]:
    """ServerSettings fields for a server whose first admin is :data:`ADMIN`."""
    return {
        "secret_key": SECRET_KEY,
        "admin_username": ADMIN,
        "admin_password": ADMIN_PASSWORD,
    }


def sign_in(client: TestClient, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
    """Sign ``client`` in; its later requests carry the bearer token. Returns the token."""
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    # The bearer header is what the requests use; drop the cookie so no request depends on it.
    client.cookies.clear()
    return token


def sign_in_with_key(client: TestClient) -> str:
    """Sign ``client`` in as the admin with a new API key (no expiry: for tests that move a
    manual clock past a session's lifetime). Returns the key."""
    sign_in(client)
    response = client.post("/api-keys", json={"name": "test"})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    client.headers["Authorization"] = f"Bearer {key}"
    return key
