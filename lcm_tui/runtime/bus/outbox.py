"""Publishing to JetStream without losing a message when NATS restarts, and without blocking the sample clock.

``put`` only appends to a bounded deque (it runs inside monitor listeners). One task sends the queue
in batches and waits for the stream's acks: a message whose ack does not come
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

import orjson

from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.retry import Backoff

log = logging.getLogger("lcm_tui.runtime.bus")


class Item(NamedTuple):
    subject: str
    payload: bytes
    msg_id: str | None


class Outbox:
    """See the module docstring. ``nc`` is a connected ``nats.aio.client.Client``.

    Acks are matched by hand (one reply subscription, a token per message) instead of through
    ``publish_async``, which awaits a semaphore with ``wait_for`` per message: that is a task and a
    socket write per message, where this sends a whole batch in one write (measured in
    ``benches/distributed.py``).
    """

    def __init__(self, nc: Any, *, batch: int = 2000, ack_timeout_s: float = 5.0, max_queue: int = 1_000_000,
                 backoff: Backoff | None = None) -> None:
        self.nc = nc
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
        self._inbox = ""
        self._sub: Any = None
        self._seq = 0
        self._pending: dict[str, asyncio.Future[None]] = {}

    def put(self, subject: str, payload: bytes, msg_id: str | None = None) -> None:
        if len(self.queue) >= self.max_queue:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(Item(subject, payload, msg_id))
        self._idle.clear()
        self._wake.set()

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox + ".*", cb=self._on_ack)
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
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_ack(self, msg: Any) -> None:
        fut = self._pending.pop(msg.subject.rpartition(".")[2], None)
        if fut is None or fut.done():
            return
        hdr = msg.headers or {}
        if hdr.get("Status") == "503":  # no stream answers for this subject (yet)
            fut.set_exception(RuntimeError("no stream for the subject"))
            return
        try:
            resp = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            fut.set_exception(RuntimeError("bad ack"))
            return
        if isinstance(resp, dict) and "error" in resp:
            fut.set_exception(RuntimeError(str(resp["error"].get("description", resp["error"]))))
        else:
            fut.set_result(None)

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
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None] | None] = []
        prefix = self._inbox + "."
        for it in items:
            self._seq += 1
            token = str(self._seq)
            fut: asyncio.Future[None] = loop.create_future()
            try:
                hdr = {"Nats-Msg-Id": it.msg_id} if it.msg_id else None
                self._pending[token] = fut
                await self.nc.publish(it.subject, it.payload, reply=prefix + token, headers=hdr)
                futures.append(fut)
            except Exception as e:  # buffer full while disconnected: retry this and what follows
                self._pending.pop(token, None)
                self._ratelog.warn("publish", "bus: publish failed, will retry: %s", e)
                futures.append(None)
        pending = [f for f in futures if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=self.ack_timeout_s)
        failed: list[Item] = []
        for it, f in zip(items, futures, strict=True):
            if f is not None and f.done() and f.exception() is None:
                self.sent += 1
                self.bytes += len(it.payload)
                continue
            if f is not None and not f.done():
                f.cancel()
            elif f is not None:
                self._ratelog.warn("ack", "bus: publish not acked, will retry: %s", f.exception())
            failed.append(it)
        for token in [t for t, f in self._pending.items() if f.done()]:
            del self._pending[token]
        return failed
