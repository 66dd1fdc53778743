"""Notification settings: channels (one model per channel type, chosen by ``type``) and routes.

The server's settings class nests :class:`NotifySettings` (e.g. as ``notify``, read from the
environment with a ``__`` nested delimiter or from a YAML/JSON file). Secrets are SecretStr.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ingest_server.alerts import AlertPublic
from ingest_server.notify._base import Notifier
from ingest_server.notify._dingtalk import DingTalkNotifier
from ingest_server.notify._email import EmailNotifier
from ingest_server.notify._feishu import FeishuNotifier
from ingest_server.notify._guard import UrlGuard, check_urls
from ingest_server.notify._mqtt import MqttNotifier
from ingest_server.notify._sse import SseBroadcaster
from ingest_server.notify._webhook import WebhookNotifier
from ingest_server.notify._wecom import WeComNotifier
from protocol import Clock, SystemClock
from rules.live import Severity

__all__ = [
    "ChannelConfig",
    "DingTalkChannel",
    "EmailChannel",
    "FeishuChannel",
    "MqttChannel",
    "NotifySettings",
    "Route",
    "SseChannel",
    "WeComChannel",
    "WebhookChannel",
    "build_channels",
]

_CONFIG = ConfigDict(frozen=True, extra="forbid")
ChannelName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]


class _Channel(BaseModel):
    model_config = _CONFIG

    name: ChannelName


class MqttChannel(_Channel):
    type: Literal["mqtt"] = "mqtt"
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str = "linli-alerts"
    username: str | None = None
    password: SecretStr | None = None


class WebhookChannel(_Channel):
    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    secret: SecretStr | None = Field(default=None, description="Signs X-Linli-Signature")


class WeComChannel(_Channel):
    type: Literal["wecom"] = "wecom"
    url: str = Field(pattern=r"^https?://", description="…/cgi-bin/webhook/send?key=…")


class DingTalkChannel(_Channel):
    type: Literal["dingtalk"] = "dingtalk"
    url: str = Field(pattern=r"^https?://", description="…/robot/send?access_token=…")
    secret: SecretStr | None = Field(default=None, description="The SEC… signing secret")


class FeishuChannel(_Channel):
    type: Literal["feishu"] = "feishu"
    url: str = Field(pattern=r"^https?://", description="…/open-apis/bot/v2/hook/…")
    secret: SecretStr | None = None


class EmailChannel(_Channel):
    type: Literal["email"] = "email"
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(min_length=3)
    recipients: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    tls: Literal["none", "starttls", "ssl"] = "starttls"


class SseChannel(_Channel):
    type: Literal["sse"] = "sse"


ChannelConfig = Annotated[
    MqttChannel
    | WebhookChannel
    | WeComChannel
    | DingTalkChannel
    | FeishuChannel
    | EmailChannel
    | SseChannel,
    Field(discriminator="type"),
]


class Route(BaseModel):
    """Who hears about which alerts, in which language, and how insistently."""

    model_config = _CONFIG

    name: ChannelName
    channels: tuple[ChannelName, ...] = Field(min_length=1)
    sites: tuple[str, ...] | None = Field(default=None, description="None: every site")
    min_severity: Severity = Severity.WARNING
    language: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = "Asia/Shanghai"
    remind_every_min: float | None = Field(
        default=None, gt=0, le=1440, description="Remind until acknowledged; None: never"
    )
    escalate_after_min: float | None = Field(default=None, gt=0, le=1440)
    escalate_to: str | None = Field(default=None, description="Route told after the delay")
    escalate_min_severity: Severity = Severity.CRITICAL
    notify_resolved: bool = True
    include_updates: bool = Field(
        default=False, description="Also counts, acknowledgements, notes (dashboards, displays)"
    )
    respect_silence: bool = True
    escalation_only: bool = Field(
        default=False, description="Only reached by escalation from another route"
    )

    def matches(self, alert: AlertPublic) -> bool:
        in_site = self.sites is None or alert.site in self.sites
        return in_site and alert.severity.at_least(self.min_severity)

    def remind_every_s(self, alert: AlertPublic) -> float | None:
        """The route's interval, shortened by the rule's own when the rule asks for more."""
        if self.remind_every_min is None:
            return None
        interval = self.remind_every_min * 60
        if alert.remind_every_s is not None:
            interval = min(interval, alert.remind_every_s)
        return interval


class NotifySettings(BaseModel):
    """Channels, routes and delivery policy."""

    model_config = _CONFIG

    channels: list[ChannelConfig] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    # 1000 per channel: hours of alert traffic for a city; beyond that the oldest go first.
    queue_size: int = Field(default=1000, ge=1, le=1_000_000)
    # 10 s: robot webhooks answer in well under a second; longer means the call is stuck.
    send_timeout_s: float = Field(default=10, gt=0, le=300)
    # 6 attempts with 1 s doubling to a 60 s cap: about a minute and a half of retrying.
    max_attempts: int = Field(default=6, ge=1, le=100)
    backoff_base_s: float = Field(default=1, ge=0, le=600)
    backoff_cap_s: float = Field(default=60, ge=0, le=3600)
    url_allow_list: tuple[str, ...] = Field(
        default=(),
        description="Host names, addresses or CIDRs that webhook-style channels may reach although "
        "they are internal (loopback, private, link-local…); public hosts need no entry",
    )

    @field_validator("url_allow_list")
    @classmethod
    def _valid_allow_list(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        UrlGuard(value)
        return value

    def url_guard(self) -> UrlGuard:
        """The guard every webhook-style channel checks its URL with."""
        return UrlGuard(self.url_allow_list)

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError("channel names must be unique")
        routes = {r.name for r in self.routes}
        if len(routes) != len(self.routes):
            raise ValueError("route names must be unique")
        for route in self.routes:
            unknown = set(route.channels) - set(names)
            if unknown:
                raise ValueError(f"route {route.name!r} names unknown channels {sorted(unknown)}")
            if route.escalate_to is not None and route.escalate_to not in routes:
                raise ValueError(f"route {route.name!r} escalates to unknown {route.escalate_to!r}")
            if (route.escalate_to is None) != (route.escalate_after_min is None):
                raise ValueError(
                    f"route {route.name!r}: escalate_to and escalate_after_min together"
                )
        http = (WebhookChannel, WeComChannel, DingTalkChannel, FeishuChannel)
        check_urls(
            self.url_guard(), [(c.name, c.url) for c in self.channels if isinstance(c, http)]
        )
        return self


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_channels(settings: NotifySettings, clock: Clock | None = None) -> dict[str, Notifier]:
    """One notifier per configured channel (not started: the Dispatcher starts them)."""
    clock = clock or SystemClock()
    timeout = settings.send_timeout_s
    guard = settings.url_guard()
    built: dict[str, Notifier] = {}
    for c in settings.channels:
        notifier: Notifier
        match c:
            case MqttChannel():
                notifier = MqttNotifier(
                    c.name,
                    c.host,
                    c.port,
                    client_id=c.client_id,
                    username=c.username,
                    password=_secret(c.password),
                    publish_timeout_s=timeout,
                )
            case WebhookChannel():
                notifier = WebhookNotifier(
                    c.name,
                    c.url,
                    headers=c.headers,
                    secret=_secret(c.secret),
                    timeout_s=timeout,
                    clock=clock,
                    url_guard=guard,
                )
            case WeComChannel():
                notifier = WeComNotifier(c.name, c.url, timeout_s=timeout, url_guard=guard)
            case DingTalkChannel():
                notifier = DingTalkNotifier(
                    c.name,
                    c.url,
                    secret=_secret(c.secret),
                    timeout_s=timeout,
                    clock=clock,
                    url_guard=guard,
                )
            case FeishuChannel():
                notifier = FeishuNotifier(
                    c.name,
                    c.url,
                    secret=_secret(c.secret),
                    timeout_s=timeout,
                    clock=clock,
                    url_guard=guard,
                )
            case EmailChannel():
                notifier = EmailNotifier(
                    c.name,
                    c.host,
                    c.port,
                    sender=c.sender,
                    recipients=c.recipients,
                    username=c.username,
                    password=_secret(c.password),
                    tls=c.tls,
                    timeout_s=timeout,
                )
            case SseChannel():
                notifier = SseBroadcaster(c.name)
        built[c.name] = notifier
    return built
