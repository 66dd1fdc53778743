"""Generic webhook: the notification as JSON, optionally signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json

from ingest_server.notify._base import Notification
from ingest_server.notify._guard import UrlGuard
from ingest_server.notify._http import HttpChannel
from protocol import Clock, SystemClock

__all__ = ["WebhookNotifier", "webhook_signature"]


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>." + body), as sent in
    ``X-Linli-Signature``; receivers recompute it and reject old timestamps."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier(HttpChannel):
    """POSTs ``Notification.payload()``; any 2xx is delivered."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        secret: str | None = None,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        url_guard: UrlGuard | None = None,
    ) -> None:
        super().__init__(name, url, timeout_s=timeout_s, url_guard=url_guard)
        self.headers = dict(headers or {})
        self.secret = secret
        self.clock = clock or SystemClock()

    async def send(self, notification: Notification) -> None:
        body = json.dumps(notification.payload(), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", **self.headers}
        if self.secret:
            timestamp = str(int(self.clock.now().timestamp()))
            headers["X-Linli-Timestamp"] = timestamp
            headers["X-Linli-Signature"] = webhook_signature(self.secret, timestamp, body)
        await self.post_json(self.url, None, headers=headers, content=body)
