"""``linli users`` and ``linli audit``: manage users and keys on the records database directly
(for the first admin, before any server runs), and verify the audit chain offline."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy import Engine

from ingest_server.auth._audit import AuditLog
from ingest_server.auth._errors import AuthError
from ingest_server.auth._model import Role
from ingest_server.auth._store import AuthStore
from ingest_server.auth._tables import create_auth_tables
from ingest_server.db import make_engine
from protocol import SystemClock

__all__ = ["HANDLERS", "run"]


def _engine(args: argparse.Namespace) -> Engine:
    engine = make_engine(args.records_url)
    create_auth_tables(engine)
    return engine


def _audit(engine: Engine) -> AuditLog | None:
    secret = os.environ.get("LINLI_SECRET_KEY")
    return AuditLog(engine, SystemClock(), secret.encode()) if secret else None


def _record(engine: Engine, action: str, detail: dict[str, object]) -> None:
    audit = _audit(engine)
    if audit is None:
        print("note: LINLI_SECRET_KEY is not set, so this is not in the audit log", file=sys.stderr)
        return
    audit.append(action, actor=f"cli:{getpass.getuser()}", detail=detail)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AuthError("the passwords differ")
    return first


def _create(args: argparse.Namespace) -> int:
    engine = _engine(args)
    store = AuthStore(engine, SystemClock())
    sites = [s.strip() for s in args.sites.split(",") if s.strip()]
    user = store.create_user(args.username, _password(args), Role(args.role), sites, args.name)
    _record(engine, "user.created", {"user": user.username, "role": user.role.value})
    print(f"created {user.role.value} {user.username!r} for sites {', '.join(user.sites)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = AuthStore(_engine(args), SystemClock())
    for u in store.users():
        state = " (disabled)" if u.disabled else ""
        print(f"{u.username}\t{u.role.value}\t{','.join(u.sites)}\t{u.name}{state}")
    return 0


def _set_password(args: argparse.Namespace) -> int:
    engine = _engine(args)
    AuthStore(engine, SystemClock()).update_user(args.username, password=_password(args))
    _record(engine, "user.password_set", {"user": args.username})
    print(f"password of {args.username!r} changed; their sessions ended")
    return 0


def _disable(args: argparse.Namespace) -> int:
    engine = _engine(args)
    AuthStore(engine, SystemClock()).update_user(args.username, disabled=not args.enable)
    _record(engine, "user.enabled" if args.enable else "user.disabled", {"user": args.username})
    print(f"{args.username!r} {'enabled' if args.enable else 'disabled'}")
    return 0


def _api_key(args: argparse.Namespace) -> int:
    engine = _engine(args)
    sites = None if args.sites is None else [s.strip() for s in args.sites.split(",")]
    role = None if args.role is None else Role(args.role)
    new = AuthStore(engine, SystemClock()).create_key(args.username, args.key_name, role, sites)
    _record(engine, "api_key.created", {"owner": args.username, "key": new.info.id})
    print(new.key)
    print(f"key {new.info.id}: shown once, keep it secret", file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    engine = _engine(args)
    AuthStore(engine, SystemClock()).revoke_key(args.key_id)
    _record(engine, "api_key.revoked", {"key": args.key_id})
    print(f"key {args.key_id} revoked")
    return 0


def _verify(args: argparse.Namespace) -> int:
    audit = _audit(_engine(args))
    if audit is None:
        print("set LINLI_SECRET_KEY (the server's) to verify the audit log", file=sys.stderr)
        return 2
    result = audit.verify()
    if result.ok:
        print(f"audit log verifies: {result.entries} entries")
        return 0
    print(f"audit log BROKEN at entry {result.first_bad_seq}: {result.reason}")
    return 1


HANDLERS = {
    "users create": _create,
    "users list": _list,
    "users set-password": _set_password,
    "users disable": _disable,
    "users api-key": _api_key,
    "users revoke-key": _revoke,
    "audit verify": _verify,
}


def run(args: argparse.Namespace) -> int:
    """Run the ``linli users`` / ``linli audit`` action ``args.command_name``."""
    try:
        return HANDLERS[args.command_name](args)
    except (AuthError, ValueError) as exc:
        print(f"linli {args.command_name}: {exc}", file=sys.stderr)
        return 2
