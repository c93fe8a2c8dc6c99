"""Publishing to JetStream without losing a message when NATS restarts, and without blocking the sample clock.

``put`` only appends to a bounded deque (it runs inside monitor listeners). One task sends the queue
in batches with ``publish_async`` and waits for the stream's acks: a message whose ack does not come
(server restarting, connection lost mid-batch) goes back to the front, in order, and is sent again
after the project's backoff. Every message that may be sent twice carries a ``Nats-Msg-Id``, so the
stream's duplicate window drops the second copy: exactly once into the stream. Memory is bounded by
``max_queue``; past it the oldest message is dropped and counted (``dropped``), never the clock stalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, NamedTuple

from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.retry import Backoff

log = logging.getLogger("lcm_tui.runtime.bus")


class Item(NamedTuple):
    subject: str
    payload: bytes
    msg_id: str | None


class Outbox:
    def __init__(self, js: Any, *, batch: int = 2000, ack_timeout_s: float = 5.0, max_queue: int = 1_000_000,
                 backoff: Backoff | None = None) -> None:
        self.js = js
        self.batch = batch
        self.ack_timeout_s = ack_timeout_s
        self.max_queue = max_queue
        self.queue: deque[Item] = deque()
        self.sent = 0  # acked by the stream
        self.retried = 0
        self.dropped = 0
        self.bytes = 0  # payload bytes acked
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._backoff = backoff or Backoff(0.2, 5.0)
        self._ratelog = RateLimitedLog(log, every=10.0)
        self._task: asyncio.Task[None] | None = None

    def put(self, subject: str, payload: bytes, msg_id: str | None = None) -> None:
        if len(self.queue) >= self.max_queue:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(Item(subject, payload, msg_id))
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bus-outbox")

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything put so far is acked; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        await self.drain(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            if not self.queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            n = min(self.batch, len(self.queue))
            items = [self.queue.popleft() for _ in range(n)]
            failed = await self._send(items)
            if failed:
                self.retried += len(failed)
                self.queue.extendleft(reversed(failed))
                await asyncio.sleep(self._backoff.next())
            else:
                self._backoff.reset()

    async def _send(self, items: list[Item]) -> list[Item]:
        futures: list[asyncio.Future[Any] | None] = []
        for it in items:
            try:
                hdr = {"Nats-Msg-Id": it.msg_id} if it.msg_id else None
                futures.append(await self.js.publish_async(it.subject, it.payload, headers=hdr, wait_stall=1.0))
            except Exception as e:  # buffer full while disconnected, stalled: retry this and what follows
                self._ratelog.warn("publish", "bus: publish failed, will retry: %s", e)
                futures.append(None)
        pending = [f for f in futures if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=self.ack_timeout_s)
        failed: list[Item] = []
        for it, f in zip(items, futures, strict=True):
            if f is not None and f.done() and not f.cancelled() and f.exception() is None:
                self.sent += 1
                self.bytes += len(it.payload)
                continue
            if f is not None and not f.done():
                f.cancel()
            elif f is not None and not f.cancelled() and f.exception() is not None:
                self._ratelog.warn("ack", "bus: publish not acked, will retry: %s", f.exception())
            failed.append(it)
        return failed
