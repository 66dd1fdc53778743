"""Errors of the simulator.

Hierarchy::

    SimError (Exception)
    ├── ScenarioError (ValueError)   a scenario file or step that cannot be used (file, field)
    │   └── UnknownTarget            names a site, room, device or gateway the fleet lacks
    ├── FleetError (ValueError)      a fleet that cannot be built (bad registry, no devices)
    └── TransportError               the broker cannot be reached, or stopped acknowledging
"""

from __future__ import annotations

__all__ = ["FleetError", "ScenarioError", "SimError", "TransportError", "UnknownTarget"]


class SimError(Exception):
    """Anything the simulator refuses or cannot do."""


class ScenarioError(SimError, ValueError):
    """A scenario that cannot be used. The message starts with the file (or scenario) and field."""


class UnknownTarget(ScenarioError):
    """A scenario names something the fleet does not have."""


class FleetError(SimError, ValueError):
    """A fleet that cannot be built."""


class TransportError(SimError):
    """The transport could not deliver: broker unreachable, or acknowledgements stopped."""
