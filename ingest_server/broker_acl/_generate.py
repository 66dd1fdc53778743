"""Write the broker's password file, ACL and the plaintext credentials, keeping passwords.

Three files in one directory, each replaced atomically with mode 0600:

``credentials``  ``user:password`` per line, the source of truth for re-runs and for
                 provisioning (a gateway's password goes into its ``uplink.password_file``,
                 the server's into ``LINLI_MQTT_PASSWORD``). Written first, so a password the
                 broker accepts is never one nobody knows.
``passwd``       Mosquitto's ``password_file`` (``$7$`` PBKDF2-SHA512 lines).
``acl``          Mosquitto's ``acl_file``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest_server.broker_acl._acl import BrokerUser, Role, acl_text, broker_users
from ingest_server.broker_acl._errors import (
    AclUsageError,
    CredentialsError,
    OutputError,
    RegistrySourceError,
)
from ingest_server.broker_acl._passwd import DEFAULT_ITERATIONS, hash_line, new_password
from protocol import is_valid_id
from rules import Registry, RegistryError, parse_registry

__all__ = [
    "ACL_FILE",
    "CREDENTIALS_FILE",
    "PASSWORD_FILE",
    "Generated",
    "generate",
    "load_registry",
    "read_credentials",
]

PASSWORD_FILE = "passwd"  # noqa: S105 - a file name
ACL_FILE = "acl"
CREDENTIALS_FILE = "credentials"
_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Generated:
    """What a run wrote and how the set of users changed."""

    out_dir: Path
    users: tuple[BrokerUser, ...]
    created: tuple[str, ...] = ()
    rotated: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    paths: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per change, for the command's output (never a password)."""
        gateways = sum(1 for u in self.users if u.role is Role.GATEWAY)
        lines = [f"{len(self.users)} broker users ({gateways} gateways) in {self.out_dir}"]
        if self.kept:
            lines.append(f"  kept: {len(self.kept)}")
        for label, names in (
            ("new", self.created),
            ("rotated", self.rotated),
            ("removed", self.removed),
        ):
            if names:
                lines.append(f"  {label} ({len(names)}): {', '.join(names)}")
        return "\n".join(lines)


def load_registry(path: Path) -> Registry:
    """Read and validate a registry YAML file; errors name the file (and the field)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistrySourceError(f"cannot read registry file {path}: {exc}") from exc
    return parse_registry_text(text, str(path))


def parse_registry_text(text: str, source: str) -> Registry:
    try:
        return parse_registry(text, source)
    except RegistryError as exc:
        raise RegistrySourceError(str(exc)) from exc


def read_credentials(path: Path) -> dict[str, str]:
    """The ``user:password`` lines of a credentials file; {} if it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc}") from exc
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise CredentialsError(f"{path}:{number}: expected 'user:password'")
        if user in found:
            raise CredentialsError(f"{path}:{number}: user {user!r} appears twice")
        found[user] = password
    return found


def _check_names(users: Sequence[BrokerUser], extra: Iterable[tuple[str, str]]) -> None:
    for option, name in extra:
        if not is_valid_id(name):
            raise AclUsageError(
                f"{option} {name[:80]!r}: use letters, digits, '_' or '-' (at most 64)"
            )
    seen: dict[str, BrokerUser] = {}
    for user in users:
        other = seen.get(user.name)
        if other is not None:
            raise AclUsageError(
                f"user name {user.name!r} is used by the {other.role.value} and the "
                f"{user.role.value}; choose another name"
            )
        seen[user.name] = user


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (mode 0600) so a reader sees the old or the new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def generate(
    registry: Registry,
    out_dir: Path,
    *,
    source: str,
    server_user: str = "linli-server",
    notify_user: str | None = None,
    display_user: str | None = None,
    rotate: Sequence[str] = (),
    iterations: int = DEFAULT_ITERATIONS,
) -> Generated:
    """Write ``credentials``, ``passwd`` and ``acl`` for ``registry`` into ``out_dir``.

    Passwords already in ``out_dir/credentials`` are kept; users new to it get fresh ones;
    users named in ``rotate`` get fresh ones too; users no longer implied are dropped.
    """
    users = broker_users(
        registry, server_user=server_user, notify_user=notify_user, display_user=display_user
    )
    named = [("--server-user", server_user)]
    named += [("--notify-user", notify_user)] if notify_user else []
    named += [("--display-user", display_user)] if display_user else []
    _check_names(users, named)
    names = [u.name for u in users]
    unknown = sorted(set(rotate) - set(names))
    if unknown:
        raise AclUsageError(
            f"--rotate {', '.join(unknown)}: no such user (gateways of {source}, the server, "
            "notify and display users)"
        )
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out_dir}: {exc}") from exc
    if not out_dir.is_dir():
        raise OutputError(f"output directory {out_dir} is not a directory")
    credentials_path = out_dir / CREDENTIALS_FILE
    existing = read_credentials(credentials_path)

    passwords: dict[str, str] = {}
    created: list[str] = []
    rotated: list[str] = []
    kept: list[str] = []
    for name in names:
        if name in rotate:
            passwords[name] = new_password()
            rotated.append(name)
        elif name in existing:
            passwords[name] = existing[name]
            kept.append(name)
        else:
            passwords[name] = new_password()
            created.append(name)
    removed = sorted(set(existing) - set(names))

    header = [
        f"Generated by `linli mqtt-acl` from {source}; re-run it instead of editing.",
        "Gateways may publish only under their own up/ and status topics and read only their",
        "own down/ topics; anything not granted here is refused (publishes silently dropped).",
    ]
    credentials_lines = [
        "# MQTT credentials, one user:password per line (keep secret: mode 0600).",
        "# A gateway's password goes into its uplink.password_file; the server's into",
        "# LINLI_MQTT_PASSWORD. `linli mqtt-acl` keeps these on re-runs.",
    ]
    for user in users:
        where = f" of site {user.site}" if user.site else ""
        credentials_lines += [f"# {user.role.value}{where}", f"{user.name}:{passwords[user.name]}"]
    credentials = "\n".join(credentials_lines)
    passwd = "".join(hash_line(n, passwords[n], iterations=iterations) + "\n" for n in names)
    paths = {
        CREDENTIALS_FILE: credentials_path,
        PASSWORD_FILE: out_dir / PASSWORD_FILE,
        ACL_FILE: out_dir / ACL_FILE,
    }
    try:
        _write_atomic(paths[CREDENTIALS_FILE], credentials + "\n")
        _write_atomic(paths[PASSWORD_FILE], passwd)
        _write_atomic(paths[ACL_FILE], acl_text(users, header))
    except OSError as exc:
        raise OutputError(f"cannot write into {out_dir}: {exc}") from exc
    return Generated(
        out_dir,
        tuple(users),
        tuple(created),
        tuple(rotated),
        tuple(kept),
        tuple(removed),
        paths,
    )
