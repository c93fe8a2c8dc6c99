"""Two ways the recorder used to lose or stall what ``record --from`` hands it.

* An alert that came over the bus names its collector (``host-venues-pid``) as the run that watched
  it, and ``alert.run_id`` is a uuid column: the server refused every such alert, which was dropped
  as "rejected for its data". The collector's id is now stored as a stable uuid5 of it.
* A backend that stops answering without an error (SIGSTOP here; a host that drops packets alike):
  the write timeout cancelled the write and then waited for the cancelled call's ROLLBACK, which such
  a server never answers, so the writer hung for good: never DOWN, never a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from pathlib import Path

import asyncpg
from recdata import T0_NS, cfg_for, fast, make_samples
from test_recorder import assert_exactly_once

from lcm_tui.core.model import Alert, Severity
from lcm_tui.record import Recorder
from lcm_tui.record.postgres import APPLICATION_NAME
from lcm_tui.record.rows import ALERT, alert_payload
from lcm_tui.record.spill import SpillFile


async def test_alerts_watched_by_a_collector_are_stored_with_a_stable_id(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    rec = fast(cfg_for(pg_db, tmp_path))
    await rec.start()
    rec.on_alert(Alert("okx", "BTC-USDT", "depth", T0_NS, -3.3, Severity.WARNING), "host-a-okx+kraken-4242")
    rec.on_alert(Alert("okx", "ETH-USDT", "depth", T0_NS, -3.4, Severity.WARNING), "host-a-okx+kraken-4242")
    rec.on_alert(Alert("coinbase", "BTC-USD", "spread", T0_NS, 3.5, Severity.HIGH), "host-b-coinbase-17")
    rec.on_alert(Alert("kraken", "BTC-USD", "spread", T0_NS, 3.6, Severity.HIGH))  # watched by this run
    await rec.flush(10)
    await rec.close()
    assert rec.status().dropped_rows == 0
    ids = {r["symbol"] + "/" + r["venue"]: str(r["run_id"]) for r in await pg_conn.fetch("SELECT * FROM alert")}
    assert len(ids) == 4
    assert ids["BTC-USDT/okx"] == ids["ETH-USDT/okx"]  # one collector, one id
    assert len({ids["BTC-USDT/okx"], ids["BTC-USD/coinbase"], ids["BTC-USD/kraken"]}) == 3
    assert ids["BTC-USD/kraken"] == rec.run_id  # a recorder's own run id is a UUID and stays as it is
    assert uuid.UUID(ids["BTC-USDT/okx"]).version == 5


async def test_a_journal_line_with_a_collector_id_is_replayed_not_dropped(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    """What an earlier version spilled during an outage: the collector's id verbatim in the line."""
    cfg = cfg_for(pg_db, tmp_path)
    spill = SpillFile(cfg.spill_path, cfg.spill_max_bytes)
    spill.open()
    a = Alert("okx", "BTC-USDT", "depth", T0_NS, -4.1, Severity.HIGH)
    spill.append([(ALERT, 1.0, alert_payload(a, "host-a-okx-1"))])
    spill.close()
    rec = fast(cfg)
    await rec.start()
    await rec.flush(10)
    await rec.close()
    assert rec.status().dropped_rows == 0
    row = await pg_conn.fetchrow("SELECT severity::text AS sev, peak_z FROM alert")
    assert row is not None and (row["sev"], row["peak_z"]) == ("high", -4.1)


async def test_a_backend_that_stops_answering_is_given_up_and_a_new_connection_carries_on(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    """Stopped inside a transaction, which is where a write spends its time: the test holds a SHARE
    lock on ``metric_sample``, so the recorder's move from staging waits for it mid-transaction, and
    its backend is stopped there. Then the lock is released, so only the stopped backend is in the way."""
    samples = make_samples(60, seed=41)
    rec = Recorder(cfg_for(pg_db, tmp_path, batch_size=20), backoff_min_s=0.02, backoff_max_s=0.2,
                   connect_timeout_s=2.0, write_timeout_s=1.0)
    await rec.start()
    for s in samples[:20]:
        rec.on_sample(s, None)
    await rec.flush(10)
    pids = [r["pid"] for r in await pg_conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME)]
    assert len(pids) == 1
    stopped = False
    tx = pg_conn.transaction()
    await tx.start()
    try:
        await pg_conn.execute("LOCK TABLE metric_sample IN SHARE MODE")
        for s in samples[20:]:
            rec.on_sample(s, None)
        for _ in range(200):  # until the recorder's backend waits for the lock, inside its transaction
            if await pg_conn.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                                      pids[0]) == "Lock":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the recorder's write never reached the locked table")
        os.kill(pids[0], signal.SIGSTOP)
        stopped = True
        await rec.wait_until(lambda st: st.down_since is not None, 20)  # the write timeout gives up on it
        assert "no answer from the server within 1 s" in (rec.status().last_error or "")
        await tx.rollback()  # the lock goes (to the stopped backend: a row lock mode, shared with others)
        await rec.flush(20)  # on a new connection, while the old backend is still stopped
        await assert_exactly_once(pg_conn, samples)
    finally:
        if stopped:
            os.kill(pids[0], signal.SIGCONT)
        with contextlib.suppress(asyncpg.InterfaceError):  # already rolled back
            await tx.rollback()
        await rec.close()
    assert rec.status().dropped_rows == 0
