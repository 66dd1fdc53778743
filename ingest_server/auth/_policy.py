"""Who may call which route: one decision per route, enforced by one app-wide dependency.

Each route of the app has an entry in :data:`POLICY`, keyed ``"METHOD /path/{template}"``:
the permission it needs (``None``: public) and where the site of the object it touches comes
from. The app refuses to start when a route has no entry, so a new endpoint cannot ship
without a decision.

Order of checks (so that answers leak nothing): 401 without valid credentials; 403 when the
role lacks the permission or a browser request lacks its CSRF token; 404 when the object is
at a site the principal is not bound to, exactly as if it did not exist. Listings without a
site filter are narrowed to the principal's sites by their handlers (:func:`visible_sites`).
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from starlette.routing import BaseRoute

from ingest_server.auth._errors import BadCredentials
from ingest_server.auth._model import Permission, Principal

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "POLICY",
    "Rule",
    "SiteFrom",
    "authorize",
    "missing_decisions",
    "principal_of",
    "require",
    "route_keys",
    "still_signed_in",
    "visible_sites",
]

COOKIE = "linli_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class SiteFrom(enum.Enum):
    NONE = "none"  # not site data, or a listing its handler narrows
    PATH_SITE_ID = "path site_id"
    PATH_SITE = "path site"
    GATEWAY = "path gateway_id"
    DEVICE = "path device_id"
    ALERT = "path alert_id"
    QUERY_SITE = "query site (when given)"
    QUERY_DEVICE = "query device"


@dataclass(frozen=True, slots=True)
class Rule:
    permission: Permission | None
    site: SiteFrom = SiteFrom.NONE


PUBLIC = Rule(None)
P = Permission
S = SiteFrom

POLICY: dict[str, Rule] = {
    # Probes and the dashboard's shell and assets (the data behind them needs sign-in).
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /": PUBLIC,
    "GET /ui/": PUBLIC,
    "GET /ui/{page}": PUBLIC,
    "GET /static/{path}": PUBLIC,
    "POST /auth/login": PUBLIC,
    "POST /auth/logout": Rule(P.SITE_READ),
    "GET /auth/me": Rule(P.SITE_READ),
    "GET /metrics": Rule(P.SYSTEM_READ),
    # Registry
    "GET /sites": Rule(P.SITE_READ),
    "GET /sites/{site_id}": Rule(P.SITE_READ, S.PATH_SITE_ID),
    "POST /sites": Rule(P.REGISTRY_EDIT),
    "PUT /sites/{site_id}": Rule(P.ROOM_EDIT, S.PATH_SITE_ID),
    "DELETE /sites/{site_id}": Rule(P.REGISTRY_EDIT, S.PATH_SITE_ID),
    "GET /sites/{site_id}/rooms": Rule(P.SITE_READ, S.PATH_SITE_ID),
    "GET /sites/{site_id}/rooms/{room_id}": Rule(P.SITE_READ, S.PATH_SITE_ID),
    "POST /sites/{site_id}/rooms": Rule(P.ROOM_EDIT, S.PATH_SITE_ID),
    "PUT /sites/{site_id}/rooms/{room_id}": Rule(P.ROOM_EDIT, S.PATH_SITE_ID),
    "DELETE /sites/{site_id}/rooms/{room_id}": Rule(P.ROOM_EDIT, S.PATH_SITE_ID),
    "GET /gateways": Rule(P.SITE_READ, S.QUERY_SITE),
    "POST /sites/{site_id}/gateways": Rule(P.REGISTRY_EDIT, S.PATH_SITE_ID),
    "PUT /sites/{site_id}/gateways/{gateway_id}": Rule(P.REGISTRY_EDIT, S.PATH_SITE_ID),
    "DELETE /gateways/{gateway_id}": Rule(P.REGISTRY_EDIT, S.GATEWAY),
    "GET /devices": Rule(P.SITE_READ, S.QUERY_SITE),
    "GET /devices/{device_id}": Rule(P.SITE_READ, S.DEVICE),
    "POST /gateways/{gateway_id}/devices": Rule(P.REGISTRY_EDIT, S.GATEWAY),
    "PUT /gateways/{gateway_id}/devices/{device_id}": Rule(P.REGISTRY_EDIT, S.GATEWAY),
    "DELETE /devices/{device_id}": Rule(P.REGISTRY_EDIT, S.DEVICE),
    # Telemetry and analytics
    "GET /readings": Rule(P.SITE_READ, S.QUERY_DEVICE),
    "GET /latest": Rule(P.SITE_READ, S.QUERY_SITE),
    "GET /sites/{site_id}/rooms/{room_id}/occupancy": Rule(P.SITE_READ, S.PATH_SITE_ID),
    "GET /dead-letters": Rule(P.SYSTEM_READ),
    "GET /dead-letters/reasons": Rule(P.SYSTEM_READ),
    "GET /sites/{site_id}/compliance": Rule(P.ANALYTICS_READ, S.PATH_SITE_ID),
    "GET /sites/{site_id}/utilization": Rule(P.ANALYTICS_READ, S.PATH_SITE_ID),
    "GET /sites/{site_id}/utilization/daily": Rule(P.ANALYTICS_READ, S.PATH_SITE_ID),
    "GET /sites/{site_id}/findings": Rule(P.ANALYTICS_READ, S.PATH_SITE_ID),
    "GET /sites/{site_id}/inspections/due": Rule(P.SITE_READ, S.PATH_SITE_ID),
    # Inspection log
    "POST /inspection-log/{site}/records": Rule(P.PATROL_RECORD, S.PATH_SITE),
    "POST /inspection-log/{site}/corrections": Rule(P.INSPECTION_RECORD, S.PATH_SITE),
    "GET /inspection-log/{site}/entries": Rule(P.SITE_READ, S.PATH_SITE),
    "GET /inspection-log/{site}/verify": Rule(P.SITE_READ, S.PATH_SITE),
    "GET /inspection-log/{site}/head": Rule(P.LOG_EXPORT, S.PATH_SITE),
    "POST /inspection-log/verify-export": Rule(P.LOG_EXPORT),
    "POST /inspection-log/extends": Rule(P.LOG_EXPORT),
    "GET /inspection-log/export": Rule(P.LOG_EXPORT, S.QUERY_SITE),
    "POST /inspection-log/{site}/reports/{kind}": Rule(P.REPORT_MAKE, S.PATH_SITE),
    "GET /inspection-log/{site}/reports": Rule(P.SITE_READ, S.PATH_SITE),
    "GET /inspection-log/{site}/reports/{name}": Rule(P.SITE_READ, S.PATH_SITE),
    # Alerts
    "GET /alerts": Rule(P.SITE_READ, S.QUERY_SITE),
    "GET /alerts/channels": Rule(P.SYSTEM_READ),
    "GET /alerts/stream": Rule(P.SITE_READ),
    "GET /alerts/{alert_id}": Rule(P.SITE_READ, S.ALERT),
    "POST /alerts/{alert_id}/acknowledge": Rule(P.ALERT_ACT, S.ALERT),
    "POST /alerts/{alert_id}/assign": Rule(P.ALERT_ACT, S.ALERT),
    "POST /alerts/{alert_id}/resolve": Rule(P.ALERT_ACT, S.ALERT),
    "POST /alerts/{alert_id}/silence": Rule(P.ALERT_SILENCE, S.ALERT),
    "POST /alerts/{alert_id}/notes": Rule(P.ALERT_ACT, S.ALERT),
    # Dashboard data
    "GET /ui/api/overview": Rule(P.SITE_READ),
    "GET /ui/api/sites/{site_id}/live": Rule(P.SITE_READ, S.PATH_SITE_ID),
    "GET /ui/api/me": Rule(P.SITE_READ),
    "GET /ui/api/checklists": Rule(P.SITE_READ),
    "GET /ui/api/stream": Rule(P.SITE_READ, S.QUERY_SITE),
    # Access control itself
    "GET /users": Rule(P.USER_ADMIN),
    "POST /users": Rule(P.USER_ADMIN),
    "PATCH /users/{username}": Rule(P.USER_ADMIN),
    "GET /api-keys": Rule(P.SITE_READ),
    "POST /api-keys": Rule(P.SITE_READ),
    "DELETE /api-keys/{key_id}": Rule(P.SITE_READ),
    "GET /audit": Rule(P.USER_ADMIN),
    "GET /audit/verify": Rule(P.USER_ADMIN),
}


def route_keys(routes: Iterable[BaseRoute]) -> list[str]:
    """``"METHOD /path"`` of every API route (HEAD folded into GET), included routers too."""
    keys: list[str] = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                keys += [f"{m} {_template(ctx.path_format)}" for m in sorted(ctx.methods or [])]
        elif hasattr(route, "endpoint") and getattr(route, "include_in_schema", False):
            methods = getattr(route, "methods", None) or []
            path = str(getattr(route, "path_format", ""))
            keys += [f"{m} {_template(path)}" for m in sorted(methods) if m != "HEAD"]
    return keys


def _template(path: str) -> str:
    # Starlette writes a path converter as {name:path}; the policy names it {name}.
    return path.replace(":path}", "}")


def missing_decisions(routes: Iterable[BaseRoute]) -> list[str]:
    return [k for k in route_keys(routes) if k not in POLICY]


def _route_key(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return f"{request.method} {_template(str(path))}"


def _credentials(request: Request) -> tuple[str, str] | None:
    """(kind, secret) from the Authorization header, X-API-Key or the session cookie."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(
                401, "Authorization must be 'Bearer <token or API key>'", _challenge()
            )
        value = value.strip()
        return ("key" if value.startswith("lk_") else "bearer", value)
    key = request.headers.get("x-api-key")
    if key:
        return ("key", key.strip())
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return ("cookie", cookie)
    return None


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="linli"'}


def authenticate(request: Request) -> Principal:
    found = _credentials(request)
    if found is None:
        raise HTTPException(
            401, "sign in first (POST /auth/login) or send an API key", _challenge()
        )
    kind, secret = found
    store = request.app.state.auth
    try:
        principal: Principal = store.api_key(secret) if kind == "key" else store.session(secret)
    except BadCredentials as exc:
        raise HTTPException(401, str(exc), _challenge()) from None
    request.state.principal = principal
    if kind == "cookie" and request.method not in _SAFE:
        # The cookie rides along on any cross-site request; the header only on ours.
        sent = request.headers.get(CSRF_HEADER)
        if (
            not sent
            or not principal.csrf_token
            or not hmac.compare_digest(sent, principal.csrf_token)
        ):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
    return principal


def _object_site(request: Request, rule: Rule) -> str | None:
    """The site of the object the request names, or None when it names none (or none exists:
    the handler then answers 404 itself)."""
    params: dict[str, Any] = request.path_params
    match rule.site:
        case SiteFrom.PATH_SITE_ID:
            return str(params["site_id"])
        case SiteFrom.PATH_SITE:
            return str(params["site"])
        case SiteFrom.QUERY_SITE:
            return request.query_params.get("site")
        case SiteFrom.GATEWAY:
            return _gateway_site(request, str(params["gateway_id"]))
        case SiteFrom.DEVICE:
            return _device_site(request, str(params["device_id"]))
        case SiteFrom.QUERY_DEVICE:
            device = request.query_params.get("device")
            return None if device is None else _device_site(request, device)
        case SiteFrom.ALERT:
            return _alert_site(request, params["alert_id"])
        case SiteFrom.NONE:
            return None


def _gateway_site(request: Request, gateway_id: str) -> str | None:
    site: str | None = request.app.state.registry.gateway_site(gateway_id)
    return site


def _device_site(request: Request, device_id: str) -> str | None:
    place = request.app.state.registry.locate(device_id)
    return None if place is None else str(place.site)


def _alert_site(request: Request, alert_id: Any) -> str | None:
    service = getattr(request.app.state, "alert_service", None)
    try:
        number = int(alert_id)
    except ValueError:
        return None
    if service is None:
        return None
    site = service.site_of(number)
    return None if site is None else str(site)


def authorize(request: Request) -> None:
    """The app-wide dependency: authenticate, check the role, check the object's site."""
    key = _route_key(request)
    rule = POLICY.get(key)
    if rule is None:
        # Unreachable when the start-up check ran; fail closed if it did not.
        raise HTTPException(403, f"no access decision for {key}")
    if rule.permission is None:
        return
    principal = authenticate(request)
    if not principal.can(rule.permission):
        raise HTTPException(403, f"role {principal.role} may not do this (needs {rule.permission})")
    if principal.sites is None:
        return
    site = _object_site(request, rule)
    if site is not None and site not in principal.sites:
        raise HTTPException(404, "not found")
    if site is None and rule.site in (SiteFrom.DEVICE, SiteFrom.GATEWAY, SiteFrom.QUERY_DEVICE):
        # An object in no registered site is visible to all-site principals only.
        raise HTTPException(404, "not found")


def still_signed_in(request: Request) -> bool:
    """Whether the request's credentials still hold (for long-lived streams: a sign-out,
    expiry, disabled user or revoked key ends them). True where access control is not wired."""
    if getattr(request.app.state, "auth", None) is None:
        return True
    try:
        authenticate(request)
    except HTTPException:
        return False
    return True


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise HTTPException(401, "sign in first", _challenge())
    return principal


def require(request: Request, permission: Permission) -> Principal:
    """A second check inside a handler, for decisions that depend on the body."""
    principal = principal_of(request)
    if not principal.can(permission):
        raise HTTPException(403, f"role {principal.role} may not do this (needs {permission})")
    return principal


def visible_sites(request: Request) -> frozenset[str] | None:
    """The sites the caller may see; None for every site (or a public route)."""
    principal = getattr(request.state, "principal", None)
    return principal.sites if isinstance(principal, Principal) else None
