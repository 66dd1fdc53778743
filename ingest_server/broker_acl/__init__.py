"""Mosquitto password file and ACL from the facility registry (``linli mqtt-acl``).

Each gateway's MQTT username is its id; it may publish only under its own
``linli/v1/{site}/{gateway}/up/#`` and ``status`` topics and read only its own ``down/#``.
The server reads every ``up/`` and ``status`` topic and writes ``down/`` and the alerts topics.
See docs/mqtt-security.md.

Errors::

    BrokerAclError
    ├── RegistrySourceError   registry file missing, unreadable or invalid
    ├── CredentialsError      credentials file of an earlier run malformed
    ├── OutputError           output directory not creatable or writable
    └── AclUsageError         options that cannot work together
"""

from ingest_server.broker_acl._acl import Access, BrokerUser, Grant, Role, acl_text, broker_users
from ingest_server.broker_acl._cli import run_mqtt_acl
from ingest_server.broker_acl._errors import (
    AclUsageError,
    BrokerAclError,
    CredentialsError,
    OutputError,
    RegistrySourceError,
)
from ingest_server.broker_acl._generate import (
    ACL_FILE,
    CREDENTIALS_FILE,
    PASSWORD_FILE,
    Generated,
    generate,
    load_registry,
    read_credentials,
)
from ingest_server.broker_acl._passwd import (
    DEFAULT_ITERATIONS,
    hash_line,
    new_password,
    verify_line,
)

__all__ = [
    "ACL_FILE",
    "CREDENTIALS_FILE",
    "DEFAULT_ITERATIONS",
    "PASSWORD_FILE",
    "Access",
    "AclUsageError",
    "BrokerAclError",
    "BrokerUser",
    "CredentialsError",
    "Generated",
    "Grant",
    "OutputError",
    "RegistrySourceError",
    "Role",
    "acl_text",
    "broker_users",
    "generate",
    "hash_line",
    "load_registry",
    "new_password",
    "read_credentials",
    "run_mqtt_acl",
    "verify_line",
]
