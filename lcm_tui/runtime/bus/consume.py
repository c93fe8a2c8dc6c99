"""``lcm-tui record --from nats://...``: the recorder as a durable JetStream consumer.

One durable pull consumer per stream (samples, alerts, events), named ``<durable>-<kind>``, so the
server remembers what the recorder has acknowledged across restarts of either. Each batch is handed
to the recorder, then ``recorder.flush()`` waits until the database has committed it, and only then
is every message of the batch acknowledged: a message is acked after its row is committed, never
before. A recorder that dies between commit and ack gets the batch again after ``ack_wait_s``; the
tables' natural keys (``(venue, symbol, ts_ns)`` for a sample, ``(venue, symbol, signal, opened_ns)``
for an alert, the collector's UUID for an event) make the second write a no-op: exactly once in
PostgreSQL. While PostgreSQL is down the flush waits, and the batch's messages are marked in progress
so the server does not redeliver them meanwhile. A stop during that wait does not wait for the
database: the batch is handed back unacknowledged (nak) for the next run, and the recorder keeps it
in its spill journal; both copies land on the same keys.

The recorder is a parameter (anything with ``on_sample`` / ``on_alert`` / ``on_event`` and ``flush``):
the runtime never imports the recorder's package; the frontend passes a ``record.Recorder`` in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from lcm_tui.core.model import Alert, FeedEvent, MetricSample, SymbolState
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.subjects import ALERT, EVENT, SAMPLE, Names

log = logging.getLogger("lcm_tui.runtime.bus")


class RecorderSink(Protocol):
    def on_sample(self, sample: MetricSample, state: SymbolState | None = None) -> None: ...

    def on_alert(self, alert: Alert, run_id: str | None = None) -> None: ...

    def on_event(self, ev: FeedEvent, event_id: str | None = None) -> None: ...

    async def flush(self, timeout: float | None = None) -> None: ...


class RecordConsumer:
    def __init__(self, nc: Any, names: Names, recorder: RecorderSink, *, durable: str = "lcm-recorder",
                 batch: int = 500, ack_wait_s: float = 30.0, fetch_timeout_s: float = 1.0) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.names = names
        self.recorder = recorder
        self.durable = durable
        self.batch = batch
        self.ack_wait_s = ack_wait_s
        self.fetch_timeout_s = fetch_timeout_s
        self.acked = {SAMPLE: 0, ALERT: 0, EVENT: 0}
        self.bad = 0  # messages that did not decode (acked and counted, never retried forever)
        self._subs: dict[str, Any] = {}

    async def _subscribe(self, kind: str) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        cfg = ConsumerConfig(durable_name=f"{self.durable}-{kind}", ack_policy=AckPolicy.EXPLICIT,
                             deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait_s,
                             max_ack_pending=max(self.batch * 4, 1000))
        return await self.js.pull_subscribe(self.names.all(kind), durable=cfg.durable_name,
                                            stream=self.names.stream(kind), config=cfg)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; streams that do not exist yet (no collector ran) are retried every second."""
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import NotFoundError

        while not stop.is_set():
            for kind in (ALERT, EVENT, SAMPLE):
                if kind not in self._subs:
                    try:
                        self._subs[kind] = await self._subscribe(kind)
                    except NotFoundError:
                        continue
                    except Exception as e:
                        log.warning("bus: cannot subscribe to %s: %s", self.names.stream(kind), e)
                        continue
            if not self._subs:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await stop.wait()
                continue
            got = 0
            for kind, sub in list(self._subs.items()):
                if stop.is_set():
                    return
                try:
                    msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout_s / len(self._subs))
                except (NatsTimeout, TimeoutError):
                    continue
                except Exception as e:  # connection lost: nats-py reconnects; try again shortly
                    log.warning("bus: fetch from %s failed: %s", self.names.stream(kind), e)
                    await asyncio.sleep(0.5)
                    continue
                got += len(msgs)
                await self._handle(kind, msgs, stop)
            if not got:
                await asyncio.sleep(0)

    async def _handle(self, kind: str, msgs: list[Any], stop: asyncio.Event | None = None) -> None:
        rec = self.recorder
        for m in msgs:
            try:
                if kind == SAMPLE:
                    rec.on_sample(codec.decode(m.data, MetricSample), None)
                elif kind == ALERT:
                    a = codec.decode(m.data, codec.AlertMsg)
                    rec.on_alert(a.alert, a.collector)
                else:
                    e = codec.decode(m.data, codec.EventMsg)
                    rec.on_event(e.event, e.id)
            except codec.CodecError as e:
                self.bad += 1
                log.warning("bus: %s: %s", m.subject, e)
        if not await self._committed(msgs, stop):
            # Stopped while the database is down: nothing of the batch is acknowledged. Handing it
            # back (nak) lets the next run have it at once rather than after the ack wait; the
            # recorder's spill journal holds it too, and the keys absorb the second copy.
            for m in msgs:
                with contextlib.suppress(Exception):
                    await m.nak()
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
            log.warning("bus: stopped before the database committed %d %s message(s); not acknowledged, "
                        "the next run gets them again", len(msgs), kind)
            return
        for m in msgs:
            with contextlib.suppress(Exception):  # a lost ack is a redelivery, which the keys absorb
                await m.ack()
        with contextlib.suppress(Exception):
            await self.nc.flush(timeout=2)
        self.acked[kind] += len(msgs)

    async def _committed(self, msgs: list[Any], stop: asyncio.Event | None) -> bool:
        """Wait until the recorder has committed the batch (True), or until ``stop`` (False).

        The flush waits as long as the database is down, so it must not hold up a stop: Ctrl-C during
        an outage ends the recorder, which keeps the batch in its spill journal. Every third of the
        ack wait the batch is marked in progress, so the server does not redeliver it meanwhile.
        """
        step = max(1.0, self.ack_wait_s / 3)
        stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
        try:
            while stopped is None or not stopped.done():
                flush = asyncio.ensure_future(self.recorder.flush(timeout=step))
                await asyncio.wait({flush} if stopped is None else {flush, stopped},
                                   return_when=asyncio.FIRST_COMPLETED)
                if not flush.done():
                    flush.cancel()
                    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                        await flush
                    return False
                try:
                    flush.result()
                except TimeoutError:
                    for m in msgs:
                        with contextlib.suppress(Exception):
                            await m.in_progress()
                    continue
                return True
            return False
        finally:
            if stopped is not None:
                stopped.cancel()
