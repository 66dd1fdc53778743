"""Errors of the broker ACL generator.

Hierarchy::

    BrokerAclError (Exception)
    ├── RegistrySourceError   registry file missing, unreadable or invalid (names file, field)
    ├── CredentialsError      the existing credentials file is unreadable or malformed (file:line)
    ├── OutputError           the output directory cannot be created or written
    └── AclUsageError         options that cannot work (a name clash, --rotate of an unknown user)
"""

from __future__ import annotations

__all__ = [
    "AclUsageError",
    "BrokerAclError",
    "CredentialsError",
    "OutputError",
    "RegistrySourceError",
]


class BrokerAclError(Exception):
    """Base of the generator's errors; the message says what to fix."""


class RegistrySourceError(BrokerAclError):
    """The registry could not be read or validated."""


class CredentialsError(BrokerAclError):
    """The credentials file of an earlier run is unreadable or malformed."""


class OutputError(BrokerAclError):
    """The output directory cannot be created or written."""


class AclUsageError(BrokerAclError):
    """Options that cannot work together."""
