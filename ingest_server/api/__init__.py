"""HTTP API: one router module per resource."""

from fastapi import APIRouter

from ingest_server.api import (
    compliance,
    dead_letters,
    devices,
    gateways,
    health,
    inspections,
    occupancy,
    readings,
    rooms,
    sites,
    utilization,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    sites.router,
    rooms.router,
    gateways.router,
    devices.router,
    readings.router,
    occupancy.router,
    dead_letters.router,
    compliance.router,
    utilization.router,
    inspections.router,
)
