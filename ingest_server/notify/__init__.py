"""Alert notifications: one module per channel behind the :class:`Notifier` protocol, and a
:class:`Dispatcher` that routes alert events to channels with reminders, escalation and
per-channel retrying queues.

Channels: MQTT (``linli/v1/{site}/alerts``), generic webhook (JSON, optionally signed), WeCom,
DingTalk and Feishu group robots, e-mail (SMTP), server-sent events (in-process broadcaster).

Webhook-style channels never reach internal addresses unless the settings' ``url_allow_list``
names them (see ``_guard.py``).

Errors::

    NotifyError
     ├── DeliveryFailed     one notification did not get through (``retryable`` or not)
     └── UrlRefused         a channel URL targets an internal address not on the allow-list
"""

from ingest_server.notify._base import (
    ChannelStats,
    DeliveryFailed,
    Notification,
    NotificationKind,
    Notifier,
    NotifyError,
    render,
)
from ingest_server.notify._dingtalk import DingTalkNotifier, dingtalk_sign
from ingest_server.notify._dispatcher import Dispatcher
from ingest_server.notify._email import EmailNotifier
from ingest_server.notify._feishu import FeishuNotifier, feishu_sign
from ingest_server.notify._guard import UrlGuard, UrlRefused, internal_reason
from ingest_server.notify._mqtt import MqttNotifier
from ingest_server.notify._settings import (
    ChannelConfig,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    MqttChannel,
    NotifySettings,
    Route,
    SseChannel,
    WebhookChannel,
    WeComChannel,
    build_channels,
)
from ingest_server.notify._sse import SseBroadcaster, SseMessage, Subscription
from ingest_server.notify._webhook import WebhookNotifier, webhook_signature
from ingest_server.notify._wecom import WeComNotifier
from ingest_server.notify._worker import ChannelWorker, RetryPolicy

__all__ = [
    "ChannelConfig",
    "ChannelStats",
    "ChannelWorker",
    "DeliveryFailed",
    "DingTalkChannel",
    "DingTalkNotifier",
    "Dispatcher",
    "EmailChannel",
    "EmailNotifier",
    "FeishuChannel",
    "FeishuNotifier",
    "MqttChannel",
    "MqttNotifier",
    "Notification",
    "NotificationKind",
    "Notifier",
    "NotifyError",
    "NotifySettings",
    "RetryPolicy",
    "Route",
    "SseBroadcaster",
    "SseChannel",
    "SseMessage",
    "Subscription",
    "UrlGuard",
    "UrlRefused",
    "WeComChannel",
    "WeComNotifier",
    "WebhookChannel",
    "WebhookNotifier",
    "build_channels",
    "dingtalk_sign",
    "feishu_sign",
    "internal_reason",
    "render",
    "webhook_signature",
]
