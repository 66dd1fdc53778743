"""Shared HTTP plumbing of the webhook-style channels (httpx)."""

from __future__ import annotations

from typing import Any

import httpx

from ingest_server.notify._base import DeliveryFailed, Notification
from protocol import Clock, SystemClock

__all__ = ["HttpChannel", "markdown"]

# Statuses worth retrying: the server is busy or broken, not our request.
_RETRYABLE = {408, 425, 429}


class HttpChannel:
    """Owns one ``httpx.AsyncClient``; posts JSON and maps failures to DeliveryFailed."""

    name: str

    def __init__(self, name: str, *, timeout_s: float = 10.0) -> None:
        self.name = name
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post_json(
        self,
        url: str,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        # httpx's params= would replace the query the robot URL already carries (its token).
        target = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
        try:
            if content is not None:
                response = await self._client.post(target, content=content, headers=headers)
            else:
                response = await self._client.post(target, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(self.name, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            retryable = response.status_code >= 500 or response.status_code in _RETRYABLE
            raise DeliveryFailed(
                self.name,
                f"HTTP {response.status_code}: {response.text[:200]}",
                retryable=retryable,
            )
        return response

    def check_code(self, response: httpx.Response, *keys: str) -> None:
        """Robot APIs answer 200 with an error code in the body; 0 means delivered."""
        try:
            data = response.json()
        except ValueError:
            raise DeliveryFailed(self.name, f"not JSON: {response.text[:200]}") from None
        if not isinstance(data, dict):
            raise DeliveryFailed(self.name, f"unexpected answer: {response.text[:200]}")
        for key in keys:
            if key in data:
                if data[key] == 0:
                    return
                message = data.get("errmsg") or data.get("msg") or data.get("StatusMessage")
                # A wrong signature, keyword or token will not fix itself by retrying.
                raise DeliveryFailed(
                    self.name, f"{key}={data[key]}: {str(message)[:200]}", retryable=False
                )
        raise DeliveryFailed(self.name, f"no result code in {response.text[:200]}")


def markdown(notification: Notification) -> str:
    """The notification's text as robot markdown: a bold title, the rest quoted."""
    title, *rest = notification.text.split("\n")
    return "\n".join([f"**{title}**", *(f"> {line}" for line in rest)])


class SignedRobotChannel(HttpChannel):
    """A group-robot webhook with an optional signing secret; signatures need the clock."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, timeout_s=timeout_s)
        self.url = url
        self.secret = secret
        self.clock = clock or SystemClock()
