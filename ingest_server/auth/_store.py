"""Users (Argon2id password hashes), sessions and API keys on the records database."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import sessionmaker

from ingest_server.auth._errors import BadCredentials, UnknownUser, UserExists, WeakPassword
from ingest_server.auth._model import ALL_SITES, Principal, Role, parse_sites
from ingest_server.auth._tables import ApiKeyRow, SessionRow, UserRow
from protocol import Clock, is_valid_id

__all__ = ["ApiKey", "AuthStore", "NewApiKey", "NewSession", "User", "check_password"]

# NIST SP 800-63B: at least 8; 12 because these accounts can silence fire alarms.
MIN_PASSWORD_LENGTH = 12
# Passwords and secrets shipped in examples or commonly tried first.
DEFAULT_SECRETS = frozenset(
    {"admin", "password", "changeme", "change-me", "linli", "123456", "12345678", "secret"}
)
KEY_PREFIX = "lk_"


def check_password(password: str) -> None:
    """Refuse short or well-known passwords with a reason."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if lowered in DEFAULT_SECRETS or any(lowered == s * 2 for s in DEFAULT_SECRETS):
        raise WeakPassword("password is a well-known default")


def default_hasher() -> PasswordHasher:
    """Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): tens of
    milliseconds per sign-in here, where argon2-cffi's 64 MiB x 3 x 4 took seconds on a busy
    2-core machine."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def _digest(secret: str) -> str:
    # Tokens and keys are 256-bit random: a fast hash suffices (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    username: str
    name: str
    role: Role
    sites: tuple[str, ...]
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    owner: str
    role: Role
    sites: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key: str  # shown once
    info: ApiKey


def _user(row: UserRow) -> User:
    return User(
        row.username, row.name, Role(row.role), tuple(row.sites), row.disabled, row.created_at
    )


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        row.id,
        row.name,
        row.owner,
        Role(row.role),
        tuple(row.sites),
        row.created_at,
        row.revoked_at,
        row.last_used_at,
    )


def _principal(row: UserRow, via: str, csrf: str | None = None) -> Principal:
    return Principal(
        username=row.username,
        name=row.name,
        role=Role(row.role),
        sites=parse_sites(row.sites),
        via=via,
        csrf_token=csrf,
    )


def _check_sites(sites: Sequence[str]) -> list[str]:
    for site in sites:
        if site != ALL_SITES and not is_valid_id(site):
            raise ValueError(f"site {site!r} is not a valid site id")
    return sorted(set(sites))


class AuthStore:
    """Users, sessions and API keys. Thread-safe (one SQLAlchemy session per call)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        session_ttl: timedelta = timedelta(hours=8),
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._clock = clock
        self._ttl = session_ttl
        self._hasher = hasher or default_hasher()
        # Verified against when the user does not exist, so both paths take as long.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    # Users -----------------------------------------------------------------------------------

    def count_users(self) -> int:
        with self._sessions() as s:
            return int(s.scalar(select(func.count()).select_from(UserRow)) or 0)

    def create_user(
        self, username: str, password: str, role: Role, sites: Sequence[str], name: str = ""
    ) -> User:
        if not is_valid_id(username):
            raise ValueError("user name must be letters, digits, '_' or '-' (at most 64)")
        check_password(password)
        row = UserRow(
            username=username,
            name=name or username,
            role=role.value,
            sites=_check_sites(sites),
            password_hash=self._hasher.hash(password),
            disabled=False,
            created_at=self._clock.now(),
        )
        with self._sessions.begin() as s:
            if s.get(UserRow, username) is not None:
                raise UserExists(f"user {username!r} exists")
            s.add(row)
        return _user(row)

    def users(self) -> list[User]:
        with self._sessions() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def user(self, username: str) -> User:
        with self._sessions() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise UnknownUser(f"no user {username!r}")
            return _user(row)

    def update_user(
        self,
        username: str,
        *,
        role: Role | None = None,
        sites: Sequence[str] | None = None,
        name: str | None = None,
        disabled: bool | None = None,
        password: str | None = None,
    ) -> User:
        if password is not None:
            check_password(password)
        with self._sessions.begin() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise UnknownUser(f"no user {username!r}")
            if role is not None:
                row.role = role.value
            if sites is not None:
                row.sites = _check_sites(sites)
            if name is not None:
                row.name = name
            if disabled is not None:
                row.disabled = disabled
            if password is not None:
                row.password_hash = self._hasher.hash(password)
            if disabled or password is not None or role is not None or sites is not None:
                # A changed right or secret ends every session made under the old one.
                s.execute(delete(SessionRow).where(SessionRow.username == username))
            return _user(row)

    # Sessions --------------------------------------------------------------------------------

    def sign_in(self, username: str, password: str, client: str | None = None) -> NewSession:
        with self._sessions() as s:
            row = s.get(UserRow, username)
        if row is None or row.disabled:
            self._verify(self._dummy, password)
            raise BadCredentials("wrong user name or password")
        if not self._verify(row.password_hash, password):
            raise BadCredentials("wrong user name or password")
        now = self._clock.now()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = now + self._ttl
        with self._sessions.begin() as s:
            if self._hasher.check_needs_rehash(row.password_hash):
                s.execute(
                    update(UserRow)
                    .where(UserRow.username == username)
                    .values(password_hash=self._hasher.hash(password))
                )
            s.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
            s.add(
                SessionRow(
                    token_hash=_digest(token),
                    username=username,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                    client=client,
                )
            )
        return NewSession(token, csrf, expires, _principal(row, "session", csrf))

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def session(self, token: str) -> Principal:
        now = self._clock.now()
        with self._sessions() as s:
            row = s.get(SessionRow, _digest(token))
            if row is None or row.expires_at <= now:
                raise BadCredentials("session expired or unknown; sign in again")
            user = s.get(UserRow, row.username)
            if user is None or user.disabled:
                raise BadCredentials("session expired or unknown; sign in again")
            return _principal(user, "session", row.csrf_token)

    def sign_out(self, token: str) -> None:
        with self._sessions.begin() as s:
            s.execute(delete(SessionRow).where(SessionRow.token_hash == _digest(token)))

    # API keys --------------------------------------------------------------------------------

    def create_key(
        self, owner: str, name: str, role: Role | None = None, sites: Sequence[str] | None = None
    ) -> NewApiKey:
        """A key for ``owner`` with at most the owner's role and sites."""
        user = self.user(owner)
        key_role = role or user.role
        if key_role != user.role and key_role != Role.OPERATOR and user.role != Role.ADMIN:
            raise ValueError(f"a {user.role} cannot create a {key_role} key")
        owner_sites = parse_sites(user.sites)
        key_sites = _check_sites(sites if sites is not None else user.sites)
        if owner_sites is not None and (
            ALL_SITES in key_sites or not set(key_sites) <= owner_sites
        ):
            raise ValueError("a key cannot reach sites its owner cannot")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        row = ApiKeyRow(
            id=key_id,
            name=name,
            owner=owner,
            role=key_role.value,
            sites=key_sites,
            key_hash=_digest(secret),
            created_at=self._clock.now(),
            revoked_at=None,
            last_used_at=None,
        )
        with self._sessions.begin() as s:
            s.add(row)
        return NewApiKey(f"{KEY_PREFIX}{key_id}_{secret}", _key(row))

    def keys(self, owner: str | None = None) -> list[ApiKey]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
        if owner is not None:
            query = query.where(ApiKeyRow.owner == owner)
        with self._sessions() as s:
            return [_key(r) for r in s.scalars(query)]

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._sessions.begin() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownUser(f"no API key {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = self._clock.now()
            return _key(row)

    def api_key(self, key: str) -> Principal:
        parts = key.removeprefix(KEY_PREFIX).split("_", 1)
        if not key.startswith(KEY_PREFIX) or len(parts) != 2:
            raise BadCredentials("malformed API key")
        key_id, secret = parts
        with self._sessions.begin() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or not hmac.compare_digest(row.key_hash, _digest(secret)):
                raise BadCredentials("unknown API key")
            if row.revoked_at is not None:
                raise BadCredentials("API key revoked")
            owner = s.get(UserRow, row.owner)
            if owner is None or owner.disabled:
                raise BadCredentials("API key's owner is disabled")
            row.last_used_at = self._clock.now()
            return Principal(
                username=row.owner,
                name=owner.name,
                role=Role(row.role),
                sites=parse_sites(row.sites),
                via="api_key",
                key_id=row.id,
            )

    def ensure_admin(self, username: str, password: str) -> bool:
        """Create the first admin (every site) when no user exists; True if created."""
        if self.count_users():
            return False
        self.create_user(username, password, Role.ADMIN, [ALL_SITES], name=username)
        return True
