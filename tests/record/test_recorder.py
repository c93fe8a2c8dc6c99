"""The recorder against the real local PostgreSQL: exact values, exactly-once under failures, spill."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from recdata import BANDS, NOTIONALS, SECRET, T0_NS, cfg_for, fast, make_samples
from recnet import TcpProxy, free_port

from lcm_tui.core.book import OrderBook
from lcm_tui.core.model import (
    Alert,
    AlertAction,
    AlertChange,
    FeedEvent,
    FeedEventKind,
    MetricSample,
    Severity,
    StreamStatus,
    SymbolState,
)
from lcm_tui.record import Recorder, RecorderError, RecorderStatus, schema

pytestmark = pytest.mark.postgres


def live_state(s: MetricSample) -> SymbolState:
    return SymbolState(venue=s.venue, symbol=s.symbol, book=OrderBook(s.venue, s.symbol), status=StreamStatus.LIVE)


async def assert_exactly_once(conn: asyncpg.Connection, samples: list[MetricSample]) -> None:
    rows = await conn.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")
    got = sorted((r["venue"], r["symbol"], r["ts_ns"]) for r in rows)
    assert got == sorted((s.venue, s.symbol, s.ts_ns) for s in samples)
    assert await conn.fetchval("SELECT count(*) FROM sample_depth") == len(samples) * len(BANDS)
    assert await conn.fetchval("SELECT count(*) FROM sample_slippage") == len(samples) * 2 * len(NOTIONALS)


# ----------------------------------------------------------------------------------------- values
async def test_exact_values_round_trip(pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    samples = make_samples(20, seed=3)
    samples.append(MetricSample("kraken", "BTC/USD", T0_NS, None, None, None, None))  # no two-sided top
    rec = fast(cfg_for(pg_db, tmp_path))
    await rec.start()
    for s in samples:
        rec.on_sample(s, live_state(s))
    await rec.close()  # close() flushes

    assert rec.status().rows_written == len(samples)
    assert await pg_conn.fetchval("SELECT count(*) FROM metric_sample") == len(samples)
    assert await pg_conn.fetchval("SELECT count(*) FROM sample_depth") == (len(samples) - 1) * len(BANDS)
    for s in samples:
        row = await pg_conn.fetchrow("SELECT * FROM metric_sample WHERE venue=$1 AND symbol=$2 AND ts_ns=$3",
                                     s.venue, s.symbol, s.ts_ns)
        assert row["status"] == "live"
        assert row["best_bid"] == (Decimal(s.best_bid) if s.best_bid else None)
        assert (str(row["best_ask"]) if row["best_ask"] is not None else None) == s.best_ask  # "....10000000"
        assert row["mid"] == s.mid and row["spread_bps"] == s.spread_bps
        depth = {r["band_bps"]: (r["depth_bid"], r["depth_ask"], r["imbalance"]) for r in await pg_conn.fetch(
            "SELECT * FROM sample_depth WHERE venue=$1 AND symbol=$2 AND ts_ns=$3", s.venue, s.symbol, s.ts_ns)}
        assert depth == {b: (s.depth_bid[b], s.depth_ask[b], s.imbalance[b]) for b in s.depth_bid}
        slips = {(r["side"], r["notional"]): (r["vwap"], r["slippage_bps"], r["levels"], r["filled_quote"])
                 for r in await pg_conn.fetch("SELECT * FROM sample_slippage WHERE venue=$1 AND symbol=$2 AND ts_ns=$3",
                                              s.venue, s.symbol, s.ts_ns)}
        assert slips == {(x.side, x.notional): (x.vwap, x.slippage_bps, x.levels, x.filled_quote) for x in s.slippage}
    ts = await pg_conn.fetchval("SELECT ts FROM metric_sample WHERE ts_ns=$1 LIMIT 1", T0_NS)
    assert ts.isoformat() == "2025-11-25T00:00:00+00:00"
    assert await pg_conn.fetchval("SELECT count(*) FROM sample_slippage WHERE vwap IS NULL") == sum(
        1 for s in samples for x in s.slippage if x.vwap is None)


async def test_alerts_events_and_book_snapshots(pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    rec = fast(cfg_for(pg_db, tmp_path, book_snapshot_interval_s=2.0, book_snapshot_levels=2))
    await rec.start()
    # Alert lifecycle: opened, then (same object mutated by the detector) closed with a bigger peak.
    a = Alert("okx", "BTC-USDT", "depth", T0_NS, -3.4, Severity.WARNING)
    rec.on_alert(a)
    await rec.flush(5)
    assert (await pg_conn.fetchrow("SELECT closed_ns, severity, peak_z FROM alert"))["closed_ns"] is None
    a.peak_z, a.severity, a.closed_ns = -5.25, Severity.CRITICAL, T0_NS + 7_000_000_000
    rec.on_alert(a)
    # Open and close of another alert in the same batch, and a late replay of an old open.
    b = Alert("okx", "BTC-USDT", "spread", T0_NS + 1, 3.1, Severity.WARNING)
    rec.on_alert(b)
    b.peak_z, b.severity, b.closed_ns = 4.2, Severity.HIGH, T0_NS + 9
    rec.on_alert(b)
    rec.on_alert(Alert("okx", "BTC-USDT", "spread", T0_NS + 1, 3.1, Severity.WARNING))

    rec.on_event(FeedEvent(T0_NS + 5, "okx", "BTC-USDT", FeedEventKind.CHECKSUM, "crc 123 != 456"))
    rec.on_event(FeedEvent(T0_NS + 5, "okx", "BTC-USDT", FeedEventKind.RESYNC, "crc 123 != 456"))
    rec.on_event(FeedEvent(0, "okx", "", FeedEventKind.DISCONNECT, "close 1006\x00"))  # no ts, a NUL

    book = OrderBook("okx", "BTC-USDT")
    book.load_snapshot([["100.10", "1.5"], ["100.00", "2"], ["99.9", "3"]], [["100.20", "0.10000000"]])
    st = SymbolState("okx", "BTC-USDT", book, status=StreamStatus.LIVE)
    for i, s in enumerate(make_samples(5, venues=("okx",), symbol="BTC-USDT")):
        st.status = StreamStatus.LIVE if i != 4 else StreamStatus.RESYNCING
        rec.on_sample(s, st)
    await rec.close()

    alerts = {r["signal"]: r for r in await pg_conn.fetch("SELECT * FROM alert")}
    assert (alerts["depth"]["closed_ns"], alerts["depth"]["severity"], alerts["depth"]["peak_z"]) == (
        T0_NS + 7_000_000_000, "critical", -5.25)
    assert (alerts["spread"]["closed_ns"], alerts["spread"]["severity"], alerts["spread"]["peak_z"]) == (
        T0_NS + 9, "high", 4.2)
    assert alerts["depth"]["closed_at"].isoformat() == "2025-11-25T00:00:07+00:00"

    events = await pg_conn.fetch("SELECT ts_ns, kind, detail FROM feed_event ORDER BY kind")
    assert [(e["kind"], e["detail"]) for e in events] == [
        ("checksum", "crc 123 != 456"), ("disconnect", "close 1006"), ("resync", "crc 123 != 456")]
    assert events[1]["ts_ns"] > T0_NS  # the receive time stands in for a missing timestamp

    snaps = await pg_conn.fetch("SELECT * FROM book_snapshot ORDER BY ts_ns")
    assert [r["ts_ns"] for r in snaps] == [T0_NS, T0_NS + 2_000_000_000]  # every 2 s; not while resyncing
    assert snaps[0]["bid_price"] == [Decimal("100.10"), Decimal("100.00")]
    assert snaps[0]["bid_size"] == [Decimal("1.5"), Decimal("2")]
    assert [str(x) for x in snaps[0]["ask_size"]] == ["0.10000000"]
    statuses = [r["status"] for r in await pg_conn.fetch("SELECT status FROM metric_sample ORDER BY ts_ns")]
    assert statuses == ["live"] * 4 + ["resyncing"]


async def test_a_clean_stop_closes_the_alerts_it_left_open_with_a_reason(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    """Nothing watches an alert after its process stops: left open, it would stay open in the table forever.
    Alerts another process watches (a collector's, recorded by ``record --from``) are not this run's to close."""
    rec = fast(cfg_for(pg_db, tmp_path))
    await rec.start()
    still_open = Alert("okx", "BTC-USDT", "depth", T0_NS, -3.4, Severity.WARNING)
    closed = Alert("okx", "BTC-USDT", "spread", T0_NS + 1, 3.2, Severity.WARNING, closed_ns=T0_NS + 5)
    others = Alert("bybit-spot", "BTCUSDT", "depth", T0_NS + 2, -3.1, Severity.WARNING)
    rec.on_alert(still_open)
    rec.on_alert(closed)
    rec.on_alert(others, "collector-host-bybit-17")
    before = time.time_ns()
    await rec.close()
    rows = {r["signal"] + r["venue"]: r for r in await pg_conn.fetch("SELECT * FROM alert")}
    left = rows["depthokx"]
    assert left["closed_ns"] is not None and before <= left["closed_ns"] <= time.time_ns()
    assert left["close_reason"] == "lcm-tui stopped while the alert was open"
    assert (rows["spreadokx"]["closed_ns"], rows["spreadokx"]["close_reason"]) == (T0_NS + 5, None)
    assert rows["depthbybit-spot"]["closed_ns"] is None  # its collector still watches it


async def test_migrations_are_versioned_idempotent_and_serialised(pg_db: str) -> None:
    conns = [await asyncpg.connect(pg_db) for _ in range(3)]
    try:
        found = await asyncio.gather(*(schema.migrate(c) for c in conns))
        assert sorted(found) == [0, schema.LATEST_VERSION, schema.LATEST_VERSION]
        assert await schema.migrate(conns[0]) == schema.LATEST_VERSION
        versions = await conns[0].fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in schema.MIGRATIONS]
        await conns[0].execute("INSERT INTO schema_version VALUES ($1, 'from the future')", schema.LATEST_VERSION + 1)
        with pytest.raises(schema.SchemaTooNewError):
            await schema.migrate(conns[1])
    finally:
        for c in conns:
            await c.close()


async def test_a_rejected_record_is_isolated_counted_and_the_rest_written(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    samples = make_samples(40, seed=5)
    samples[17].best_bid = "not-a-number"
    rec = fast(cfg_for(pg_db, tmp_path))
    await rec.start()
    for s in samples:
        rec.on_sample(s, None)
    await rec.flush(10)
    st = rec.status()
    await rec.close()
    assert (st.rows_written, st.dropped_rows) == (39, 1)
    await assert_exactly_once(pg_conn, samples[:17] + samples[18:])


# ------------------------------------------------------------------------------- exactly once
async def test_terminated_backends_mid_stream_lose_and_duplicate_nothing(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    samples = make_samples(1200, seed=11)
    rec = fast(cfg_for(pg_db, tmp_path, batch_size=50))
    await rec.start()
    kills = 0
    for chunk in range(6):
        part = samples[chunk * 200:(chunk + 1) * 200]
        base = rec.status().rows_written
        for s in part[:100]:
            rec.on_sample(s, None)
        # A batch of this chunk was committed, so the writer holds a live connection with more to write:
        # kill its backend from another connection.
        def progressed(st: RecorderStatus, base: int = base) -> bool:
            return st.rows_written > base and st.down_since is None

        await rec.wait_until(progressed, 10)
        kills += await pg_conn.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'lcm-tui-recorder' AND datname = current_database()")
        for s in part[100:]:
            rec.on_sample(s, None)
    await rec.flush(20)
    st = rec.status()
    await rec.close()
    assert kills == 6
    assert st.last_error is not None  # the failures really reached the recorder
    assert st.dropped_rows == 0
    await assert_exactly_once(pg_conn, samples)


async def test_unreachable_server_spills_then_replays_in_order_exactly_once(
        pg_db: str, pg_conn: asyncpg.Connection, proxy: TcpProxy, tmp_path: Path) -> None:
    dsn = pg_db.replace(":5432/", f":{proxy.port}/")
    samples = make_samples(600, seed=13)
    rec = fast(cfg_for(dsn, tmp_path, batch_size=40))
    await rec.start()
    for s in samples[:200]:
        rec.on_sample(s, None)
    await rec.flush(10)

    await proxy.stop()
    for s in samples[200:400]:
        rec.on_sample(s, None)
    await rec.wait_until(lambda st: st.down_since is not None and st.spilled_rows == 200 and st.queue_depth == 0, 10)
    down = rec.status()
    assert "DOWN" in down.describe() and "spill 200 rows" in down.describe()
    assert down.lag_s >= 0 and down.last_error
    for s in samples[400:]:
        rec.on_sample(s, None)

    await proxy.start()
    await rec.flush(20)
    st = rec.status()
    await rec.close()
    assert (st.spilled_rows, st.spill_bytes, st.down_since, st.dropped_rows) == (0, 0, None, 0)
    assert not (tmp_path / "spill.jsonl").exists()  # drained, and an empty spill file is removed on close
    await assert_exactly_once(pg_conn, samples)


async def test_a_stalled_server_times_out_and_close_hands_the_rest_to_the_next_start(
        pg_db: str, pg_conn: asyncpg.Connection, proxy: TcpProxy, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    dsn = pg_db.replace(":5432/", f":{proxy.port}/")
    samples = make_samples(300, seed=37)
    rec = Recorder(cfg_for(dsn, tmp_path, batch_size=50), backoff_min_s=0.02, backoff_max_s=0.1,
                   connect_timeout_s=0.3, write_timeout_s=0.3)
    await rec.start()
    for s in samples[:100]:
        rec.on_sample(s, None)
    await rec.flush(10)

    # Writes hang: the write timeout marks the database down and the batch in flight is spilled.
    proxy.pause()
    for s in samples[100:200]:
        rec.on_sample(s, None)
    await rec.wait_until(lambda st: st.down_since is not None and st.spilled_rows == 100, 10)
    assert "TimeoutError" in (rec.status().last_error or "")
    proxy.resume()
    await rec.flush(10)
    await rec.close()

    # close() while a write hangs: after close_timeout_s the writer is cancelled mid-COPY and what it
    # held (the batch in flight and the queue) goes to the spill file, which the next start replays.
    stuck = Recorder(cfg_for(dsn, tmp_path, batch_size=50), write_timeout_s=30.0, close_timeout_s=0.3)
    await stuck.start()
    proxy.pause()
    for s in samples[200:]:
        stuck.on_sample(s, None)
    await stuck.close()
    assert stuck.status().spilled_rows == 100
    assert "could not finish writing within 0.3 s" in caplog.text
    proxy.resume()

    after = fast(cfg_for(pg_db, tmp_path))
    await after.start()
    await after.flush(10)
    await after.close()
    await assert_exactly_once(pg_conn, samples)


# ------------------------------------------------------------------------------------ secrets
async def test_wrong_dsn_errors_name_the_problem_but_never_the_password(
        pg_available: None, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = [
        f"postgresql://nosuchuser:{SECRET}@127.0.0.1:5432/postgres",  # role does not exist
        f"postgresql://postgres:{SECRET}@127.0.0.1:5432/nosuchdb_lcm",  # database does not exist
        f"postgresql://postgres:{SECRET}@127.0.0.1:notaport/postgres",  # malformed
    ]
    for dsn, expect in zip(bad, ["nosuchuser", "nosuchdb_lcm", "the port is not a number"], strict=True):
        rec = fast(cfg_for(dsn, tmp_path))
        with pytest.raises(RecorderError) as ei:
            await rec.start()
        err = ei.value
        assert expect in str(err) and err.exit_code == 2 and "\n" not in str(err)
        if "port" in expect:  # a DSN that does not parse is not echoed at all
            assert "notaport" not in str(err) and "127.0.0.1" not in str(err)
        else:
            assert "postgres:***@" in str(err) or "nosuchuser:***@" in str(err)
        for text in (str(err), repr(err), rec.describe(), str(rec.status())):
            assert SECRET not in text
        assert err.__cause__ is None and err.__suppress_context__
    assert SECRET not in caplog.text


# -------------------------------------------------------------------------------------- spill
async def test_full_spill_file_drops_visibly_and_a_restart_replays_the_rest(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    samples = make_samples(60, seed=17)
    down = fast(cfg_for(f"postgresql://postgres@127.0.0.1:{free_port()}/x", tmp_path, spill_max_bytes=8192))
    await down.start()
    for s in samples:
        down.on_sample(s, None)
    await down.close()  # what close() cannot write is spilled; what does not fit is dropped
    st = down.status()
    kept = st.spilled_rows
    assert 0 < kept < len(samples) and st.dropped_rows == len(samples) - kept
    assert f"{st.dropped_rows} DROPPED" in st.describe()
    assert "is full" in caplog.text
    spill = tmp_path / "spill.jsonl"
    assert 8192 - 1024 < spill.stat().st_size <= 8192

    up = fast(cfg_for(pg_db, tmp_path))
    await up.start()
    assert up.status().spilled_rows == kept
    up.on_sample(samples[-1], None)  # a new sample goes behind the replayed ones
    await up.flush(10)
    st = up.status()
    await up.close()
    assert (st.rows_written, st.spilled_rows, st.dropped_rows) == (kept + 1, 0, 0)
    assert not spill.exists()
    # Arrival order is kept: exactly the first `kept` samples survived, plus the new one.
    await assert_exactly_once(pg_conn, [*samples[:kept], samples[-1]])


async def test_restart_after_crash_replays_spill_with_torn_tail_and_already_written_rows(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    samples = make_samples(30, seed=19)
    down = fast(cfg_for(f"postgresql://postgres@127.0.0.1:{free_port()}/x", tmp_path))
    await down.start()
    for s in samples:
        down.on_sample(s, None)
    await down.close()
    spill = tmp_path / "spill.jsonl"
    with spill.open("ab") as f:
        f.write(b'["s",1.0,["binance","BTCUSDT",')  # a crash in the middle of a write

    # Some of these rows reached the database before the crash: replay must not duplicate them.
    first = fast(cfg_for(pg_db, tmp_path / "other"))
    await first.start()
    for s in samples[:10]:
        first.on_sample(s, None)
    await first.close()

    up = fast(cfg_for(pg_db, tmp_path))
    await up.start()
    assert up.status().spilled_rows == 30 and up.status().dropped_rows == 1  # the torn line is counted
    await up.flush(10)
    await up.close()
    await assert_exactly_once(pg_conn, samples)


async def test_two_recorders_cannot_share_a_spill_file(pg_db: str, tmp_path: Path) -> None:
    a = fast(cfg_for(pg_db, tmp_path))
    await a.start()
    try:
        with pytest.raises(RecorderError, match="in use"):
            await fast(cfg_for(pg_db, tmp_path)).start()
    finally:
        await a.close()


async def test_a_slow_database_moves_the_backlog_to_the_spill_file_in_order(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    samples = make_samples(70, seed=29)
    rec = fast(cfg_for(pg_db, tmp_path, max_queue=50, batch_size=10))
    await rec.start()
    for s in samples:  # faster than any writer: the backlog passes half of max_queue, then the queue is full
        rec.on_sample(s, None)
    assert rec.status().dropped_rows == 20
    await rec.flush(10)
    st = rec.status()
    await rec.close()
    assert st.spilled_total == 50 and st.rows_written == 50 and st.spilled_rows == 0
    await assert_exactly_once(pg_conn, samples[:50])


async def test_run_as_a_worker_flushes_when_cancelled(pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    samples = make_samples(25, seed=31)
    rec = fast(cfg_for(pg_db, tmp_path, flush_interval_s=30.0))  # nothing is written before the cancel
    worker = asyncio.create_task(rec.run())
    await rec.wait_until(lambda _: rec.running, 5)
    for s in samples:
        rec.on_sample(s, None)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    await assert_exactly_once(pg_conn, samples)


# ---------------------------------------------------------------------------------- escalation
async def test_alert_escalations_reported_by_the_core_are_written(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    """The monitor reports each open, escalation and close once (``on_alert_change``), for a stream's
    alert and for a cross-venue one alike: each is written as it comes, the row keeps the worst state."""
    rec = fast(cfg_for(pg_db, tmp_path))
    await rec.start()
    samples = make_samples(4, venues=("okx",), symbol="BTC-USDT")
    a = Alert("okx", "BTC-USDT", "depth", T0_NS, -3.2, Severity.WARNING)
    m = Alert("market", "BTC", "market:depth", T0_NS, -3.0, Severity.WARNING)  # no sample reports on it
    rec.on_alert_change(AlertChange(AlertAction.OPEN, dataclasses.replace(a)))
    rec.on_alert_change(AlertChange(AlertAction.OPEN, dataclasses.replace(m)))
    rec.on_sample(samples[0], None)
    await rec.flush(5)
    a.peak_z, a.severity = -4.4, Severity.HIGH  # what Detector.step does, then reports
    m.peak_z, m.severity = -5.5, Severity.CRITICAL  # what MarketCrunchDetector.update does, then reports
    rec.on_alert_change(AlertChange(AlertAction.ESCALATE, dataclasses.replace(a)))
    rec.on_alert_change(AlertChange(AlertAction.ESCALATE, dataclasses.replace(m)))
    await rec.flush(5)
    rows = await pg_conn.fetch("SELECT signal, severity, peak_z, closed_ns, run_id FROM alert ORDER BY signal")
    assert [(r["signal"], r["severity"], r["peak_z"], r["closed_ns"]) for r in rows] == [
        ("depth", "high", -4.4, None), ("market:depth", "critical", -5.5, None)]
    assert {str(r["run_id"]) for r in rows} == {rec.run_id}
    a.closed_ns = T0_NS + 5
    rec.on_alert_change(AlertChange(AlertAction.CLOSE, dataclasses.replace(a)))
    await rec.flush(5)
    row = await pg_conn.fetchrow("SELECT severity, peak_z, closed_ns FROM alert WHERE signal = 'depth'")
    assert (row["severity"], row["peak_z"], row["closed_ns"]) == ("high", -4.4, T0_NS + 5)
    await rec.close()
