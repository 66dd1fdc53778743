"""Edge agent for Raspberry Pi-class gateways: drivers, local safety, outbox, MQTT session.

Data path: a driver emits :class:`Observation` s → the :class:`Agent` validates them into
protocol readings with a stable id → commits them to the :class:`Outbox` (alarm lane fsync'd)
→ drives local outputs for alarms → the uplink publishes alarms first, then telemetry batches,
and deletes each row on PUBACK.
"""

from edge_agent._agent import Agent, AgentStats
from edge_agent._config import (
    DeviceConfig,
    DeviceKind,
    DriverConfig,
    GatewayConfig,
    GpioOutputConfig,
    MqttOutputConfig,
    OutboxConfig,
    OutputConfig,
    RemoteConfig,
    SafetyConfig,
    TlsConfig,
    Trigger,
    UplinkConfig,
    load_config,
    parse_config,
)
from edge_agent._driver import (
    Driver,
    DriverContext,
    DriverFactory,
    Emit,
    Observation,
    load_factory,
)
from edge_agent._errors import ConfigError, DriverError, EdgeError, OutboxError, OutboxWriteFailed
from edge_agent._main import EdgeSettings, main, run_edge
from edge_agent._outbox import Lane, Outbox, OutboxDepth, Pending, Row
from edge_agent._outputs import DisplayMessage
from edge_agent._uplink import UplinkStats

__all__ = [
    "Agent",
    "AgentStats",
    "ConfigError",
    "DeviceConfig",
    "DeviceKind",
    "DisplayMessage",
    "Driver",
    "DriverConfig",
    "DriverContext",
    "DriverError",
    "DriverFactory",
    "EdgeError",
    "EdgeSettings",
    "Emit",
    "GatewayConfig",
    "GpioOutputConfig",
    "Lane",
    "MqttOutputConfig",
    "Observation",
    "Outbox",
    "OutboxConfig",
    "OutboxDepth",
    "OutboxError",
    "OutboxWriteFailed",
    "OutputConfig",
    "Pending",
    "RemoteConfig",
    "Row",
    "SafetyConfig",
    "TlsConfig",
    "Trigger",
    "UplinkConfig",
    "UplinkStats",
    "load_config",
    "load_factory",
    "main",
    "parse_config",
    "run_edge",
]
