"""The example queries of the README (recorder section) run on the real schema and give the right answers.

Keep these strings identical to the README's.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from recdata import T0_NS, make_samples

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import Alert, FeedEvent, FeedEventKind, Severity
from lcm_tui.record import Recorder

pytestmark = pytest.mark.postgres

HOURLY_MEDIAN_DEPTH_2PCT = """
SELECT s.venue,
       date_trunc('hour', s.ts, 'UTC') AS hour,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d.depth_bid + d.depth_ask) AS median_depth_2pct
FROM metric_sample s
JOIN sample_depth d USING (venue, symbol, ts_ns)
WHERE d.band_bps = 200
  AND s.symbol = 'BTCUSDT'
  AND s.ts >= '2025-11-25 00:00+00' AND s.ts < '2025-11-26 00:00+00'
GROUP BY s.venue, hour
ORDER BY s.venue, hour;
"""

CRITICAL_ALERTS_OF_A_DAY = """
SELECT venue, symbol, signal, opened_at, closed_at, peak_z
FROM alert
WHERE severity = 'critical'
  AND opened_at >= '2025-11-25 00:00+00' AND opened_at < '2025-11-26 00:00+00'
ORDER BY opened_at;
"""

RESYNCS_PER_VENUE_PER_HOUR = """
SELECT venue, date_trunc('hour', ts, 'UTC') AS hour, count(*) AS resyncs
FROM feed_event
WHERE kind = 'resync'
  AND ts >= '2025-11-25 00:00+00' AND ts < '2025-11-26 00:00+00'
GROUP BY venue, hour
ORDER BY venue, hour;
"""

HOUR_NS = 3600 * 10**9


def hour(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns // HOUR_NS * 3600, UTC)


async def test_readme_queries(pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    samples = make_samples(36, seed=23, step_ns=600 * 10**9)  # 2 venues, every 10 min, 3 hours
    samples += make_samples(2, seed=24, start_ns=T0_NS - HOUR_NS)  # the day before: excluded
    rec = Recorder(RecorderConfig(dsn=pg_db, flush_interval_s=0.05, spill_path=str(tmp_path / "s.jsonl")))
    await rec.start()
    for s in samples:
        rec.on_sample(s, None)
    alerts = [
        Alert("binance", "BTCUSDT", "depth", T0_NS + 5 * 60 * 10**9, -5.5, Severity.CRITICAL, T0_NS + HOUR_NS),
        Alert("okx", "BTCUSDT", "slip_buy", T0_NS + 2 * HOUR_NS, 6.1, Severity.CRITICAL),
        Alert("okx", "BTCUSDT", "spread", T0_NS + HOUR_NS, 4.5, Severity.HIGH),
        Alert("okx", "BTCUSDT", "depth", T0_NS - 10**9, -7.0, Severity.CRITICAL),  # the day before
    ]
    for a in alerts:
        rec.on_alert(a)
    resyncs = {"binance": [0, 1, 1, 1], "okx": [2]}  # hours after T0
    for venue, hours in resyncs.items():
        for h in hours:
            rec.on_event(FeedEvent(T0_NS + h * HOUR_NS + 17, venue, "BTCUSDT", FeedEventKind.RESYNC, "gap"))
            rec.on_event(FeedEvent(T0_NS + h * HOUR_NS + 17, venue, "BTCUSDT", FeedEventKind.GAP, "gap"))
    stopped = datetime.now(UTC)
    await rec.close()  # the alerts still open are closed by the stop: nothing watches them any more

    groups: dict[tuple[str, datetime], list[float]] = defaultdict(list)
    for s in samples[:36]:
        groups[(s.venue, hour(s.ts_ns))].append(s.depth_bid[200] + s.depth_ask[200])
    rows = await pg_conn.fetch(HOURLY_MEDIAN_DEPTH_2PCT)
    assert [(r["venue"], r["hour"]) for r in rows] == sorted(groups)
    for r in rows:
        assert r["median_depth_2pct"] == pytest.approx(statistics.median(groups[(r["venue"], r["hour"])]), rel=1e-12)

    rows = await pg_conn.fetch(CRITICAL_ALERTS_OF_A_DAY)
    assert [(r["venue"], r["signal"], r["peak_z"]) for r in rows] == [
        ("binance", "depth", -5.5), ("okx", "slip_buy", 6.1)]
    assert rows[0]["closed_at"] == datetime(2025, 11, 25, 1, tzinfo=UTC) and rows[1]["closed_at"] >= stopped

    rows = await pg_conn.fetch(RESYNCS_PER_VENUE_PER_HOUR)
    assert [(r["venue"], r["hour"].hour, r["resyncs"]) for r in rows] == [
        ("binance", 0, 1), ("binance", 1, 3), ("okx", 2, 1)]
