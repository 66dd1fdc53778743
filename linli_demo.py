"""``linli demo``: the whole system on one machine with nothing installed but the package.

An embedded broker (a local Mosquitto if one is on the PATH, else amqtt in-process), the server on
SQLite with the shipped registry of three centres, one real edge agent per gateway whose devices
are the simulator's device models on their day profiles, and a scenario now and then. Everything
shares one clock, accelerated by ``--speed``. This module only wires packages together.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn

from edge_agent import Agent, GatewayConfig
from firmware_sims import builtin, demo_registry, demo_registry_text
from firmware_sims.edge_driver import SimulatedDriver
from ingest_server import ServerSettings, create_app
from ingest_server.embedded_broker import EmbeddedBroker, free_port
from ingest_server.inspection_log import InspectionSettings
from protocol import Clock, ScaledClock, SystemClock
from rules import Registry, Site

__all__ = ["DemoOptions", "run_demo"]

log = logging.getLogger("linli.demo")

# The scenarios the demo plays in turn: each one shows an operator something within minutes.
SCENARIO_CYCLE = ("fire_drill", "door_propped_open", "lunch_over_capacity", "detector_silent")
# Centres open in the morning: a demo started at night jumps its clock to this local time so
# there are people to see.
MORNING = time(9, 30)


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    broker_port: int = 0
    broker: str = "auto"
    # Three times real time: the first scenario's alert shows within the first minute.
    speed: float = 3.0
    seed: int = 1
    # Simulated seconds between scenarios.
    scenario_every_s: float = 900.0
    run_for_s: float | None = None


def demo_start(now: datetime, zone: str = "Asia/Shanghai") -> datetime:
    """Where the demo's clock starts: now, unless the centres are closed, then this morning."""
    local = now.astimezone(ZoneInfo(zone))
    if time(8, 0) <= local.time() <= time(18, 0) and local.weekday() < 5:
        return now
    day = local.date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, MORNING, ZoneInfo(zone))


def gateway_configs(
    registry: Registry, data_dir: Path, broker_port: int, seed: int
) -> list[GatewayConfig]:
    """One edge-agent configuration per gateway of ``registry``, on the simulated driver."""
    configs = []
    for site in registry.sites:
        for gateway in site.gateways:
            configs.append(
                GatewayConfig.model_validate(
                    {
                        "gateway": gateway.id,
                        "site": site.id,
                        "heartbeat_s": 30,
                        "uplink": {"host": "127.0.0.1", "port": broker_port},
                        "outbox": {"path": data_dir / "edge" / f"{gateway.id}.db"},
                        "drivers": [
                            {
                                "name": "sim",
                                "factory": "firmware_sims.edge_driver:SimulatedDriver",
                                "options": {"registry": "demo", "seed": seed},
                            }
                        ],
                        "devices": [
                            {
                                "id": d.id,
                                "kind": d.kind.value,
                                "room": d.room,
                                "role": d.role.value if d.role else None,
                                "driver": "sim",
                            }
                            for d in gateway.devices
                        ],
                    }
                )
            )
    return configs


@contextlib.contextmanager
def _data_dir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        yield chosen
        return
    with tempfile.TemporaryDirectory(prefix="linli-demo-") as tmp:
        yield Path(tmp)


def _site_of(registry: Registry, index: int) -> Site:
    return registry.sites[index % len(registry.sites)]


async def _scenarios(
    agents: dict[str, Agent], registry: Registry, clock: Clock, every_s: float
) -> None:
    """Schedule the next scenario of the cycle on the next centre, every ``every_s`` sim seconds."""
    turn = 0
    await asyncio.sleep(5 / clock.speed)
    while True:
        name = SCENARIO_CYCLE[turn % len(SCENARIO_CYCLE)]
        site = _site_of(registry, turn)
        start = clock.now()
        # Every gateway of a centre simulates the whole centre; all get the scenario so their
        # worlds stay the same, and each publishes only its own devices.
        for gateway in site.gateways:
            driver = agents[gateway.id].drivers.get("sim")
            if isinstance(driver, SimulatedDriver) and driver.world is not None:
                driver.world.schedule(builtin(name, driver.world.fleet, start=start, site=site.id))
        print(f"  场景 scenario: {name} @ {site.name} ({site.id})", flush=True)
        turn += 1
        await asyncio.sleep(every_s / clock.speed)


@dataclass(frozen=True)
class DemoCredentials:
    username: str
    password: str
    secret_key: str


def demo_credentials(data_dir: Path) -> DemoCredentials:
    """The demo's admin and secret key: made once per data directory (0600), then reused, so a
    restarted demo keeps its users and a verifiable audit log."""
    path = data_dir / "credentials.json"
    if path.exists():
        return DemoCredentials(**json.loads(path.read_text(encoding="utf-8")))
    made = DemoCredentials("admin", secrets.token_urlsafe(12), secrets.token_urlsafe(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(dataclasses.asdict(made), out)
    return made


async def run_demo(options: DemoOptions) -> int:
    """Run the demo until Ctrl-C (or ``run_for_s`` real seconds)."""
    registry = demo_registry()
    clock = ScaledClock(demo_start(SystemClock().now()), speed=options.speed)
    with _data_dir(options.data_dir) as data_dir:
        broker = EmbeddedBroker(
            data_dir / "broker",
            port=options.broker_port or free_port(),
            prefer=options.broker,  # type: ignore[arg-type]
        )
        broker.start()
        try:
            credentials = demo_credentials(data_dir)
            registry_path = data_dir / "registry.yaml"
            registry_path.write_text(demo_registry_text(), encoding="utf-8")
            settings = ServerSettings(
                _env_file=None,
                mqtt_host=broker.host,
                mqtt_port=broker.port,
                mqtt_client_id="linli-demo-server",
                records_url=f"sqlite:///{data_dir / 'records.db'}",
                sqlite_path=data_dir / "telemetry.db",
                influx_spool_path=data_dir / "influx-spool.db",
                registry_path=registry_path,
                http_host=options.http_host,
                http_port=options.http_port,
                demo=True,
                secret_key=credentials.secret_key,
                admin_username=credentials.username,
                admin_password=credentials.password,
                # A week: a demo left open in a browser stays signed in at any clock speed.
                session_ttl_s=7 * 86_400,
            )
            app = create_app(
                settings,
                clock=clock,
                inspection=InspectionSettings(
                    _env_file=None,
                    reports_dir=data_dir / "reports",
                ),
            )
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host=options.http_host,
                    port=options.http_port,
                    log_level="warning",
                    timeout_graceful_shutdown=3,
                )
            )
            return await _serve(options, server, registry, clock, data_dir, broker, credentials)
        finally:
            broker.stop()


async def _serve(
    options: DemoOptions,
    server: uvicorn.Server,
    registry: Registry,
    clock: ScaledClock,
    data_dir: Path,
    broker: EmbeddedBroker,
    credentials: DemoCredentials,
) -> int:
    serving = asyncio.create_task(server.serve(), name="http")
    while not server.started:
        if serving.done():
            await serving
            print("linli demo: the server did not start", flush=True)
            return 1
        await asyncio.sleep(0.05)

    agents = {
        c.gateway: Agent(c, clock=clock)
        for c in gateway_configs(registry, data_dir, broker.port, options.seed)
    }
    url = f"http://{options.http_host}:{options.http_port}"
    print(
        "\n".join(
            [
                "",
                "Linli 邻里 demo",
                f"  仪表盘 dashboard:  {url}/",
                f"  登录 sign in:      {credentials.username} / {credentials.password}"
                f"  (admin; {url}/ui/signin)",
                f"  接口 API docs:     {url}/docs",
                f"  代理 broker:       {broker.kind} on {broker.host}:{broker.port}",
                f"  中心 centres:      {', '.join(s.name for s in registry.sites)}",
                f"  网关 gateways:     {len(agents)} edge agents, simulated devices",
                f"  时钟 clock:        starts {clock.start.isoformat()} at {clock.speed:g}× speed",
                f"  数据 data:         {data_dir}",
                "  Press Ctrl-C to stop. 按 Ctrl-C 停止。",
                "",
            ]
        ),
        flush=True,
    )
    async with asyncio.TaskGroup() as group:
        runs = [group.create_task(a.run(), name=f"edge-{g}") for g, a in agents.items()]
        scenarios = group.create_task(
            _scenarios(agents, registry, clock, options.scenario_every_s), name="scenarios"
        )
        if options.run_for_s is not None:
            await asyncio.wait([serving], timeout=options.run_for_s)
            server.should_exit = True
        await serving
        scenarios.cancel()
        for agent in agents.values():
            agent.stop()
        await asyncio.gather(*runs, return_exceptions=True)
    print("linli demo: stopped", flush=True)
    return 0
