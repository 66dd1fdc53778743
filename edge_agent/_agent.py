"""The agent: drivers → validation → outbox commit → local safety → uplink.

Tasks (owned by one TaskGroup in :meth:`Agent.run`): ``ingest`` (commits observations in small
groups and acts on alarms), ``commands`` (``down/cmd`` and ``down/config``), one supervisor per
driver, and a watch per alarm episode for fire doors left open. The uplink runs in its own
thread (see :mod:`edge_agent._uplink`); SQLite work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from edge_agent._config import DeviceConfig, GatewayConfig, RemoteConfig, Trigger
from edge_agent._driver import Driver, DriverContext, Observation, load_factory
from edge_agent._errors import ConfigError, DriverError, OutboxError, OutboxWriteFailed
from edge_agent._outbox import Lane, Outbox, Pending
from edge_agent._outputs import Output, build_output
from edge_agent._safety import SafetyMonitor
from edge_agent._uplink import Uplink, UplinkStats
from protocol import (
    Clock,
    Command,
    CommandName,
    GatewayState,
    GatewayStatus,
    ProtocolError,
    Reading,
    SystemClock,
    decode,
    is_alarm_class,
)

__all__ = ["Agent", "AgentStats"]

log = logging.getLogger(__name__)

SOFTWARE = "linli-edge/0.1.0"
# Observations committed in one transaction at most: amortises the fsync of a burst while
# keeping one commit (and the delay of the alarm in it) short.
_GROUP = 500
# How long plain telemetry waits in memory to share a commit. Devices report one at a time
# (100 devices at 1 Hz is a reading every 10 ms); a commit and a worker-thread hand-off each
# cost more than the reading itself, so one commit per 25 readings instead of per reading cuts
# the agent's CPU several-fold. It adds at most this to a reading's delivery, beside the
# uplink's own batch_linger_s (1 s by default). Anything that may be an alarm, or drive a local
# output, is committed at once and takes what waits with it.
_TELEMETRY_LINGER_S = 0.25
_READING: TypeAdapter[Reading] = TypeAdapter(Reading)
# Telemetry rows deleted to make room for each alarm when the disk is full: an alarm row is a
# few hundred bytes, a SQLite page 4 KiB; 50 small rows free at least a few pages.
_SHED_PER_ALARM = 50
_REMOTE_CONFIG_KEY = "remote_config"
# A valid id to validate with before the outbox assigns the real one.
_PLACEHOLDER_ID = "0"


@dataclass
class AgentStats:
    """Counters of the agent (the uplink keeps its own in ``Agent.uplink_stats``)."""

    observations: int = 0
    invalid: int = 0
    committed: int = 0
    commits: int = 0
    alarms: int = 0
    commit_failures: int = 0
    late_emits: int = 0
    bad_commands: int = 0
    bad_configs: int = 0
    driver_restarts: int = 0
    local_actions: int = 0


def _truncate(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Agent:
    """One gateway's agent. Build it with a validated config; ``await run()``; ``stop()``."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: Clock | None = None,
        password: str | None = None,
        pin_factory: Any = None,
        source: str = "<config>",
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.stats = AgentStats()
        self._password = password if password is not None else _config_password(config, source)
        self._pin_factory = pin_factory
        self._devices: list[DeviceConfig] = list(config.devices)
        self.drivers: dict[str, Driver] = {}
        for index, spec in enumerate(config.drivers):
            field = f"drivers[{index}]"
            try:
                factory = load_factory(spec.factory)
            except DriverError as exc:
                raise ConfigError(str(exc), source=source, field=f"{field}.factory") from None
            context = DriverContext(
                name=spec.name,
                options=spec.options,
                devices=tuple(d for d in self._devices if d.driver == spec.name),
                clock=self.clock,
                extras={"gateway": config.gateway, "pin_factory": pin_factory},
            )
            try:
                driver = factory(context)
            except ValidationError as exc:
                err = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ConfigError(
                    err["msg"], source=source, field=f"{field}.options.{where}".rstrip(".")
                ) from None
            except (DriverError, ValueError, TypeError) as exc:
                raise ConfigError(str(exc), source=source, field=field) from None
            self.drivers[spec.name] = driver
        self._outbox: Outbox | None = None
        self._uplink: Uplink | None = None
        self._outputs: list[Output] = []
        self._safety: SafetyMonitor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Observations with the time they arrived, filled from any thread; ``_arrived`` and
        # ``_urgent`` are set (through the loop) when the ingest task must look at it.
        self._buffer: deque[tuple[Observation, datetime]] = deque()
        self._buffer_lock = threading.Lock()
        self._wake_sent = False
        self._urgent_sent = False
        self._arrived = asyncio.Event()
        self._urgent = asyncio.Event()
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._stopping: asyncio.Event | None = None
        self._ready = asyncio.Event()
        self._started: datetime | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop_requested = False

    # --- public surface --------------------------------------------------------------------

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("the agent is not running")
        return self._outbox

    @property
    def outputs(self) -> Sequence[Output]:
        return tuple(self._outputs)

    @property
    def uplink_stats(self) -> UplinkStats:
        return self._uplink.stats if self._uplink else UplinkStats()

    @property
    def uplink_connected(self) -> bool:
        return self._uplink is not None and self._uplink.connected

    async def wait_ready(self) -> None:
        """Return once the outbox is open, the outputs built and the uplink started."""
        await self._ready.wait()

    def emit(self, observation: Observation) -> None:
        """Hand an observation to the agent; callable from any thread.

        The event loop is woken for the first observation of a batch and for each one that
        may be an alarm, not for every reading."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.stats.late_emits += 1
            log.warning("observation of %s arrived while the agent is stopped", observation.device)
            return
        urgent = not _plain_telemetry(observation.fields)
        arrived = self.clock.now()
        with self._buffer_lock:
            self._buffer.append((observation, arrived))
            urgent = urgent or len(self._buffer) >= _GROUP
            wake = not self._wake_sent or (urgent and not self._urgent_sent)
            self._wake_sent = True
            self._urgent_sent = self._urgent_sent or urgent
        if not wake:
            return
        try:
            loop.call_soon_threadsafe(self._wake, urgent)
        except RuntimeError:
            self.stats.late_emits += 1

    def _wake(self, urgent: bool) -> None:
        self._arrived.set()
        if urgent:
            self._urgent.set()

    def stop(self) -> None:
        """Ask :meth:`run` to finish; callable from any thread or a signal handler."""
        self._stop_requested = True
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)

    def silence(self, by: str | None = None) -> list[str]:
        """Silence the local sounder (a local button or ``down/cmd``); alarm records stay."""
        if self._safety is None:
            return []
        return self._safety.silence(self.clock.now(), by)

    def status(self) -> GatewayStatus:
        """The gateway's current status (birth message and heartbeat)."""
        depth = self.outbox.depth()
        now = self.clock.now()
        return GatewayStatus(
            gateway=self.config.gateway,
            state=GatewayState.ONLINE,
            ts=now,
            outbox_depth=depth.alarms + depth.telemetry,
            alarm_depth=depth.alarms,
            dropped=depth.dropped,
            uptime_s=max(0.0, (now - (self._started or now)).total_seconds()),
            software=SOFTWARE,
        )

    async def run(self) -> None:
        """Run until :meth:`stop`; then commit what was emitted, say offline and close."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._stop_requested:
            self._stopping.set()
        self._started = self.clock.now()
        self._outbox = await asyncio.to_thread(
            Outbox, self.config.outbox.path, max_bytes=self.config.outbox.max_bytes
        )
        stored = await asyncio.to_thread(self._outbox.get_meta, _REMOTE_CONFIG_KEY)
        if stored and self._remote_config(stored.encode()):
            log.info("using the device map of the last down/config until the uplink says more")
        try:
            for spec in self.config.outputs:
                self._outputs.append(
                    build_output(spec, gateway=self.config.gateway, pin_factory=self._pin_factory)
                )
            self._safety = SafetyMonitor(
                self.config.gateway,
                self._outputs,
                self._devices,
                timedelta(seconds=self.config.safety.door_close_grace_s),
            )
            self._uplink = Uplink(
                self.config,
                self._outbox,
                self.clock,
                password=self._password,
                status=self.status,
                on_config=lambda p: self._from_thread("config", p),
                on_command=lambda p: self._from_thread("cmd", p),
            )
            self._uplink.start()
            self._ready.set()
            async with asyncio.TaskGroup() as group:
                self._spawn(group, self._ingest(), "ingest")
                self._spawn(group, self._handle_inbox(), "commands")
                for name, driver in self.drivers.items():
                    self._spawn(group, self._supervise(name, driver), f"driver-{name}")
                self._group = group
                await self._stopping.wait()
                for task in list(self._tasks):
                    task.cancel()
            await self._drain()
        finally:
            if self._uplink is not None:
                await asyncio.to_thread(self._uplink.stop)
                self._uplink.close()
            for output in self._outputs:
                output.close()
            self._outbox.close()
            self._loop = None

    # --- internals -------------------------------------------------------------------------

    def _spawn(self, group: asyncio.TaskGroup, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = group.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _from_thread(self, kind: str, payload: bytes) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._inbox.put_nowait, (kind, payload))

    async def _supervise(self, name: str, driver: Driver) -> None:
        # Restart a failing driver with capped backoff: one bad driver must not stop the others.
        delay = 1.0
        while True:
            try:
                await driver.run(self.emit)
                log.info("driver %s finished", name)
                return
            except Exception:
                self.stats.driver_restarts += 1
                log.exception("driver %s failed; restarting in %.0f s", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    def _take(self) -> tuple[list[tuple[Observation, datetime]], bool]:
        """Up to one transaction's worth of what is buffered, and whether more is left. What is
        left stays buffered until taken, so a stop commits it (``_drain``)."""
        with self._buffer_lock:
            count = min(_GROUP, len(self._buffer))
            taken = [self._buffer.popleft() for _ in range(count)]
            more = bool(self._buffer)
            if not more:
                self._wake_sent = False
                self._urgent_sent = False
        if not more:
            # No await since the flags were reset: a wake-up sent by an emit after them runs
            # after these clears, so it is never lost.
            self._arrived.clear()
            self._urgent.clear()
        return taken, more

    async def _ingest(self) -> None:
        while True:
            await self._arrived.wait()
            if not self._urgent.is_set():
                try:
                    async with asyncio.timeout(_TELEMETRY_LINGER_S):
                        await self._urgent.wait()
                except TimeoutError:
                    pass
            more = True
            while more:
                group, more = self._take()
                accepting = asyncio.ensure_future(self._accept(group))
                try:
                    await asyncio.shield(accepting)
                except asyncio.CancelledError:
                    # Stopping: finish the commit in hand (its thread would anyway), so that
                    # its rows are counted and what _drain commits next comes after them.
                    try:
                        await accepting
                    except Exception:
                        log.exception("ingest of %d observations failed on stop", len(group))
                    raise
                except Exception:
                    log.exception("ingest of %d observations failed; carrying on", len(group))

    async def _drain(self) -> None:
        more = True
        while more:
            group, more = self._take()
            await self._accept(group)

    async def _accept(self, group: Sequence[tuple[Observation, datetime]]) -> None:
        """Validate, commit, then act: the commit comes first, the actions happen regardless."""
        assert self._safety is not None
        assert self._outbox is not None
        safety = self._safety
        pending: list[Pending] = []
        actions: list[tuple[Reading, Trigger, tuple[str, ...], datetime]] = []
        watch = False
        for obs, now in group:
            self.stats.observations += 1
            fields = safety.enrich(obs.device, obs.fields, now)
            try:
                reading = _READING.validate_python(
                    {**fields, "id": _PLACEHOLDER_ID, "device": obs.device, "ts": obs.ts or now}
                )
            except ValidationError as exc:
                self.stats.invalid += 1
                err = exc.errors(include_url=False)[0]
                log.warning(
                    "driver value refused: device %s, %s: %s; fields %s",
                    _truncate(obs.device, 80),
                    ".".join(str(p) for p in err["loc"]),
                    err["msg"],
                    _truncate(dict(obs.fields)),
                )
                continue
            trigger, names, started = safety.assess(reading)
            watch = watch or started
            if trigger is not None:
                actions.append((reading, trigger, names, now))
            lane = Lane.ALARM if is_alarm_class(reading) else Lane.TELEMETRY
            pending.append(Pending(lane, reading.device, _builder(reading), names))
        try:
            if pending:
                stored, _ = await asyncio.to_thread(self._outbox.commit, pending)
                if self._uplink is not None:
                    self._uplink.notify()
                self.stats.commits += 1
                self.stats.committed += len(stored)
                self.stats.alarms += sum(1 for _, row in stored if row.lane is Lane.ALARM)
        except OutboxWriteFailed as exc:
            alarms = [p for p in pending if p.lane is Lane.ALARM]
            log.error("%d readings not accepted: %s", len(pending), exc)
            saved = await asyncio.to_thread(self._rescue, alarms) if alarms else 0
            if saved and self._uplink is not None:
                self._uplink.notify()
            self.stats.commit_failures += len(pending) - saved
            self.stats.committed += saved
            self.stats.alarms += saved
        finally:
            for reading, trigger, names, now in actions:
                safety.act(trigger, names, reading.device, now)
                self.stats.local_actions += len(names)
            stopping = self._stopping is not None and self._stopping.is_set()
            if watch and self._group is not None and not stopping:
                self._spawn(self._group, self._watch_doors(), "fire-door-watch")

    def _rescue(self, alarms: list[Pending]) -> int:
        """After a failed commit, make room by shedding the oldest telemetry and commit the
        alarms alone; returns how many were saved."""
        assert self._outbox is not None
        try:
            self._outbox.shed(len(alarms) * _SHED_PER_ALARM)
            stored, _ = self._outbox.commit(alarms)
        except OutboxError as exc:
            log.error("%d alarms could not be saved either: %s", len(alarms), exc)
            return 0
        log.warning("%d alarms saved by shedding old telemetry", len(stored))
        return len(stored)

    async def _watch_doors(self) -> None:
        grace = self.config.safety.door_close_grace_s
        await asyncio.sleep(grace / self.clock.speed)
        assert self._safety is not None
        for device, role in self._safety.overdue_doors(self.clock.now()).items():
            log.warning("fire door %s still open %.0f s into the alarm", device, grace)
            self.emit(
                Observation(device, {"kind": "door", "state": "open", "role": role, "fault": True})
            )

    async def _handle_inbox(self) -> None:
        while True:
            kind, payload = await self._inbox.get()
            try:
                if kind == "cmd":
                    await self._command(payload)
                elif self._remote_config(payload):
                    # Kept so that a gateway restarting without its uplink uses this map too.
                    await asyncio.to_thread(
                        self.outbox.set_meta, _REMOTE_CONFIG_KEY, payload.decode() or None
                    )
            except Exception:
                log.exception("handling %s %s failed; carrying on", kind, _truncate(payload))

    async def _command(self, payload: bytes) -> None:
        assert self._safety is not None
        try:
            command = decode(payload, Command, now=self.clock.now())
        except ProtocolError as exc:
            self.stats.bad_commands += 1
            log.warning("command refused (%s): %s; payload %s", exc.code, exc, _truncate(payload))
            return
        age = (self.clock.now() - command.issued_at).total_seconds()
        if age > self.config.safety.command_max_age_s:
            self.stats.bad_commands += 1
            log.warning(
                "command %s (%s) issued %.0f s ago is stale, ignored", command.cmd, command.id, age
            )
            return
        log.info(
            "command %s (%s) for %s by %s", command.cmd, command.id, command.device, command.by
        )
        if command.cmd is CommandName.SILENCE_SOUNDER:
            self.silence(command.by)
            return
        owners = [
            name
            for name in self.drivers
            if command.device is None
            or any(d.id == command.device and d.driver == name for d in self._devices)
        ]
        if not owners:
            self.stats.bad_commands += 1
            log.warning("self-test for unknown device %s ignored", command.device)
            return
        for name in owners:
            if not await self.drivers[name].self_test(command.device):
                log.warning("driver %s cannot start a self-test of %s", name, command.device)

    def _remote_config(self, payload: bytes) -> bool:
        """Apply a ``down/config`` payload; True if the device map changed. An empty payload
        (the retained config cleared) brings back the file's map."""
        if not payload:
            if self._devices == list(self.config.devices):
                return False
            self._apply_devices(list(self.config.devices))
            if self._safety is not None:
                self._safety.update_devices(self._devices)
            log.info("down/config cleared: back to the device map of the config file")
            return True
        try:
            remote = RemoteConfig.model_validate_json(payload)
            unknown = {d.driver for d in remote.devices} - set(self.drivers)
            if unknown:
                raise ValueError(f"unknown drivers {sorted(unknown)}")
        except (ValidationError, ValueError) as exc:
            self.stats.bad_configs += 1
            log.warning("down/config refused: %s; payload %s", exc, _truncate(payload))
            return False
        previous = self._devices
        try:
            self._apply_devices(list(remote.devices))
        except ValueError as exc:
            self.stats.bad_configs += 1
            log.warning("down/config refused by a driver: %s; keeping the map in force", exc)
            self._apply_devices(previous)
            return False
        if self._safety is not None:
            self._safety.update_devices(self._devices)
        log.info("device map updated from down/config: %d devices", len(self._devices))
        return True

    def _apply_devices(self, devices: list[DeviceConfig]) -> None:
        for name, driver in self.drivers.items():
            driver.update_devices([d for d in devices if d.driver == name])
        self._devices = devices

    _group: asyncio.TaskGroup | None = None


_FIRE_ROLES = frozenset({"fire_door", "fire_door_hold_open"})


def _plain_telemetry(fields: Mapping[str, Any]) -> bool:
    """True if these fields can neither be an alarm-class reading nor drive a local output
    (whatever the alarm state), so the reading may wait to share a commit. Anything not
    recognised here counts as urgent."""
    kind = fields.get("kind")
    if kind == "occupancy":
        return True
    if kind == "health":
        return fields.get("tamper") is None or fields.get("tamper") is False
    if kind == "smoke":
        return fields.get("state") in ("normal", "test")
    if kind == "door":
        # A fire door open during an alarm becomes a fault (alarm-class) in SafetyMonitor.enrich.
        fault = fields.get("fault")
        return (fault is None or fault is False) and (
            fields.get("state") == "closed" or fields.get("role") not in _FIRE_ROLES
        )
    return False


def _builder(reading: Reading) -> Callable[[str], bytes]:
    def build(reading_id: str) -> bytes:
        return (
            reading.model_copy(update={"id": reading_id})
            .model_dump_json(exclude_none=True)
            .encode()
        )

    return build


def _config_password(config: GatewayConfig, source: str) -> str | None:
    up = config.uplink
    if up.password is not None:
        return up.password.get_secret_value()
    if up.password_file is not None:
        try:
            return up.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the password file: {exc}", source=source, field="uplink.password_file"
            ) from None
    return None
