"""One queue and one task per channel: retries with capped, jittered backoff, so a slow or
failing channel only ever delays itself."""

from __future__ import annotations

import asyncio
import logging
import random

from ingest_server.notify._base import ChannelStats, DeliveryFailed, Notification, Notifier

__all__ = ["ChannelWorker", "RetryPolicy"]

log = logging.getLogger(__name__)


class RetryPolicy:
    """Attempts and backoff of one channel."""

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 6,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if timeout_s <= 0 or max_attempts < 1 or backoff_base_s < 0 or backoff_cap_s < 0:
            raise ValueError("timeout > 0, at least one attempt, backoff ≥ 0")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt ``attempt`` (1-based): exponential, capped, with the
        upper half jittered so that channels recovering together don't retry in step."""
        delay = min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self._rng.random())


class ChannelWorker:
    """Delivers one channel's notifications in order, each with its own retries."""

    def __init__(self, notifier: Notifier, policy: RetryPolicy, queue_size: int = 1000) -> None:
        self.notifier = notifier
        self.policy = policy
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=queue_size)
        self._stats = ChannelStats()

    @property
    def name(self) -> str:
        return self.notifier.name

    def stats(self) -> ChannelStats:
        return self._stats.model_copy(update={"queued": self._queue.qsize()})

    def offer(self, notification: Notification) -> None:
        """Queue without waiting; a full queue drops its oldest notification. Loop thread only."""
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            self._stats.dropped += 1
            log.warning("notify channel %s: queue full, dropped the oldest notification", self.name)
        self._queue.put_nowait(notification)

    async def join(self) -> None:
        """Wait until everything queued so far was delivered or given up (for tests, shutdown)."""
        await self._queue.join()

    async def run(self) -> None:
        while True:
            notification = await self._queue.get()
            try:
                await self._deliver(notification)
            finally:
                self._queue.task_done()

    async def _deliver(self, notification: Notification) -> None:
        policy = self.policy
        for attempt in range(1, policy.max_attempts + 1):
            try:
                # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives
                # just as the send completes, and the cancelled worker then waits on its queue
                # forever (the dispatcher's stop, and the server's shutdown, with it).
                async with asyncio.timeout(policy.timeout_s):
                    await self.notifier.send(notification)
            except Exception as exc:  # any failure of a channel is counted, logged and retried
                reason = _reason(exc)
                self._stats.failed_attempts += 1
                self._stats.consecutive_failures += 1
                self._stats.last_error = reason
                retryable = not isinstance(exc, DeliveryFailed) or exc.retryable
                if not retryable or attempt == policy.max_attempts:
                    self._stats.given_up += 1
                    log.error(
                        "notify channel %s gave up on alert %s (%s) after %d attempts: %s",
                        self.name,
                        notification.alert.id,
                        notification.kind,
                        attempt,
                        reason,
                    )
                    return
                delay = policy.backoff(attempt)
                log.warning(
                    "notify channel %s: attempt %d for alert %s failed (%s); retrying in %.2f s",
                    self.name,
                    attempt,
                    notification.alert.id,
                    reason,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                self._stats.sent += 1
                self._stats.consecutive_failures = 0
                return


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
