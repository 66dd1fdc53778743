"""The gateway configuration: one TOML file, validated once, frozen inside.

:func:`load_config` reads the file and turns every problem into a :class:`ConfigError` that
names the file, the field (``devices[2].kind``) and, where it can be found, the line.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from edge_agent._errors import ConfigError
from protocol import DoorRole, Id, valid_publish_topic

__all__ = [
    "DeviceConfig",
    "DeviceKind",
    "DriverConfig",
    "GatewayConfig",
    "GpioOutputConfig",
    "MqttOutputConfig",
    "OutboxConfig",
    "OutputConfig",
    "RemoteConfig",
    "SafetyConfig",
    "TlsConfig",
    "Trigger",
    "UplinkConfig",
    "load_config",
    "parse_config",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Param = str | int | float | bool


class DeviceKind(enum.StrEnum):
    """The same vocabulary as the facility registry (rules.facility.DeviceKind)."""

    SMOKE = "smoke"
    HEAT = "heat"
    DOOR = "door"
    COUNTER = "counter"
    PRESENCE = "presence"


class Trigger(enum.StrEnum):
    SMOKE = "smoke"  # a smoke or heat detector in alarm (never a test)
    FIRE_DOOR = "fire_door"  # a fire door still open after the grace period of an alarm


class TlsConfig(BaseModel):
    model_config = _FROZEN

    ca_file: Path | None = Field(default=None, description="CA bundle; system CAs if absent")
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file come together")
        return self


class UplinkConfig(BaseModel):
    """The MQTT broker the gateway reports to. The username is always the gateway id."""

    model_config = _FROZEN

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    password: SecretStr | None = None
    password_file: Path | None = None
    tls: TlsConfig | None = None
    # Mosquitto notices a dead gateway after 1.5 x keepalive; 30 s keeps the Last Will prompt
    # without waking a cellular modem too often.
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    # Capped, jittered exponential backoff between connection attempts.
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class OutboxConfig(BaseModel):
    model_config = _FROZEN

    path: Path
    # 64 MiB holds about a day of 100 devices reporting every second (about 200 B a reading)
    # and is small beside a Pi's SD card.
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=4096)
    # Unacknowledged publishes at once: enough to fill a link with a 1 s round trip at the
    # replay rate, far below paho's 65,535 message ids and the broker's in-flight queue.
    window: int = Field(default=200, ge=2, le=10_000)
    # Backlog telemetry batches per second (each up to 500 readings): an hour of 100 devices
    # drains in well under a minute without starving the broker or the Pi's CPU.
    replay_rate: float = Field(default=20.0, gt=0, le=10_000)
    # Live telemetry waits up to this long to share a batch; alarms never wait.
    batch_linger_s: float = Field(default=1.0, ge=0, le=60)
    # A publish not acknowledged within this time is sent again (the server dedupes by id).
    ack_timeout_s: float = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.window < 2:
            raise ValueError("window must leave room for alarms")
        return self


class SafetyConfig(BaseModel):
    model_config = _FROZEN

    # RULES.md door.not_released: a fire door still open 10 s into an alarm is a fault.
    door_close_grace_s: float = Field(default=10.0, ge=0, le=600)
    # Commands wait in the broker while the gateway is offline; a silence issued ten minutes
    # ago must not silence an alarm that started since.
    command_max_age_s: float = Field(default=600.0, gt=0, le=86_400)


class GpioOutputConfig(BaseModel):
    """A relay (sounder, strobe) on a GPIO pin."""

    model_config = _FROZEN

    type: Literal["gpio"] = "gpio"
    name: Id
    pin: int | str
    active_high: bool = True
    on: frozenset[Trigger] = frozenset({Trigger.SMOKE, Trigger.FIRE_DOOR})
    silenceable: bool = True


class MqttOutputConfig(BaseModel):
    """A message to a display on the local broker."""

    model_config = _FROZEN

    type: Literal["mqtt"] = "mqtt"
    name: Id
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str
    on: frozenset[Trigger] = frozenset({Trigger.SMOKE, Trigger.FIRE_DOOR})
    silenceable: bool = False

    @model_validator(mode="after")
    def _topic(self) -> Self:
        valid_publish_topic(self.topic)
        return self


OutputConfig = Annotated[GpioOutputConfig | MqttOutputConfig, Field(discriminator="type")]


class DriverConfig(BaseModel):
    """A driver instance: a factory loaded by dotted name (``package.module:Class``)."""

    model_config = _FROZEN

    name: Id
    factory: str = Field(pattern=r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")
    options: Mapping[str, Any] = Field(default_factory=dict)


class DeviceConfig(BaseModel):
    """One device in the gateway's device map."""

    model_config = _FROZEN

    id: Id
    kind: DeviceKind
    room: Id | None = None
    role: DoorRole | None = Field(default=None, description="For door contacts")
    driver: Id
    address: str | None = Field(
        default=None,
        max_length=200,
        description="Driver-specific: Zigbee2MQTT friendly name, GPIO pin; the id if absent",
    )
    params: Mapping[str, Param] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind is DeviceKind.DOOR and self.role is None:
            raise ValueError("a door contact needs a role")
        if self.kind is not DeviceKind.DOOR and self.role is not None:
            raise ValueError("only door contacts have a role")
        return self

    @property
    def key(self) -> str:
        """The driver's address of the device (the id unless an address is given)."""
        return self.address if self.address is not None else self.id


def _unique(items: list[Any], what: str, key: str) -> None:
    seen: set[str] = set()
    for item in items:
        value = getattr(item, key)
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


class GatewayConfig(BaseModel):
    """The whole gateway configuration."""

    model_config = _FROZEN

    gateway: Id
    site: Id
    uplink: UplinkConfig
    outbox: OutboxConfig
    # Heartbeats double as the gateway.offline rule's input; 60 s with a 3x timeout flags a
    # dead gateway within minutes without flooding a city broker.
    heartbeat_s: float = Field(default=60.0, ge=1, le=3600)
    safety: SafetyConfig = SafetyConfig()
    drivers: list[DriverConfig] = Field(min_length=1)
    devices: list[DeviceConfig] = Field(default_factory=list)
    # An AlarmEvent lists at most 16 actions.
    outputs: list[OutputConfig] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique(self.drivers, "driver", "name")
        _unique(self.devices, "device", "id")
        _unique(list(self.outputs), "output", "name")
        names = {d.name for d in self.drivers}
        for device in self.devices:
            if device.driver not in names:
                raise ValueError(
                    f"device {device.id!r} names driver {device.driver!r}, which is not in "
                    f"[[drivers]] ({', '.join(sorted(names))})"
                )
        return self


class RemoteConfig(BaseModel):
    """The retained ``down/config`` payload: a new device map."""

    model_config = _FROZEN

    v: Literal[1] = 1
    devices: list[DeviceConfig]

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique(self.devices, "device", "id")
        return self


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\".]+)\s*=")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in text.split("."))


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Line of each table header and key, by path (array tables indexed)."""
    lines: dict[tuple[str | int, ...], int] = {}
    counts: dict[tuple[str, ...], int] = {}
    current: tuple[str | int, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            parts = _split_key(header.group(2))
            path: list[str | int] = []
            for i in range(len(parts)):
                path.append(parts[i])
                prefix = parts[: i + 1]
                is_last = i == len(parts) - 1
                if header.group(1) == "[[" and is_last:
                    counts[prefix] = counts.get(prefix, -1) + 1
                    path.append(counts[prefix])
                elif prefix in counts:
                    path.append(counts[prefix])
            current = tuple(path)
            lines.setdefault(current, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault(current + _split_key(key.group(1)), number)
    return lines


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"gpio", "mqtt"}:
            continue  # the discriminator's branch
        else:
            out += f".{part}" if out else part
    return out


def _line_of(loc: tuple[int | str, ...], lines: Mapping[tuple[str | int, ...], int]) -> int | None:
    path = tuple(p for p in loc if p not in {"gpio", "mqtt"})
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _error_from_validation(exc: ValidationError, source: str, text: str) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    message = err["msg"] if err["type"] != "missing" else "required field is missing"
    if err["type"] not in {"missing", "value_error"} and "input" in err:
        shown = repr(err["input"])
        message += f" (got {shown[:80]})"
    more = len(exc.errors()) - 1
    if more:
        message += f"; and {more} more problem{'s' if more > 1 else ''}"
    return ConfigError(
        message, source=source, field=_field(loc), line=_line_of(loc, _key_lines(text))
    )


def parse_config(text: str, source: str = "<config>") -> GatewayConfig:
    """Parse and validate TOML ``text``; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"not valid TOML: {exc}",
            source=source,
            line=int(match.group(1)) if match else None,
        ) from None
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise _error_from_validation(exc, source, text) from None


def load_config(path: Path) -> GatewayConfig:
    """Read and validate the gateway config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=path) from None
    config = parse_config(text, str(path))
    if config.outbox.path.is_absolute():
        return config
    # A relative outbox path is relative to the config file, not to the working directory.
    outbox = config.outbox.model_copy(update={"path": path.parent / config.outbox.path})
    return config.model_copy(update={"outbox": outbox})
