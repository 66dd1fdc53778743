"""Server-sent events for the dashboard: an in-process broadcaster with one bounded queue per
subscriber. Sending never waits: a subscriber that cannot keep up loses its oldest events (and
the count is kept), and no subscriber ever holds up another or the dispatcher."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

from ingest_server.notify._base import Notification

__all__ = ["SseBroadcaster", "SseMessage", "Subscription"]

log = logging.getLogger(__name__)

# 256 events: minutes of a busy site's alert traffic; a browser tab that falls further behind
# reloads the alert list anyway.
_QUEUE_SIZE = 256


@dataclass(frozen=True)
class SseMessage:
    event: str
    id: str
    data: str
    site: str | None = None

    def frame(self) -> str:
        """The message as an SSE frame (``data`` is one line of JSON)."""
        return f"id: {self.id}\nevent: {self.event}\ndata: {self.data}\n\n"


class Subscription:
    """One subscriber's queue. Use as ``async with``; iterate, or ``await get()``."""

    def __init__(
        self, owner: SseBroadcaster, size: int, sites: frozenset[str] | None = None
    ) -> None:
        self._owner = owner
        # None: every site's alerts; otherwise only these sites'.
        self.sites = sites
        self._queue: asyncio.Queue[SseMessage | None] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def offer(self, message: SseMessage | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    async def get(self) -> SseMessage:
        message = await self._queue.get()
        if message is None:
            raise StopAsyncIteration
        return message

    def __aiter__(self) -> AsyncIterator[SseMessage]:
        return self

    async def __anext__(self) -> SseMessage:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        _t: type[BaseException] | None,
        _e: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._owner.unsubscribe(self)


class SseBroadcaster:
    """A notifier whose "send" hands the event to every current subscriber. Loop thread only."""

    def __init__(self, name: str = "sse", queue_size: int = _QUEUE_SIZE) -> None:
        self.name = name
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._next_id = 0
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, sites: frozenset[str] | None = None) -> Subscription:
        subscription = Subscription(self, self.queue_size, sites)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        self.dropped += subscription.dropped

    async def start(self) -> None:
        return None

    async def send(self, notification: Notification) -> None:
        self._next_id += 1
        message = SseMessage(
            event=notification.kind.value,
            id=str(self._next_id),
            data=json.dumps(notification.payload(), ensure_ascii=False),
            site=notification.alert.site,
        )
        for subscription in list(self._subscribers):
            if subscription.sites is None or message.site in subscription.sites:
                subscription.offer(message)

    async def aclose(self) -> None:
        """End every subscriber's stream."""
        for subscription in list(self._subscribers):
            subscription.offer(None)
