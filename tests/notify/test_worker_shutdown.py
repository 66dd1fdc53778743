"""A channel worker stops when cancelled, whatever its send was doing at that moment."""

from __future__ import annotations

import asyncio

from ingest_server.notify import Notification, NotificationKind, RetryPolicy
from ingest_server.notify._worker import ChannelWorker
from tests.notify.conftest import make_alert
from tests.rules.live.factories import T0


class CancelsItsWorker:
    """A channel whose send completes in the instant the worker is cancelled: the moment the
    server's shutdown hit while a notification was going out."""

    name = "racing"

    def __init__(self) -> None:
        self.worker: asyncio.Task[None] | None = None
        self.sent = 0

    async def start(self) -> None:
        return None

    async def send(self, notification: Notification) -> None:
        assert self.worker is not None
        self.worker.cancel()
        self.sent += 1

    async def aclose(self) -> None:
        return None


async def test_a_cancel_landing_as_a_send_completes_still_stops_the_worker() -> None:
    notifier = CancelsItsWorker()
    worker = ChannelWorker(notifier, RetryPolicy(timeout_s=5))
    task = asyncio.create_task(worker.run())
    notifier.worker = task
    worker.offer(
        Notification(
            kind=NotificationKind.FIRED,
            route="r",
            language="en",
            title="t",
            text="x",
            at=T0,
            alert=make_alert(),
        )
    )
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done == {task}, "the cancelled worker went back to waiting on its queue"
    assert task.cancelled()
    assert notifier.sent == 1
