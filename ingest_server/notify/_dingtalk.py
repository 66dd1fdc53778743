"""DingTalk (钉钉) group robot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``.

With a secret ("加签"), ``timestamp`` (milliseconds) and ``sign`` =
base64(HMAC-SHA256(key=secret, msg="<timestamp>\\n<secret>")), URL-encoded, go in the query
string; DingTalk refuses timestamps more than an hour off. The answer is ``{"errcode": 0}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ingest_server.notify._base import Notification
from ingest_server.notify._http import SignedRobotChannel, markdown

__all__ = ["DingTalkNotifier", "dingtalk_sign"]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` query parameter (before URL encoding, which httpx does)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkNotifier(SignedRobotChannel):
    async def send(self, notification: Notification) -> None:
        body = {
            "msgtype": "markdown",
            "markdown": {"title": notification.title[:64], "text": markdown(notification)},
        }
        params: dict[str, str] | None = None
        if self.secret:
            timestamp = int(self.clock.now().timestamp() * 1000)
            params = {"timestamp": str(timestamp), "sign": dingtalk_sign(self.secret, timestamp)}
        self.check_code(await self.post_json(self.url, body, params=params), "errcode")
