"""The whole deployment at once: two collectors on shards of the simulator, a viewer and a recorder;
a collector killed and restarted, the recorder restarted. Nothing lost, nothing twice, the viewer
shows what the collectors hold."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
from harness import RunningCollector, read_streams, running, shard_settings
from natsenv import wait_for
from test_record_from import _recorder

from lcm_tui.core.model import StreamStatus
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.consume import RecordConsumer
from lcm_tui.runtime.bus.run import open_remote
from lcm_tui.runtime.bus.subjects import Names


async def test_two_collectors_a_viewer_and_a_recorder(bus: NatsOptions, pg_db: str, tmp_path: Path) -> None:
    names = Names(bus.prefix)
    a = RunningCollector(shard_settings(["binance", "okx"]), bus, "whole-a")
    b = RunningCollector(shard_settings(["kraken"], seed=9), bus, "whole-b")
    nc = await connect(bus, name="whole-recorder")
    rec = _recorder(pg_db, tmp_path, "w1")
    await rec.start()
    stop = asyncio.Event()
    consumer = RecordConsumer(nc, names, rec, ack_wait_s=2.0)
    task = asyncio.create_task(consumer.run(stop))
    try:
        async with running(b) as cb, open_remote(shard_settings(["binance", "okx", "kraken"]), bus) as view:
            ca = await a.start()
            keys_a = set(ca.monitor.states)
            await wait_for(lambda: len(view.states) == len(keys_a) + len(cb.monitor.states), 20)
            await wait_for(lambda: all(sv.status is StreamStatus.LIVE for sv in view.streams()), 20)
            # Kill collector A: DOWN within 5 s; restart the recorder meanwhile.
            await a.halt()
            t0 = time.monotonic()
            await wait_for(lambda: all(view.stream(*k).status is StreamStatus.DOWN for k in keys_a), 5.0)  # type: ignore[union-attr]
            assert time.monotonic() - t0 < 5.0
            stop.set()
            await asyncio.wait_for(task, 20)
            await rec.close()
            rec = _recorder(pg_db, tmp_path, "w2")
            await rec.start()
            stop = asyncio.Event()
            consumer = RecordConsumer(nc, names, rec, ack_wait_s=2.0)
            task = asyncio.create_task(consumer.run(stop))
            await a.start()
            await wait_for(lambda: all(view.stream(*k).status is StreamStatus.LIVE for k in keys_a), 20)  # type: ignore[union-attr]
            await asyncio.sleep(1.0)
            await a.halt()
        pub = await read_streams(bus)
        samples, events = set(pub.samples.values()), pub.events
        conn = await asyncpg.connect(pg_db)
        try:
            async def stored() -> tuple[int, set[str]]:
                # Samples and events come through consumers of their own: each may commit a batch later.
                n = int(await conn.fetchval("SELECT count(*) FROM metric_sample"))
                return n, {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM feed_event")}
            for _ in range(300):
                n, db_events = await stored()
                if n == len(samples) and events <= db_events:
                    break
                await asyncio.sleep(0.1)
            got = {(r["venue"], r["symbol"], r["ts_ns"]) for r in
                   await conn.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")}
            assert got == samples  # nothing lost; the primary key admits nothing twice
            assert events <= db_events
            assert {v for v, _, _ in samples} == {"binance", "okx", "kraken"}
        finally:
            await conn.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await rec.close()
        await nc.close()
