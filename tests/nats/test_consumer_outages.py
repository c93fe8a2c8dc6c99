"""The recorder's consumer through outages, with a stand-in recorder that counts what it is handed:
a database that stays down longer than the ack wait (no redelivery while it waits), and a NATS server
restart under the consumer (it resumes where it was)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from harness import RunningCollector, running, shard_settings
from natsenv import PrivateNats, wait_for

from lcm_tui.core.model import MetricSample
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.consume import RecordConsumer
from lcm_tui.runtime.bus.subjects import Names


class CountingSink:
    """A recorder whose database can be made to hang: ``flush`` waits while ``down`` is set."""

    def __init__(self) -> None:
        self.samples: Counter[tuple[str, str, int]] = Counter()
        self.up = asyncio.Event()
        self.up.set()
        self.flushes = 0

    def on_sample(self, sample: MetricSample, state: Any = None) -> None:
        self.samples[(sample.venue, sample.symbol, sample.ts_ns)] += 1

    def on_alert(self, alert: Any, run_id: str | None = None) -> None:
        pass

    def on_event(self, ev: Any, event_id: str | None = None) -> None:
        pass

    async def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1
        async with asyncio.timeout(timeout):
            await self.up.wait()


async def test_a_database_down_longer_than_the_ack_wait_causes_no_redelivery(bus: NatsOptions) -> None:
    rc = RunningCollector(shard_settings(["okx"]), bus, "col-pgdown")
    async with running(rc) as col:
        await wait_for(lambda: col.samples_published >= 10, 20)
    nc = await connect(bus, name="rec")
    sink = CountingSink()
    sink.up.clear()  # the database is down from the start
    consumer = RecordConsumer(nc, Names(bus.prefix), sink, ack_wait_s=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_for(lambda: sink.flushes >= 4, 20)  # ~4 ack waits spent waiting for the database
        assert consumer.acked["sample"] == 0
        sink.up.set()
        await wait_for(lambda: consumer.acked["sample"] == col.samples_published, 20)
        # Every sample handed over once: the messages were kept "in progress" while the database was down.
        assert len(sink.samples) == col.samples_published and set(sink.samples.values()) == {1}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await nc.close()


async def test_the_consumer_resumes_after_a_nats_restart(private_nats: PrivateNats) -> None:
    opts = NatsOptions(url=private_nats.url, prefix="crestart")
    rc = RunningCollector(shard_settings(["coinbase"]), opts, "col-cr")
    nc = await connect(opts, name="rec")
    sink = CountingSink()
    stop = asyncio.Event()
    consumer: RecordConsumer | None = None
    task: asyncio.Task[None] | None = None
    try:
        async with running(rc) as col:
            await wait_for(lambda: col.samples_published >= 6, 20)
            consumer = RecordConsumer(nc, Names("crestart"), sink, ack_wait_s=2.0)
            task = asyncio.create_task(consumer.run(stop))
            await wait_for(lambda: len(sink.samples) >= 6, 20)
            private_nats.stop()
            await asyncio.sleep(1.5)
            private_nats.start()
            before = col.samples_published
            await wait_for(lambda: col.samples_published >= before + 5, 20)
        await wait_for(lambda: consumer is not None and consumer.acked["sample"] >= col.samples_published, 30)
        # Every sample reached the recorder (a batch whose acks the restart swallowed may come twice: the
        # tables' keys absorb that, see test_record_from).
        assert len(sink.samples) == col.samples_published
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 10)
        await nc.close()
