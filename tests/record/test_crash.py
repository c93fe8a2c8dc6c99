"""SIGKILL of a real recording process while PostgreSQL is up, stalled and unreachable.

The promise under test: a crash loses at most one flush interval. ``recdriver.py feed`` prints every
sample, alert state and feed event after handing it to the recorder; the test kills it with SIGKILL
and starts ``recdriver.py drain`` on the same spill journal, as the next ``lcm-tui --record`` would.
Then everything printed more than the kill window before the kill must be in the database exactly
once. The window is two flush intervals: one is the promise, the second absorbs the scheduling of
two processes on a loaded machine (a record is journaled at the latest one interval after it
arrived). The next start must also say what the dead run may have lost, close the alert it left
open with a reason, and show the journal's real lag.

Stalled: the recorder's own backend is stopped with SIGSTOP (found by its application_name in
pg_stat_activity), so its write hangs without an error, which is the case that used to keep records
in memory only. Unreachable: the recorder connects through a local TCP proxy that the test stops.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from recdata import BANDS, NOTIONALS
from recnet import TcpProxy

from lcm_tui.record.postgres import APPLICATION_NAME

pytestmark = pytest.mark.postgres

DRIVER = Path(__file__).resolve().parent / "recdriver.py"
REPO = Path(__file__).resolve().parents[2]
INTERVAL = 0.5
WINDOW = 2 * INTERVAL


@dataclass
class Run:
    proc: asyncio.subprocess.Process
    samples: list[tuple[str, str, int, float]] = field(default_factory=list)
    alerts: list[tuple[str, str, str, int, float, str, float]] = field(default_factory=list)
    events: list[tuple[str, str, int, str, float]] = field(default_factory=list)
    start: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode().rstrip("\n")
            self.lines.append(text)
            kind, _, rest = text.partition(" ")
            f = rest.split(" ")
            if kind == "S":
                self.samples.append((f[0], f[1], int(f[2]), float(f[3])))
            elif kind == "A":
                self.alerts.append((f[0], f[1], f[2], int(f[3]), float(f[4]), f[5], float(f[6])))
            elif kind == "V":
                self.events.append((f[0], f[1], int(f[2]), f[3], float(f[4])))
            elif kind == "START":
                self.start = orjson.loads(rest)
            elif kind == "DONE":
                self.done = orjson.loads(rest)


async def spawn(mode: str, dsn: str, spill: Path, start: int = 0) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(DRIVER), mode, "--dsn", dsn, "--spill", str(spill), "--interval", str(INTERVAL),
        "--start", str(start), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    run = Run(proc)
    run.reader = asyncio.create_task(run.read())
    return run


async def wait_for(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def kill(run: Run) -> float:
    """SIGKILL; the monotonic time of the kill."""
    t = time.monotonic()
    run.proc.kill()
    await run.proc.wait()
    assert run.reader is not None
    await run.reader
    return t


async def drain(dsn: str, spill: Path) -> Run:
    run = await spawn("drain", dsn, spill)
    rc = await asyncio.wait_for(run.proc.wait(), 30)
    assert run.reader is not None
    await run.reader
    assert run.proc.stderr is not None
    err = (await run.proc.stderr.read()).decode()
    assert rc == 0, err
    assert run.start is not None and run.done is not None, run.lines
    return run


async def check_stored(conn: asyncpg.Connection, run: Run, killed_at: float) -> dict[str, int]:
    """Everything printed before the window is stored once; nothing that was never handed over is."""
    rows = await conn.fetch("SELECT venue, symbol, ts_ns FROM metric_sample")
    stored = [(r["venue"], r["symbol"], r["ts_ns"]) for r in rows]
    printed = [(v, s, ts) for v, s, ts, _ in run.samples]
    must = [(v, s, ts) for v, s, ts, t in run.samples if t <= killed_at - WINDOW]
    assert len(must) >= 40, "the driver did not run long enough to prove anything"
    assert set(must) <= set(stored), f"lost {len(set(must) - set(stored))} samples printed before the window"
    assert set(stored) <= set(printed)
    assert len(stored) == len(set(stored))
    keys = {(v, s, ts) for v, s, ts in stored}
    depth = await conn.fetchval("SELECT count(*) FROM sample_depth")
    slip = await conn.fetchval("SELECT count(*) FROM sample_slippage")
    assert (depth, slip) == (len(keys) * len(BANDS), len(keys) * 2 * len(NOTIONALS))  # no orphans, no doubles

    ev_rows = await conn.fetch("SELECT venue, symbol, ts_ns, detail FROM feed_event WHERE kind = 'resync'")
    ev_stored = sorted((r["venue"], r["symbol"], r["ts_ns"], r["detail"]) for r in ev_rows)
    ev_must = {(v, s, ts, d) for v, s, ts, d, t in run.events if t <= killed_at - WINDOW}
    assert ev_must <= set(ev_stored) and len(ev_stored) == len(set(ev_stored))

    # The alert: its last escalation before the window is stored (or a later one), and it was closed
    # by the next start because its process died.
    before = [a for a in run.alerts if a[6] <= killed_at - WINDOW]
    assert len(before) >= 3, "the alert must have escalated a few times before the kill"
    alert = await conn.fetchrow("SELECT * FROM alert")
    assert alert is not None
    later_peaks = {a[4] for a in run.alerts if a[6] >= before[-1][6]}
    assert alert["peak_z"] in later_peaks and alert["severity"] == max(
        (a for a in run.alerts if a[4] == alert["peak_z"]), key=lambda a: a[6])[5]
    assert alert["closed_ns"] is not None and "died" in alert["close_reason"]
    return {"printed": len(printed), "stored": len(stored), "must": len(must),
            "lost": len(set(printed) - set(stored))}


def check_next_start(nxt: Run, killed_at: float, restarted_at: float) -> None:
    st = nxt.start
    assert st is not None
    assert st["previous_loss"] and st["previous_loss"].startswith("previous run died: gap ")
    assert st["previous_loss"] in st["describe"]
    assert any(line.startswith("EVENT recorder gap") for line in nxt.lines)
    if st["spilled_rows"]:
        # The lag is the age of the oldest journaled record, which predates the kill.
        assert st["lag_s"] >= restarted_at - killed_at
    done = nxt.done
    assert done is not None and done["spilled_rows"] == 0 and done["dropped_rows"] == 0


async def recovery_event_stored(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch("SELECT detail FROM feed_event WHERE venue = 'recorder' AND kind = 'gap'")
    assert len(rows) == 1 and "may be missing" in rows[0]["detail"]


async def test_sigkill_while_the_database_is_up(pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path,
                                                record_property: Any) -> None:
    spill = tmp_path / "spill.jsonl"
    run = await spawn("feed", pg_db, spill)
    await wait_for(lambda: len(run.samples) >= 80, 20, "80 samples")
    killed_at = await kill(run)
    restarted_at = time.monotonic()
    nxt = await drain(pg_db, spill)
    check_next_start(nxt, killed_at, restarted_at)
    figures = await check_stored(pg_conn, run, killed_at)
    await recovery_event_stored(pg_conn)
    record_property("figures", figures)
    print("up:", figures)


async def test_sigkill_while_the_database_stalls(pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path,
                                                 record_property: Any) -> None:
    spill = tmp_path / "spill.jsonl"
    run = await spawn("feed", pg_db, spill)
    await wait_for(lambda: len(run.samples) >= 40, 20, "40 samples")
    pids = [r["pid"] for r in await pg_conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME)]
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGSTOP)
    try:
        stalled_at = len(run.samples)
        await wait_for(lambda: len(run.samples) >= stalled_at + 60, 20, "3 s of samples into the stall")
        killed_at = await kill(run)
    finally:
        os.kill(pids[0], signal.SIGCONT)
    restarted_at = time.monotonic()
    nxt = await drain(pg_db, spill)
    check_next_start(nxt, killed_at, restarted_at)
    assert nxt.start is not None and nxt.start["spilled_rows"] > 0  # the stall's records came from the journal
    figures = await check_stored(pg_conn, run, killed_at)
    await recovery_event_stored(pg_conn)
    record_property("figures", figures)
    print("stalled:", figures)


async def test_sigkill_while_the_database_is_unreachable(pg_db: str, pg_conn: asyncpg.Connection,
                                                         proxy: TcpProxy, tmp_path: Path,
                                                         record_property: Any) -> None:
    spill = tmp_path / "spill.jsonl"
    run = await spawn("feed", pg_db.replace(":5432/", f":{proxy.port}/"), spill)
    await wait_for(lambda: len(run.samples) >= 40, 20, "40 samples")
    await proxy.stop()
    stopped_at = len(run.samples)
    await wait_for(lambda: len(run.samples) >= stopped_at + 60, 20, "3 s of samples into the outage")
    killed_at = await kill(run)
    restarted_at = time.monotonic()
    nxt = await drain(pg_db, spill)
    check_next_start(nxt, killed_at, restarted_at)
    assert nxt.start is not None and nxt.start["spilled_rows"] >= 40
    figures = await check_stored(pg_conn, run, killed_at)
    await recovery_event_stored(pg_conn)
    record_property("figures", figures)
    print("down:", figures)


async def _headless(dsn: str, cfg: Path, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lcm_tui.frontends.cli", "--config", str(cfg), "--demo", "--headless", "--record",
        cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "LCM_PG_DSN": dsn})


async def _status_lines(proc: asyncio.subprocess.Process, n: int) -> list[str]:
    assert proc.stderr is not None
    lines: list[str] = []
    while len([x for x in lines if x.startswith("recorder: ")]) < n:
        line = await asyncio.wait_for(proc.stderr.readline(), 20)
        assert line, f"lcm-tui ended early: {lines}"
        lines.append(line.decode().rstrip("\n"))
    return lines


async def test_lcm_tui_headless_killed_then_restarted_reports_the_gap(
        pg_db: str, pg_conn: asyncpg.Connection, tmp_path: Path) -> None:
    """The real command: ``lcm-tui --demo --headless --record``, SIGKILLed, then started again."""
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(f"recorder:\n  spill_path: {tmp_path / 'spill.jsonl'}\n  flush_interval_s: 0.5\n")
    first = await _headless(pg_db, cfg, tmp_path)
    try:
        before = await _status_lines(first, 3)
    finally:
        first.kill()
        await first.wait()
    assert not any("previous run died" in x for x in before)
    stored = await pg_conn.fetchval("SELECT count(*) FROM metric_sample")
    assert stored > 0

    second = await _headless(pg_db, cfg, tmp_path)
    try:
        after = await _status_lines(second, 2)
    finally:
        second.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(second.wait(), 20) == 0
    status = [x for x in after if x.startswith("recorder: ")]
    assert all("| previous run died: gap " in x for x in status), after
    await recovery_event_stored(pg_conn)
    assert not (tmp_path / "spill.jsonl.run").exists()  # the second run stopped cleanly
