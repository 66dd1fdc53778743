"""Simulated devices, day profiles, scenarios, fleet runner and the accelerated clock.

Typical use::

    fleet = Fleet(demo_registry(), start=clock.now(), seed=7)
    sink = MqttSink(MqttOptions(host, port))
    runner = FleetRunner(fleet, sink, clock)           # clock: protocol.ScaledClock
    runner.schedule(builtin("fire_drill", fleet))
    runner.run(stop=stop_event)
"""

from firmware_sims._demo import demo_registry, demo_registry_text
from firmware_sims._errors import FleetError, ScenarioError, SimError, TransportError, UnknownTarget
from firmware_sims._world import EvacuationRecord, FireKind
from firmware_sims.clock import AnchoredClock
from firmware_sims.events import (
    BrokerRestart,
    Event,
    GatewayRef,
    Heartbeat,
    Offline,
    Online,
    Publish,
    Raw,
    Sink,
    published_readings,
)
from firmware_sims.feed import GatewayFeed
from firmware_sims.fleet import DEFAULT_MAX_STEP, Fleet, generate_registry, load_registry
from firmware_sims.hostile import HOSTILE_LABELS, HostilePayload, hostile_payloads
from firmware_sims.mqtt import MqttOptions, MqttSink
from firmware_sims.profiles import PROFILES, DayProfile, capacity_of, expected_occupancy
from firmware_sims.runner import FleetRunner, Progress, RunStats
from firmware_sims.scenarios import (
    BUILTIN_SCENARIOS,
    Expectation,
    Scenario,
    builtin,
    load_scenario,
    load_scenario_file,
)
from firmware_sims.sinks import MemorySink

__all__ = [
    "BUILTIN_SCENARIOS",
    "DEFAULT_MAX_STEP",
    "HOSTILE_LABELS",
    "PROFILES",
    "AnchoredClock",
    "BrokerRestart",
    "DayProfile",
    "EvacuationRecord",
    "Event",
    "Expectation",
    "FireKind",
    "Fleet",
    "FleetError",
    "FleetRunner",
    "GatewayFeed",
    "GatewayRef",
    "Heartbeat",
    "HostilePayload",
    "MemorySink",
    "MqttOptions",
    "MqttSink",
    "Offline",
    "Online",
    "Progress",
    "Publish",
    "Raw",
    "RunStats",
    "Scenario",
    "ScenarioError",
    "SimError",
    "Sink",
    "TransportError",
    "UnknownTarget",
    "builtin",
    "capacity_of",
    "demo_registry",
    "demo_registry_text",
    "expected_occupancy",
    "generate_registry",
    "hostile_payloads",
    "load_registry",
    "load_scenario",
    "load_scenario_file",
    "published_readings",
]
