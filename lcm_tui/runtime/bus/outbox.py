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
    ``benches/distributed.py``). Only one batch is in flight, so an ack marks its message's slot in
    that batch and one event wakes the sender when the last ack is in: no future, done-callback or
    ``asyncio.wait`` bookkeeping per message, which cost as much as the publish itself (an acked
    publish was ~12 us of the collector's CPU against ~2.5 us for a bare one).
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
        # The batch in flight: token -> its index in the batch; the outcome of each slot (None: no ack
        # yet, "" acked, else why not); how many acks are still due, and the event set when none is.
        self._pending: dict[str, int] = {}
        self._outcome: list[str | None] = []
        self._due = 0
        self._all_acked = asyncio.Event()

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
        i = self._pending.pop(msg.subject.rpartition(".")[2], None)
        if i is None:  # an ack of a batch that already timed out (its message is being re-sent)
            return
        self._outcome[i] = _ack_error(msg)
        self._due -= 1
        if self._due <= 0:
            self._all_acked.set()

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
        prefix = self._inbox + "."
        self._pending.clear()
        outcome: list[str | None] = [None] * len(items)
        self._outcome = outcome
        self._due = 0
        self._all_acked.clear()
        published = [False] * len(items)
        for i, it in enumerate(items):
            self._seq += 1
            token = str(self._seq)
            try:
                hdr = {"Nats-Msg-Id": it.msg_id} if it.msg_id else None
                self._pending[token] = i
                self._due += 1
                await self.nc.publish(it.subject, it.payload, reply=prefix + token, headers=hdr)
                published[i] = True
            except Exception as e:  # buffer full while disconnected: retry this and what follows
                if self._pending.pop(token, None) is not None:
                    self._due -= 1
                self._ratelog.warn("publish", "bus: publish failed, will retry: %s", e)
        if self._due > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ack_timeout_s):
                    await self._all_acked.wait()
        self._pending.clear()  # acks still to come belong to messages that go back in the queue
        failed: list[Item] = []
        for it, sent, why in zip(items, published, outcome, strict=True):
            if why == "":
                self.sent += 1
                self.bytes += len(it.payload)
                continue
            if sent and why is not None:
                self._ratelog.warn("ack", "bus: publish not acked, will retry: %s", why)
            failed.append(it)
        return failed


def _ack_error(msg: Any) -> str:
    """Why a JetStream publish ack refuses its message; "" when it stored it (or had it already).

    A stored message's ack is ``{"stream": ..., "seq": ...}``; only a refusal has an ``"error"`` key, so
    the JSON is parsed only when that text occurs (a domain or stream could spell it, hence the parse).
    """
    hdr = msg.headers or {}
    if hdr.get("Status") == "503":  # no stream answers for this subject (yet)
        return "no stream for the subject"
    data = msg.data
    if b'"error"' not in data:
        return "" if data else "bad ack"
    try:
        resp = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "bad ack"
    if isinstance(resp, dict) and isinstance(resp.get("error"), dict):
        err = resp["error"]
        return str(err.get("description", err)) or "refused"
    if isinstance(resp, dict) and "error" in resp:
        return str(resp["error"]) or "refused"
    return ""
