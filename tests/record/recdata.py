"""Seeded, deterministic metric samples and recorder settings for the recorder tests."""

from __future__ import annotations

import random
from pathlib import Path

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import MetricSample, Slippage
from lcm_tui.record import Recorder

T0_NS = 1_764_028_800_000_000_000  # 2025-11-25 00:00:00 UTC
BANDS = [10, 50, 100, 200]
NOTIONALS = [10_000.0, 100_000.0, 1_000_000.0]
SECRET = "Sup3r-S3cret-pw"


def cfg_for(dsn: str, tmp_path: Path, **kw: object) -> RecorderConfig:
    """Small batches and a short flush interval keep the tests fast."""
    base: dict[str, object] = {"enabled": True, "dsn": dsn, "batch_size": 100, "flush_interval_s": 0.05,
                               "spill_path": str(tmp_path / "spill.jsonl")}
    base.update(kw)
    return RecorderConfig(**base)  # type: ignore[arg-type]


def fast(cfg: RecorderConfig) -> Recorder:
    """Short backoff and timeouts: failures and recoveries happen within a test's time budget."""
    return Recorder(cfg, backoff_min_s=0.02, backoff_max_s=0.2, connect_timeout_s=2.0, write_timeout_s=5.0)


def make_sample(rng: random.Random, venue: str, symbol: str, ts_ns: int) -> MetricSample:
    bid = round(rng.uniform(60_000, 70_000), 2)
    ask = round(bid + rng.choice([0.01, 0.1, 0.5, 1.0]), 2)
    mid = (bid + ask) / 2
    depth_bid = {b: rng.uniform(1e4, 1e7) * b for b in BANDS}
    depth_ask = {b: rng.uniform(1e4, 1e7) * b for b in BANDS}
    imbalance = {b: (depth_bid[b] - depth_ask[b]) / (depth_bid[b] + depth_ask[b]) for b in BANDS}
    slips = []
    for side in ("buy", "sell"):
        for n in NOTIONALS:
            if n == NOTIONALS[-1] and rng.random() < 0.2:
                slips.append(Slippage(side, n, None, None, rng.randint(50, 500), rng.uniform(1e5, n)))
            else:
                vwap = mid * (1 + rng.uniform(0, 0.01) * (1 if side == "buy" else -1))
                slips.append(Slippage(side, n, vwap, abs(vwap - mid) / mid * 1e4, rng.randint(1, 50), n))
    return MetricSample(
        venue=venue,
        symbol=symbol,
        ts_ns=ts_ns,
        best_bid=f"{bid:.2f}",
        best_ask=f"{ask:.8f}",  # trailing zeros must survive: the exchange's exact string
        mid=mid,
        spread_bps=(ask - bid) / mid * 1e4,
        depth_bid=depth_bid,
        depth_ask=depth_ask,
        imbalance=imbalance,
        slippage=slips,
    )


def make_samples(n: int, seed: int = 1, venues: tuple[str, ...] = ("binance", "okx"),
                 symbol: str = "BTCUSDT", step_ns: int = 1_000_000_000, start_ns: int = T0_NS) -> list[MetricSample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        venue = venues[i % len(venues)]
        out.append(make_sample(rng, venue, symbol, start_ns + (i // len(venues)) * step_ns))
    return out
