"""Errors of access control.

::

    AuthError
    ├── BadCredentials      wrong user name or password, unknown or revoked token or key
    ├── UserExists
    ├── UnknownUser
    └── WeakPassword
"""

from __future__ import annotations

__all__ = ["AuthError", "BadCredentials", "UnknownUser", "UserExists", "WeakPassword"]


class AuthError(Exception):
    """Base of access-control errors."""


class BadCredentials(AuthError):
    """Sign-in or token check failed. The message never says which part was wrong."""


class UserExists(AuthError):
    pass


class UnknownUser(AuthError):
    pass


class WeakPassword(AuthError):
    pass
