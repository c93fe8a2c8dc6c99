"""Recorder throughput into the local PostgreSQL, against row-by-row INSERTs of the same data.

lcm-tui: ``Recorder.on_sample`` (what the sample clock pays per sample), then the writer's batched
COPY into staging tables + ``INSERT ... ON CONFLICT`` (idempotent), sustained: samples are produced
in chunks while the writer drains, and the clock stops when everything is committed.
Baseline: the obvious design, ``executemany`` of one ``INSERT ... ON CONFLICT DO NOTHING`` per row
(sample, depth band and slippage rows) in one transaction per 500 samples.

One sample = 1 ``metric_sample`` row + 4 ``sample_depth`` rows + 6 ``sample_slippage`` rows.
Needs PostgreSQL on 127.0.0.1:5432 (trust auth); without it the bench is skipped with a note.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import MetricSample, Slippage
from lcm_tui.record import Recorder, schema
from lcm_tui.record.rows import SAMPLE, Tables, sample_payload

HOST, PORT = "127.0.0.1", 5432
ADMIN_DSN = f"postgresql://postgres@{HOST}:{PORT}/postgres"
SEED = 20240601
BANDS = [10, 50, 100, 200]
NOTIONALS = [10_000.0, 100_000.0, 1_000_000.0]
ROWS_PER_SAMPLE = 1 + len(BANDS) + 2 * len(NOTIONALS)
VENUES = ("binance", "binance-usdm", "bybit-spot", "okx", "kraken", "coinbase")


def samples(n: int, start_ns: int, seed: int = SEED) -> list[MetricSample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        bid = round(rng.uniform(60_000, 70_000), 2)
        ask = bid + 0.01
        mid = (bid + ask) / 2
        db = {b: rng.uniform(1e5, 1e8) for b in BANDS}
        da = {b: rng.uniform(1e5, 1e8) for b in BANDS}
        slips = [Slippage(side, n_, mid * 1.0001, 1.0 + rng.random(), rng.randint(1, 40), n_)
                 for side in ("buy", "sell") for n_ in NOTIONALS]
        out.append(MetricSample(VENUES[i % len(VENUES)], "BTCUSDT", start_ns + (i // len(VENUES)) * 10**9,
                                f"{bid:.2f}", f"{ask:.8f}", mid, (ask - bid) / mid * 1e4, db, da,
                                {b: (db[b] - da[b]) / (db[b] + da[b]) for b in BANDS}, slips))
    return out


async def _recorder_run(dsn: str, data: list[MetricSample], spill: Path) -> tuple[float, float, int]:
    """(samples/s sustained until committed, microseconds per on_sample call, records that went
    through the spill journal because the database had not confirmed them within a flush interval)."""
    rec = Recorder(RecorderConfig(dsn=dsn, spill_path=str(spill)))
    await rec.start()
    chunk = 1_000
    enqueue_s = 0.0
    t0 = time.perf_counter()
    for i in range(0, len(data), chunk):
        t = time.perf_counter()
        for s in data[i:i + chunk]:
            rec.on_sample(s, None)
        enqueue_s += time.perf_counter() - t
        await rec.wait_until(lambda st: st.queue_depth < 2 * chunk)
    await rec.flush()
    elapsed = time.perf_counter() - t0
    st = rec.status()
    await rec.close()
    if st.rows_written != len(data) or st.dropped_rows:
        raise RuntimeError(f"recorder bench lost rows: {st}")
    return len(data) / elapsed, enqueue_s / len(data) * 1e6, st.spilled_total


async def _baseline_run(dsn: str, data: list[MetricSample]) -> float:
    conn = await asyncpg.connect(dsn)
    ins = {
        name: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})"
              " ON CONFLICT DO NOTHING"
        for name, table, cols in (
            ("s", "metric_sample", schema.SAMPLE_COLS),
            ("d", "sample_depth", schema.DEPTH_COLS),
            ("x", "sample_slippage", schema.SLIPPAGE_COLS),
        )
    }
    t0 = time.perf_counter()
    for i in range(0, len(data), 500):
        t = Tables([(SAMPLE, 0.0, sample_payload(s, "live")) for s in data[i:i + 500]])
        async with conn.transaction():
            await conn.executemany(ins["s"], t.samples)
            await conn.executemany(ins["d"], t.depth)
            await conn.executemany(ins["x"], t.slippage)
    elapsed = time.perf_counter() - t0
    await conn.close()
    return len(data) / elapsed


async def _run(quick: bool) -> dict[str, Any]:
    n = 5_000 if quick else 50_000
    n_base = 1_000 if quick else 5_000
    name = f"lcm_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://postgres@{HOST}:{PORT}/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rate, enqueue_us, journaled = await _recorder_run(dsn, samples(n, 0), Path(tmp) / "spill.jsonl")
        base = await _baseline_run(dsn, samples(n_base, 10**18))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "rows": [
            ("recorder samples/s into PostgreSQL (sustained)", rate, base, "samples/s"),
            ("recorder table rows/s (1 sample = 11 rows)", rate * ROWS_PER_SAMPLE, base * ROWS_PER_SAMPLE, "rows/s"),
            ("recorder on_sample cost (caller side)", enqueue_us, None, "us/sample"),
            ("recorder records through the spill journal", journaled / n * 100, None, "% of samples"),
        ],
        "json": {
            "recorder_samples_per_s": rate,
            "recorder_rows_per_s": rate * ROWS_PER_SAMPLE,
            "recorder_baseline_samples_per_s": base,
            "recorder_enqueue_us": enqueue_us,
            "recorder_samples": n,
            "recorder_journaled": journaled,
        },
    }


def _server_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1.0):
            return True
    except OSError:
        return False


def run(quick: bool = False) -> dict[str, Any]:
    if not _server_answers():
        note = f"recorder bench skipped: no PostgreSQL server answers on {HOST}:{PORT}"
        print(note, file=sys.stderr)
        return {"rows": [], "json": {"recorder_skipped": note}}
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    for label, value, baseline, unit in run(quick="--quick" in sys.argv)["rows"]:
        b = f"{baseline:,.1f}" if baseline is not None else "-"
        print(f"{label:52s} {value:>14,.1f} {b:>14s} {unit}")
