"""The pure domain: facility model, rules, utilization metrics and norms as data. No I/O."""

from rules.facility import (
    FUNCTION_NAMES_ZH,
    Device,
    DeviceKind,
    Function,
    Gateway,
    OpeningHours,
    Registry,
    RegistryError,
    Room,
    Site,
    parse_registry,
)

__all__ = [
    "FUNCTION_NAMES_ZH",
    "Device",
    "DeviceKind",
    "Function",
    "Gateway",
    "OpeningHours",
    "Registry",
    "RegistryError",
    "Room",
    "Site",
    "parse_registry",
]
