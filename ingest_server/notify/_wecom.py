"""WeCom (企业微信) group robot: ``{"msgtype": "markdown", "markdown": {"content": …}}``.

No signature: the ``key`` in the webhook URL is the secret. The answer is ``{"errcode": 0}``.
"""

from __future__ import annotations

from ingest_server.notify._base import Notification
from ingest_server.notify._guard import UrlGuard
from ingest_server.notify._http import HttpChannel, markdown

__all__ = ["WeComNotifier"]

# WeCom rejects markdown content over 4096 bytes; 1300 characters of 3-byte CJK stay under it.
_MAX_CHARS = 1300


class WeComNotifier(HttpChannel):
    def __init__(
        self, name: str, url: str, *, timeout_s: float = 10.0, url_guard: UrlGuard | None = None
    ) -> None:
        super().__init__(name, url, timeout_s=timeout_s, url_guard=url_guard)

    async def send(self, notification: Notification) -> None:
        body = {"msgtype": "markdown", "markdown": {"content": markdown(notification)[:_MAX_CHARS]}}
        self.check_code(await self.post_json(self.url, body), "errcode")
