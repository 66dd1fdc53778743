"""Access control: users bound to sites with a role, sessions and API keys, a route policy,
sign-in throttling and a tamper-evident audit log.

Wiring (done by :func:`ingest_server.create_app`): the app-wide dependency :func:`authorize`
checks every route against :data:`POLICY`; :class:`AuditMiddleware` records state-changing
calls; the lifespan puts ``auth`` (:class:`AuthStore`), ``audit`` (:class:`AuditLog`) and
``signin_limiter`` on ``app.state``.
"""

from ingest_server.auth._audit import (
    AuditEntry,
    AuditLog,
    AuditVerification,
    audit_rule_packs,
    pack_digests,
)
from ingest_server.auth._audit_mw import AuditMiddleware
from ingest_server.auth._errors import (
    AuthError,
    BadCredentials,
    UnknownUser,
    UserExists,
    WeakPassword,
)
from ingest_server.auth._model import ALL_SITES, ROLE_PERMISSIONS, Permission, Principal, Role
from ingest_server.auth._policy import (
    COOKIE,
    CSRF_HEADER,
    POLICY,
    Rule,
    SiteFrom,
    authorize,
    missing_decisions,
    principal_of,
    require,
    route_keys,
    still_signed_in,
    visible_sites,
)
from ingest_server.auth._ratelimit import SignInLimiter
from ingest_server.auth._store import (
    DEFAULT_SECRETS,
    ApiKey,
    AuthStore,
    NewApiKey,
    NewSession,
    User,
    check_password,
)
from ingest_server.auth._tables import create_auth_tables
from ingest_server.auth.api import router

__all__ = [
    "ALL_SITES",
    "COOKIE",
    "CSRF_HEADER",
    "DEFAULT_SECRETS",
    "POLICY",
    "ROLE_PERMISSIONS",
    "ApiKey",
    "AuditEntry",
    "AuditLog",
    "AuditMiddleware",
    "AuditVerification",
    "AuthError",
    "AuthStore",
    "BadCredentials",
    "NewApiKey",
    "NewSession",
    "Permission",
    "Principal",
    "Role",
    "Rule",
    "SignInLimiter",
    "SiteFrom",
    "UnknownUser",
    "User",
    "UserExists",
    "WeakPassword",
    "audit_rule_packs",
    "authorize",
    "check_password",
    "create_auth_tables",
    "missing_decisions",
    "pack_digests",
    "principal_of",
    "require",
    "route_keys",
    "router",
    "still_signed_in",
    "visible_sites",
]
