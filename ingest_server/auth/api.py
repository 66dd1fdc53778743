"""HTTP API of access control: sign-in and out, the signed-in user, users, API keys, audit.

| path | who |
|---|---|
| ``POST /auth/login`` | anyone; throttled; sets the session cookie and returns the token |
| ``POST /auth/logout``, ``GET /auth/me`` | any signed-in user |
| ``GET/POST /users``, ``PATCH /users/{username}`` | admin |
| ``GET/POST /api-keys``, ``DELETE /api-keys/{id}`` | any user, for their own keys (admin: all) |
| ``GET /audit``, ``GET /audit/verify`` | admin |
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ingest_server.auth._audit import AuditLog
from ingest_server.auth._audit_mw import client_of
from ingest_server.auth._errors import BadCredentials, UnknownUser, UserExists, WeakPassword
from ingest_server.auth._model import Principal, Role
from ingest_server.auth._policy import COOKIE, principal_of
from ingest_server.auth._ratelimit import SignInLimiter
from ingest_server.auth._store import ApiKey, AuthStore, User
from protocol import ID_PATTERN

__all__ = ["router"]

router = APIRouter(tags=["access control"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class Me(BaseModel):
    username: str
    name: str
    role: Role
    sites: list[str] | None = Field(description="null: every site")
    via: str
    csrf_token: str | None = None


class LoginResult(BaseModel):
    token: str
    csrf_token: str
    expires_at: datetime
    user: Me


class UserOut(BaseModel):
    username: str
    name: str
    role: Role
    sites: list[str]
    disabled: bool
    created_at: datetime


class NewUserBody(_Body):
    username: Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    role: Role
    sites: Annotated[list[str], Field(min_length=1, max_length=1000)]
    name: Annotated[str, Field(max_length=200)] = ""


class UserPatch(_Body):
    name: Annotated[str | None, Field(max_length=200)] = None
    role: Role | None = None
    sites: Annotated[list[str] | None, Field(min_length=1, max_length=1000)] = None
    disabled: bool | None = None
    password: Annotated[str | None, Field(min_length=1, max_length=1024)] = None


class KeyOut(BaseModel):
    id: str
    name: str
    owner: str
    role: Role
    sites: list[str]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewKeyBody(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role | None = None
    sites: Annotated[list[str] | None, Field(min_length=1, max_length=1000)] = None


class NewKeyOut(BaseModel):
    key: str = Field(description="Shown once; only its hash is stored")
    info: KeyOut


def _user_admin(request: Request) -> None:
    if principal_of(request).sites is not None:
        raise HTTPException(403, "only an admin of every site manages users and reads the audit")


def _store(request: Request) -> AuthStore:
    store: AuthStore = request.app.state.auth
    return store


def _audit(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.audit
    return audit


def _me(p: Principal) -> Me:
    return Me(
        username=p.username,
        name=p.name,
        role=p.role,
        sites=None if p.sites is None else sorted(p.sites),
        via=p.via,
        csrf_token=p.csrf_token,
    )


def _user_out(u: User) -> UserOut:
    return UserOut(
        username=u.username,
        name=u.name,
        role=u.role,
        sites=list(u.sites),
        disabled=u.disabled,
        created_at=u.created_at,
    )


def _key_out(k: ApiKey) -> KeyOut:
    return KeyOut(
        id=k.id,
        name=k.name,
        owner=k.owner,
        role=k.role,
        sites=list(k.sites),
        created_at=k.created_at,
        revoked_at=k.revoked_at,
        last_used_at=k.last_used_at,
    )


@router.post("/auth/login", summary="Sign in: a bearer token and a session cookie")
async def login(request: Request, response: Response, body: LoginBody) -> LoginResult:
    limiter: SignInLimiter = request.app.state.signin_limiter
    client = client_of(request.scope) or "unknown"
    keys = (f"user:{body.username}", f"client:{client}")
    audit = _audit(request)
    wait = limiter.retry_after(*keys)
    if wait is not None:
        await anyio.to_thread.run_sync(
            lambda: audit.append(
                "signin.throttled",
                actor=body.username,
                method="POST",
                path="/auth/login",
                status=429,
                client=client,
            )
        )
        raise HTTPException(
            429,
            "too many failed sign-ins; try again later / 登录失败次数过多，请稍后再试",
            {"Retry-After": str(max(1, round(wait)))},
        )
    store = _store(request)
    try:
        # Argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        session = await anyio.to_thread.run_sync(
            store.sign_in, body.username, body.password, client
        )
    except BadCredentials:
        limiter.failed(*keys)
        await anyio.to_thread.run_sync(
            lambda: audit.append(
                "signin.failed",
                actor=body.username,
                method="POST",
                path="/auth/login",
                status=401,
                client=client,
            )
        )
        raise HTTPException(401, "wrong user name or password / 用户名或密码错误") from None
    limiter.succeeded(keys[0])
    await anyio.to_thread.run_sync(
        lambda: audit.append(
            "signin",
            actor=body.username,
            method="POST",
            path="/auth/login",
            status=200,
            client=client,
        )
    )
    settings = request.app.state.settings
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(settings.session_ttl_s),
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return LoginResult(
        token=session.token,
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
        user=_me(session.principal),
    )


@router.post("/auth/logout", status_code=204, summary="End this session")
def logout(request: Request, response: Response) -> None:
    principal_of(request)
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() or request.cookies.get(COOKIE)
    if token and not token.startswith("lk_"):
        _store(request).sign_out(token)
    response.delete_cookie(COOKIE, path="/")


@router.get("/auth/me", summary="Who this request is signed in as")
def me(request: Request) -> Me:
    return _me(principal_of(request))


@router.get("/users", summary="Every user")
def list_users(request: Request) -> list[UserOut]:
    _user_admin(request)
    return [_user_out(u) for u in _store(request).users()]


@router.post("/users", status_code=201, summary="Create a user")
def create_user(request: Request, body: NewUserBody) -> UserOut:
    _user_admin(request)
    try:
        user = _store(request).create_user(
            body.username, body.password, body.role, body.sites, body.name
        )
    except UserExists as exc:
        raise HTTPException(409, str(exc)) from None
    except (WeakPassword, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    return _user_out(user)


@router.patch("/users/{username}", summary="Change a user's role, sites, name, password or state")
def update_user(request: Request, username: str, body: UserPatch) -> UserOut:
    _user_admin(request)
    try:
        user = _store(request).update_user(
            username,
            role=body.role,
            sites=body.sites,
            name=body.name,
            disabled=body.disabled,
            password=body.password,
        )
    except UnknownUser as exc:
        raise HTTPException(404, str(exc)) from None
    except (WeakPassword, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    return _user_out(user)


@router.get("/api-keys", summary="API keys: your own (an admin sees all)")
def list_keys(request: Request) -> list[KeyOut]:
    p = principal_of(request)
    owner = None if p.role == Role.ADMIN and p.sites is None else p.username
    return [_key_out(k) for k in _store(request).keys(owner)]


@router.post("/api-keys", status_code=201, summary="Create an API key for yourself")
def create_key(request: Request, body: NewKeyBody) -> NewKeyOut:
    p = principal_of(request)
    if p.key_id is not None:
        raise HTTPException(403, "an API key cannot create API keys; sign in as a user")
    try:
        new = _store(request).create_key(p.username, body.name, body.role, body.sites)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return NewKeyOut(key=new.key, info=_key_out(new.info))


@router.delete("/api-keys/{key_id}", summary="Revoke an API key")
def revoke_key(request: Request, key_id: str) -> KeyOut:
    p = principal_of(request)
    store = _store(request)
    mine = {k.id for k in store.keys(p.username)}
    if key_id not in mine and not (p.role == Role.ADMIN and p.sites is None):
        raise HTTPException(404, "not found")
    try:
        return _key_out(store.revoke_key(key_id))
    except UnknownUser:
        raise HTTPException(404, "not found") from None


@router.get("/audit", summary="Audit log entries, oldest first")
def audit_entries(
    request: Request,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    _user_admin(request)
    entries = _audit(request).entries(after_seq=after_seq, limit=limit, action=action)
    return [e.as_dict() for e in entries]


@router.get("/audit/verify", summary="Verify the audit chain; names the first bad entry")
def audit_verify(request: Request) -> dict[str, Any]:
    _user_admin(request)
    return _audit(request).verify().as_dict()
