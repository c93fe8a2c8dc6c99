"""``record --from``: the recorder as a durable JetStream consumer into a real PostgreSQL database.

The reference is the stream itself: every sample and event the collector published (read back from
JetStream) must be in the tables exactly once, across a recorder that dies after committing a batch
but before acknowledging it (the batch is redelivered) and a recorder restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import asyncpg
from harness import RunningCollector, read_streams, running, shard_settings
from natsenv import free_port, wait_for

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import FeedEvent, MetricSample
from lcm_tui.record import Recorder
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.consume import RecordConsumer
from lcm_tui.runtime.bus.subjects import Names


class Crash(Exception):
    pass


class DiesAfterCommit:
    """A recorder that commits its first batch, then dies before the consumer can acknowledge it."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.flushes = 0

    def on_sample(self, sample: MetricSample, state: Any = None) -> None:
        self.rec.on_sample(sample, state)

    def on_alert(self, alert: Any, run_id: str | None = None) -> None:
        self.rec.on_alert(alert, run_id)

    def on_event(self, ev: FeedEvent, event_id: str | None = None) -> None:
        self.rec.on_event(ev, event_id)

    async def flush(self, timeout: float | None = None) -> None:
        await self.rec.flush(timeout)
        self.flushes += 1
        raise Crash


def _recorder(dsn: str, tmp: Path, name: str) -> Recorder:
    return Recorder(RecorderConfig(enabled=True, dsn=dsn, flush_interval_s=0.2, spill_path=str(tmp / f"{name}.jsonl")))


async def test_record_from_nats_exactly_once_across_a_crash_and_a_restart(bus: NatsOptions, pg_db: str,
                                                                          tmp_path: Path) -> None:
    rc = RunningCollector(shard_settings(["okx", "kraken"]), bus, "col-rec")
    async with running(rc) as col:
        await wait_for(lambda: col.samples_published >= 20, 30)
    pub = await read_streams(bus)
    samples, events = set(pub.samples.values()), pub.events
    assert len(samples) == col.samples_published and events

    nc = await connect(bus, name="recorder")
    names = Names(bus.prefix)
    try:
        # 1. A recorder that dies after its first commit, before any ack.
        rec1 = _recorder(pg_db, tmp_path, "r1")
        await rec1.start()
        dying = DiesAfterCommit(rec1)
        c1 = RecordConsumer(nc, names, dying, batch=10, ack_wait_s=1.0)
        stop = asyncio.Event()
        task = asyncio.create_task(c1.run(stop))
        with contextlib.suppress(Crash):
            await asyncio.wait_for(task, 20)
        await rec1.close()
        assert dying.flushes == 1 and sum(c1.acked.values()) == 0
        conn = await asyncpg.connect(pg_db)
        try:
            committed = 0
            for table in ("metric_sample", "feed_event", "alert"):
                committed += await conn.fetchval(f"SELECT count(*) FROM {table}")
            assert committed > 0  # the dead recorder did commit its batch

            # 2. A new recorder process on the same durable consumer: gets the unacked batch again, then the rest.
            rec2 = _recorder(pg_db, tmp_path, "r2")
            await rec2.start()
            c2 = RecordConsumer(nc, names, rec2, batch=50, ack_wait_s=1.0)
            stop2 = asyncio.Event()
            task2 = asyncio.create_task(c2.run(stop2))

            async def settled() -> bool:
                """The server has nothing left for this durable: delivered, committed and acked."""
                for kind in ("sample", "event", "alert"):
                    info = await nc.jetstream().consumer_info(names.stream(kind), f"lcm-recorder-{kind}")
                    if info.num_pending or info.num_ack_pending:
                        return False
                return True
            for _ in range(300):
                if await settled():
                    break
                await asyncio.sleep(0.1)
            assert await settled()
            assert c2.acked["sample"] + c2.acked["event"] > len(samples) + len(events) - committed
            # 3. Restart it once more: nothing left to deliver, nothing written twice.
            stop2.set()
            await asyncio.wait_for(task2, 10)
            await rec2.close()
            rec3 = _recorder(pg_db, tmp_path, "r3")
            await rec3.start()
            c3 = RecordConsumer(nc, names, rec3, batch=50, ack_wait_s=1.0)
            stop3 = asyncio.Event()
            task3 = asyncio.create_task(c3.run(stop3))
            await asyncio.sleep(1.5)
            stop3.set()
            await asyncio.wait_for(task3, 10)
            await rec3.close()

            db_samples = {(r["venue"], r["symbol"], r["ts_ns"]) for r in
                          await conn.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")}
            db_events = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM feed_event")}
            assert db_samples == samples
            assert events <= db_events  # the recorder adds no row of its own for a clean stream...
            assert len(db_events - events) <= 1  # ...except one note if a previous run of it died (run 1 did)
            # Depth children are exactly one per band per sample.
            n_depth = await conn.fetchval("SELECT count(*) FROM sample_depth")
            assert n_depth == len(samples) * len(shard_settings([]).metrics.depth_bands_bps)
            assert sum(c3.acked.values()) == 0  # everything had been acked by run 2
        finally:
            await conn.close()
    finally:
        await nc.close()


async def test_the_record_from_command_records_the_stream(bus: NatsOptions, pg_db: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    rc = RunningCollector(shard_settings(["coinbase"]), bus, "col-cmd")
    async with running(rc) as col:
        await wait_for(lambda: col.samples_published >= 6, 30)
    samples = set((await read_streams(bus)).samples.values())
    env = {**os.environ, "LCM_PG_DSN": pg_db, "LCM_NATS_URL": bus.url}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lcm_tui.frontends.cli", "record", "--from", bus.url,
                             "--nats-prefix", bus.prefix, "--metrics-port", str(port)], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, text=True)
    conn = await asyncpg.connect(pg_db)
    try:
        for _ in range(300):
            with contextlib.suppress(asyncpg.UndefinedTableError):
                if await conn.fetchval("SELECT count(*) FROM metric_sample") == len(samples):
                    break
            await asyncio.sleep(0.1)
        # --metrics-port: the recorder's status and what it acknowledged.
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        metrics: dict[str, float] = {}
        for _ in range(100):
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            metrics = {smp.name: smp.value for fam in text_string_to_metric_families(text) for smp in fam.samples}
            if metrics.get("lcm_bus_acked_samples_total") == len(samples):
                break
            await asyncio.sleep(0.1)
        assert metrics["lcm_bus_acked_samples_total"] == len(samples)
        assert metrics["lcm_recorder_up"] == 1.0 and metrics["lcm_recorder_rows_written_total"] >= len(samples)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        got = {(r["venue"], r["symbol"], r["ts_ns"]) for r in
               await conn.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")}
        assert got == samples
    finally:
        await conn.close()
        if proc.poll() is None:
            proc.kill()
