"""Feishu (飞书) group robot: ``{"msg_type": "text", "content": {"text": …}}``.

With a secret ("签名校验"), ``timestamp`` (seconds) and ``sign`` =
base64(HMAC-SHA256(key="<timestamp>\\n<secret>", msg=b"")) go in the JSON body. The answer is
``{"code": 0}`` (older deployments: ``{"StatusCode": 0}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ingest_server.notify._base import Notification
from ingest_server.notify._http import SignedRobotChannel

__all__ = ["FeishuNotifier", "feishu_sign"]


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign`` body field: the key is "<timestamp>\\n<secret>", the message empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuNotifier(SignedRobotChannel):
    async def send(self, notification: Notification) -> None:
        body: dict[str, object] = {"msg_type": "text", "content": {"text": notification.text}}
        if self.secret:
            timestamp = int(self.clock.now().timestamp())
            body["timestamp"] = str(timestamp)
            body["sign"] = feishu_sign(self.secret, timestamp)
        self.check_code(await self.post_json(self.url, body), "code", "StatusCode")
