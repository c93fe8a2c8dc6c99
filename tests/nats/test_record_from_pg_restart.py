"""``lcm-tui record --from`` across a PostgreSQL restart while a collector publishes.

The system PostgreSQL is shared, so the outage is made for the recorder alone, the way a restart
looks from its side: its backend is terminated (``pg_terminate_backend``: the "administrator
command" error every backend gets on a shutdown), then every connection is refused for a while (a
TCP proxy in front of the server stops listening), then the server answers again (the proxy
listens again on the same port). The real command runs as a subprocess with a password in its DSN
(trust auth ignores it), so what it prints can be checked too.

The reference is the streams themselves, read back after the collector stopped: every sample,
alert and feed event published must be in the tables exactly once by its natural key, and the
consumer may never have acknowledged a sample before its row was committed (checked against the
ack floor the server reports, sampled throughout the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from harness import Published, RunningCollector, SampleKey, read_streams, running, shard_settings
from natsenv import free_port, wait_for
from prometheus_client.parser import text_string_to_metric_families

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import Alert, AlertAction, AlertChange, Severity
from lcm_tui.record import Recorder
from lcm_tui.record.postgres import APPLICATION_NAME
from lcm_tui.runtime.bus.collector import Collector
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.consume import RecordConsumer
from lcm_tui.runtime.bus.subjects import Names
from tests.record.recnet import TcpProxy

SECRET = "Pg-restart-s3cret-horse"
DURABLE = "lcm-recorder"
class Alerts:
    """Alert changes reported through the collector's monitor, as its detectors report theirs."""

    def __init__(self, col: Collector) -> None:
        self.col = col
        self.live: dict[str, Alert] = {}

    def open(self, name: str, opened_ns: int) -> None:
        a = Alert("okx", "BTC-USDT", f"slip_{name}", opened_ns, 3.1, Severity.WARNING)
        self.live[name] = a
        self.col.monitor.report([AlertChange(AlertAction.OPEN, a)])

    def escalate(self, name: str, peak_z: float, sev: Severity) -> None:
        a = self.live[name]
        a.peak_z, a.severity = peak_z, sev
        self.col.monitor.report([AlertChange(AlertAction.ESCALATE, a)])

    def close(self, name: str, closed_ns: int) -> None:
        a = self.live.pop(name)
        a.closed_ns = closed_ns
        self.col.monitor.report([AlertChange(AlertAction.CLOSE, a)])


@dataclass
class AckCheck:
    """(ack floor of the samples' durable, sample keys committed just after reading it), over the run."""

    nc: Any
    names: Names
    db: asyncpg.Connection
    seen: list[tuple[int, set[SampleKey]]] = field(default_factory=list)

    async def sample(self) -> None:
        try:
            info = await self.nc.jetstream().consumer_info(self.names.stream("sample"), f"{DURABLE}-sample")
        except Exception:  # the recorder has not created its durable yet
            return
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        # Read after the floor: a row committed before its ack is then always in this set.
        keys = {(r["venue"], r["symbol"], r["ts_ns"]) for r in
                await self.db.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")}
        self.seen.append((floor, keys))

    def acked_before_commit(self, published: Published) -> list[tuple[int, SampleKey]]:
        bad = []
        for floor, keys in self.seen:
            bad += [(seq, k) for seq, k in published.samples.items() if seq <= floor and k not in keys]
        return bad


class Command:
    """``lcm-tui record --from`` as a subprocess, its stderr in a file and its /metrics on a free port."""

    def __init__(self, bus: NatsOptions, dsn: str, cwd: Path, name: str) -> None:
        self.port = free_port()
        self.err_path = cwd / f"stderr-{name}.txt"
        self._err = self.err_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LCM_PG_DSN=dsn, LCM_NATS_URL=bus.url)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lcm_tui.frontends.cli", "record", "--from", bus.url, "--nats-prefix",
             bus.prefix, "--durable", DURABLE, "--metrics-port", str(self.port)],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=self._err)

    def stderr(self) -> str:
        return self.err_path.read_text()

    async def metrics(self) -> dict[str, float]:
        if self.proc.poll() is not None:
            raise AssertionError(f"record --from exited with {self.proc.returncode}: {self.stderr()}")
        try:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5)).text
        except httpx.HTTPError:
            return {}  # not listening yet
        return {s.name: s.value for fam in text_string_to_metric_families(text) for s in fam.samples}

    async def stop(self) -> int:
        """SIGINT, as Ctrl-C; the exit status (waited for without blocking the collector's event loop)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(60):
                while self.proc.poll() is None:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"record --from did not stop on SIGINT: {self.stderr()}") from None
        finally:
            self._err.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


async def _until(pred: Callable[[], Any], timeout: float, what: str, *, between: Callable[[], Any] | None = None
                 ) -> None:
    """Poll an async ``pred`` (running ``between`` each round first) until it holds; fail naming ``what``."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if between is not None:
                    await between()
                if await pred():
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout} s") from None


async def _ge(f: Callable[[], Any], n: int) -> bool:
    return bool(await f() >= n)


async def _true(v: bool) -> bool:
    return v


async def _settled(nc: Any, names: Names) -> bool:
    """Everything delivered to the recorder's durables and acknowledged."""
    for kind in ("sample", "alert", "event"):
        info = await nc.jetstream().consumer_info(names.stream(kind), f"{DURABLE}-{kind}")
        if info.num_pending or info.num_ack_pending:
            return False
    return True


@pytest.mark.parametrize("recorder_restarts", [False, True],
                         ids=["recorder-runs-through", "recorder-restarts-while-down"])
async def test_record_from_is_exactly_once_across_a_postgresql_restart(bus: NatsOptions, pg_db: str, tmp_path: Path,
                                                                       recorder_restarts: bool,
                                                                       record_property: Any) -> None:
    proxy = TcpProxy()
    await proxy.start()
    prefix = "postgresql://postgres@127.0.0.1:5432/"
    assert pg_db.startswith(prefix)
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:{proxy.port}/{pg_db[len(prefix):]}"
    db = await asyncpg.connect(pg_db)  # the test's own view of the server, not through the proxy
    nc = await connect(bus, name="check")
    names = Names(bus.prefix)
    acks = AckCheck(nc, names, db)
    cmds: list[Command] = []
    rc = RunningCollector(shard_settings(["okx", "coinbase"]), bus, "col-pg-restart")

    async def n_samples() -> int:
        try:
            n: int = await db.fetchval("SELECT count(*) FROM metric_sample")
        except asyncpg.UndefinedTableError:  # the recorder has not migrated the database yet
            return 0
        return n

    async def up_is(cmd: Command, value: float) -> bool:
        return (await cmd.metrics()).get("lcm_recorder_up") == value

    try:
        async with running(rc) as col:
            alerts = Alerts(col)
            cmds.append(Command(bus, dsn, tmp_path, "1"))
            await _until(lambda: _ge(n_samples, 20), 60, "the recorder writes", between=acks.sample)
            alerts.open("before", 11)
            alerts.open("across", 12)
            await _until(lambda: _ge(n_samples, 28), 30, "the recorder writes on", between=acks.sample)

            # PostgreSQL restarts: the recorder's backend is terminated, then connections are refused.
            pids = [r["pid"] for r in await db.fetch(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME)]
            assert len(pids) == 1
            assert await db.fetchval("SELECT pg_terminate_backend($1)", pids[0])
            await proxy.stop()
            at_stop = col.samples_published
            alerts.escalate("across", 4.4, Severity.HIGH)
            alerts.close("before", 21)
            alerts.open("during", 13)
            await _until(lambda: up_is(cmds[0], 0.0), 30, "the recorder reports the database down",
                         between=acks.sample)
            # Down for at least one status line (printed every 10 s) and many samples' worth of stream.
            await _until(lambda: _true("recorder: rec DOWN" in cmds[0].stderr()
                                       and col.samples_published >= at_stop + 60),
                         60, "a status line during the outage", between=acks.sample)
            if recorder_restarts:
                # Stopped while the database is down (it must still stop), and started again before it is back.
                assert await cmds[0].stop() == 0, cmds[0].stderr()
                cmds.append(Command(bus, dsn, tmp_path, "2"))
                await _until(lambda: up_is(cmds[1], 0.0), 30, "the new recorder reports the database down",
                             between=acks.sample)
            stored_down = await n_samples()
            published_down = col.samples_published - at_stop
            alerts.escalate("during", -5.5, Severity.CRITICAL)

            await proxy.start()  # the server is back, on the same address
            await _until(lambda: up_is(cmds[-1], 1.0), 60, "the recorder reconnects", between=acks.sample)
            alerts.close("across", 22)
            alerts.close("during", 23)
            alerts.open("after", 14)
            await _until(lambda: _ge(n_samples, stored_down + 20), 60, "the recorder writes again",
                         between=acks.sample)
        # The collector has stopped: the streams are complete.
        published = await read_streams(bus)

        await _until(lambda: _settled(nc, names), 60, "the recorder acknowledges the whole stream", between=acks.sample)
        await acks.sample()  # the final floor: the whole stream
        metrics = await cmds[-1].metrics()
        assert await cmds[-1].stop() == 0, cmds[-1].stderr()

        # Every sample exactly once: the primary key rules out a second row, so compare counts with keys too.
        rows = await db.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")
        db_samples = {(r["venue"], r["symbol"], r["ts_ns"]) for r in rows}
        assert rc.col is not None
        assert len(published.samples) == len(set(published.samples.values())) == rc.col.samples_published
        assert len(rows) == len(db_samples)
        assert db_samples == set(published.samples.values())
        n_depth = await db.fetchval("SELECT count(*) FROM sample_depth")
        assert n_depth == len(db_samples) * len(shard_settings([]).metrics.depth_bands_bps)
        # Alerts: one row per alert, in the state its last change left it (opened, escalated, closed).
        alert_rows = await db.fetch("SELECT venue, symbol, signal, opened_ns, closed_ns, severity::text AS sev,"
                                    " peak_z, run_id FROM alert")
        got = {(r["venue"], r["symbol"], r["signal"], r["opened_ns"]): (r["closed_ns"], r["sev"], r["peak_z"])
               for r in alert_rows}
        assert len(alert_rows) == len(got)
        assert {k[2] for k in published.alerts} >= {"slip_before", "slip_across", "slip_during", "slip_after"}
        assert got == published.alerts
        assert len({r["run_id"] for r in alert_rows}) == 1 and alert_rows[0]["run_id"] is not None  # one collector
        # Feed events: each collector event once, and nothing else (no run of the recorder died).
        db_events = [str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM feed_event")]
        assert published.events and sorted(db_events) == sorted(published.events)

        # Acknowledged only after the commit, before, during and after the outage.
        assert len(acks.seen) > 10 and acks.seen[-1][0] == max(published.samples)
        assert acks.acked_before_commit(published) == []
        assert metrics["lcm_recorder_dropped_rows_total"] == 0

        # What each run said: one line when the database went away (or was away at its start), then one
        # when it came back or, for the run stopped during the outage, one saying its last batch was not
        # acknowledged; the status line while down; never the password, never a traceback.
        for i, cmd in enumerate(cmds):
            text = cmd.stderr()
            assert SECRET not in text and "Traceback" not in text, text
            logged = [line for line in text.splitlines() if not line.startswith("recorder: rec ")]
            assert len(logged) == 2, text
            assert "unavailable" in logged[0] and f"127.0.0.1:{proxy.port}" in logged[0], text
            if i == len(cmds) - 1:
                assert "is back" in logged[1], text
            else:
                assert "stopped before the database committed" in logged[1], text
        assert any(line.startswith("recorder: rec DOWN") for line in cmds[0].stderr().splitlines())
        figures = {"samples": len(db_samples), "published_while_down": published_down,
                   "alerts": len(got), "alert_changes": published.alert_messages, "events": len(db_events),
                   "ack_floor_checks": len(acks.seen),
                   "log": [line for cmd in cmds for line in cmd.stderr().splitlines()]}
        record_property("figures", figures)
        print("pg restart:", figures)
    finally:
        for cmd in cmds:
            cmd.kill()
        if proxy.listening:
            await proxy.stop()
        with contextlib.suppress(Exception):
            await nc.close()
        await db.close()


async def test_a_stop_while_the_database_is_down_hands_the_batch_back(bus: NatsOptions, pg_db: str,
                                                                      tmp_path: Path) -> None:
    """In process, closer than the command above: a stop while the flush waits for the database ends the
    consumer without acknowledging anything, and the next run (same journal, same durables) records
    the whole stream exactly once."""
    rc = RunningCollector(shard_settings(["okx"]), bus, "col-pg-stop")
    async with running(rc) as col:
        await wait_for(lambda: col.samples_published >= 12, 30)
    published = await read_streams(bus)
    proxy = TcpProxy()
    await proxy.start()
    port = proxy.port
    await proxy.stop()  # the database is unreachable from the start
    prefix = "postgresql://postgres@127.0.0.1:5432/"
    dsn = f"postgresql://postgres@127.0.0.1:{port}/{pg_db[len(prefix):]}"
    cfg = RecorderConfig(enabled=True, dsn=dsn, flush_interval_s=0.2, spill_path=str(tmp_path / "spill.jsonl"))
    nc = await connect(bus, name="rec")
    names = Names(bus.prefix)
    js = nc.jetstream()
    try:
        rec = Recorder(cfg)
        await rec.start()
        c1 = RecordConsumer(nc, names, rec, batch=5, ack_wait_s=30.0)
        stop = asyncio.Event()
        task = asyncio.create_task(c1.run(stop))
        await rec.wait_until(lambda s: s.spilled_rows > 0 and s.down_since is not None, 30)

        async def durables() -> list[Any]:
            return [await js.consumer_info(names.stream(k), f"{DURABLE}-{k}") for k in ("alert", "event", "sample")]

        held = sum(i.num_ack_pending for i in await durables())
        assert held > 0  # a batch waits for the database, unacknowledged
        stop.set()
        await asyncio.wait_for(task, 30)  # the stop does not wait for the database
        await rec.close()
        assert sum(c1.acked.values()) == 0
        for i in await durables():  # nothing acknowledged
            assert i.ack_floor is None or i.ack_floor.stream_seq == 0

        await proxy.start()  # the database is back; a new run on the same journal and durable
        assert proxy.port == port
        rec2 = Recorder(cfg)
        await rec2.start()
        c2 = RecordConsumer(nc, names, rec2, batch=5, ack_wait_s=30.0)
        stop2 = asyncio.Event()
        task2 = asyncio.create_task(c2.run(stop2))

        await _until(lambda: _settled(nc, names), 60, "the new run acknowledges the whole stream")
        stop2.set()
        await asyncio.wait_for(task2, 30)
        await rec2.close()
        # The handed-back batch came again, with the rest.
        assert (c2.acked["sample"], c2.acked["alert"]) == (len(published.samples), published.alert_messages)
        db = await asyncpg.connect(pg_db)
        try:
            rows = await db.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")
            events = [str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM feed_event")]
            n_alerts = await db.fetchval("SELECT count(*) FROM alert")
        finally:
            await db.close()
        assert len(rows) == len(published.samples)
        assert {(r["venue"], r["symbol"], r["ts_ns"]) for r in rows} == set(published.samples.values())
        assert sorted(events) == sorted(published.events)
        assert n_alerts == len(published.alerts)
    finally:
        if proxy.listening:
            await proxy.stop()
        await nc.close()


async def test_record_from_is_exactly_once_through_a_stalled_database(bus: NatsOptions, pg_db: str,
                                                                      tmp_path: Path) -> None:
    """The third shape of an outage: the recorder's backend stops answering (SIGSTOP) with no error, in
    the middle of a write. The write timeout must cut that connection (cancelling the write would wait
    for a ROLLBACK the stopped backend never answers) and a new connection carry on."""
    db = await asyncpg.connect(pg_db)
    nc = await connect(bus, name="rec")
    names = Names(bus.prefix)
    acks = AckCheck(nc, names, db)
    cfg = RecorderConfig(enabled=True, dsn=pg_db, flush_interval_s=0.2, spill_path=str(tmp_path / "spill.jsonl"))
    rec = Recorder(cfg, write_timeout_s=2.0, backoff_max_s=1.0)
    await rec.start()
    consumer = RecordConsumer(nc, names, rec, batch=50, ack_wait_s=3.0)
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    rc = RunningCollector(shard_settings(["okx", "coinbase"]), bus, "col-pg-stall")
    stalled: list[int] = []

    async def n_samples() -> int:
        n: int = await db.fetchval("SELECT count(*) FROM metric_sample")
        return n

    try:
        async with running(rc) as col:
            alerts = Alerts(col)
            task = asyncio.create_task(consumer.run(stop))
            await _until(lambda: _ge(n_samples, 20), 60, "the recorder writes", between=acks.sample)
            alerts.open("before", 11)
            stalled_pid = await db.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME)
            # Stopped inside a transaction, where a write spends its time: a SHARE lock the test holds makes
            # the recorder's move from staging wait mid-transaction; its backend is stopped there.
            locker = await asyncpg.connect(pg_db)
            try:
                tx = locker.transaction()
                await tx.start()
                await locker.execute("LOCK TABLE metric_sample IN SHARE MODE")

                async def waits_for_the_lock() -> bool:
                    return bool(await db.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                                  "WHERE pid = $1", stalled_pid))

                await _until(waits_for_the_lock, 30, "the recorder's write reaches the locked table",
                             between=acks.sample)
                os.kill(stalled_pid, signal.SIGSTOP)
                stalled.append(stalled_pid)
                alerts.escalate("before", 4.9, Severity.CRITICAL)
                alerts.open("during", 12)
                # The write timeout gives up on the connection: DOWN, not a writer stuck for good behind
                # a call that never returns.
                await _until(lambda: _true(rec.status().down_since is not None), 60, "the write times out",
                             between=acks.sample)
                assert "no answer from the server within 2 s" in (rec.status().last_error or "")
                stored_stall = await n_samples()
                await tx.rollback()  # only the stopped backend is in the way now
            finally:
                await locker.close()
            await _until(lambda: _ge(n_samples, stored_stall + 40), 60,
                         "a new connection carries on while the old backend is stopped", between=acks.sample)
            os.kill(stalled.pop(), signal.SIGCONT)
            alerts.close("before", 21)
            alerts.close("during", 22)
        published = await read_streams(bus)

        await _until(lambda: _settled(nc, names), 60, "the recorder acknowledges the whole stream", between=acks.sample)
        await acks.sample()
        rows = await db.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")
        assert len(rows) == len(published.samples)
        assert {(r["venue"], r["symbol"], r["ts_ns"]) for r in rows} == set(published.samples.values())
        alert_rows = await db.fetch("SELECT venue, symbol, signal, opened_ns, closed_ns, severity::text AS sev,"
                                    " peak_z FROM alert")
        assert {(r["venue"], r["symbol"], r["signal"], r["opened_ns"]): (r["closed_ns"], r["sev"], r["peak_z"])
                for r in alert_rows} == published.alerts
        events = [str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM feed_event")]
        assert published.events and sorted(events) == sorted(published.events)
        assert acks.seen[-1][0] == max(published.samples) and acks.acked_before_commit(published) == []
        assert rec.status().dropped_rows == 0
    finally:
        for pid in stalled:
            os.kill(pid, signal.SIGCONT)
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 30)
        await rec.close()
        await nc.close()
        await db.close()
