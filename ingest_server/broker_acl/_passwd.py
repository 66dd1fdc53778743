"""Mosquitto 2 password-file lines: ``user:$7$<iterations>$<salt b64>$<hash b64>``.

``$7$`` is PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte key, as ``mosquitto_passwd``
of Mosquitto 2.x writes it (its ``-H sha512-pbkdf2`` default); the broker reads the iteration
count from the line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["DEFAULT_ITERATIONS", "hash_line", "new_password", "verify_line"]

# Mosquitto's own default. The passwords this package generates carry 192 bits of entropy, so
# stretching adds no protection against guessing, while the broker pays the iterations again
# on every connect of thousands of gateways.
DEFAULT_ITERATIONS = 101
_SALT_BYTES = 12  # what mosquitto_passwd uses
_KEY_BYTES = 64  # SHA-512 output size
# 24 random bytes, base64url: 32 characters, 192 bits; no ':' or whitespace, so the
# credentials file stays one "user:password" per line.
_PASSWORD_BYTES = 24


def new_password() -> str:
    """A fresh random password (32 URL-safe characters)."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_BYTES)


def hash_line(
    username: str,
    password: str,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    salt: bytes | None = None,
) -> str:
    """The password-file line of ``username`` (without a newline)."""
    if ":" in username:
        raise ValueError(f"username {username!r} contains ':'")
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = _derive(password, salt, iterations)
    b64 = base64.b64encode
    return f"{username}:$7${iterations}${b64(salt).decode()}${b64(key).decode()}"


def verify_line(line: str, password: str) -> bool:
    """Whether a ``$7$`` password-file line accepts ``password``."""
    _, _, hashed = line.rstrip("\n").partition(":")
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(_derive(password, salt, iterations), expected)
