"""Feed adapters: frames/s of parse + validate + apply, per venue, on the simulator's own wire frames.

Frames come from the venue handlers (``sim.inmemory.recorded_frames``: acks and snapshots first,
then one market step per frame batch, exactly as a synced client receives them), so every adapter
is measured on its real format: Binance JSON strings, Kraken JSON numbers with exact decimals, OKX
and Kraken checksums, Coinbase per-connection sequence numbers. A fresh adapter replays the list, as
``lcm-tui replay`` does; the time includes syncing from the snapshot. ``loopback`` is end to end:
simulator -> real socket -> StreamRunner -> adapter -> book, until the client's book equals the
true one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lcm_tui.config import VenueConfig
from lcm_tui.core.model import StreamStatus
from lcm_tui.venues import registry
from lcm_tui.venues.registry import adapter_class


def _frames(venue: str, steps: int) -> tuple[list[str], VenueConfig, list[str]] | None:
    try:
        from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
    except ImportError:
        return None
    syms = [registry.spec(venue).symbol("BTC", "USDT"), registry.spec(venue).symbol("ETH", "USDT")]
    try:
        lb = InMemoryLoopback(venue, syms, seed=11)
    except (KeyError, ImportError, AttributeError):
        return None
    lb.step(steps)
    cfg = VenueConfig(name=venue, symbols=syms, ws_url=lb.cfg.ws_url, snapshot_url=lb.cfg.snapshot_url,
                      depth=registry.spec(venue).default_depth)
    return list(lb.delivered), cfg, syms


def _adapter_rate(venue: str, steps: int, repeat: int) -> tuple[float, int] | None:
    got = _frames(venue, steps)
    if got is None:
        return None
    frames, cfg, syms = got
    cls = adapter_class(venue)
    best = float("inf")
    for _ in range(repeat):
        a = cls(cfg, syms)
        a.on_open(0)
        t0 = time.perf_counter()
        for i, f in enumerate(frames):
            a.on_frame(f, i)
        best = min(best, time.perf_counter() - t0)
        if not all(st.status is StreamStatus.LIVE for st in a.states.values()):
            raise RuntimeError(f"{venue}: adapter did not sync on its recorded frames")
    return len(frames) / best, len(frames)


async def _loopback(venue: str, steps: int) -> float:
    from lcm_tui.config import FeedsConfig, Settings
    from lcm_tui.runtime.runner import StreamRunner
    from lcm_tui.runtime.sim.server import SimServer

    syms = [registry.spec(venue).symbol("BTC", "USDT"), registry.spec(venue).symbol("ETH", "USDT")]
    async with SimServer({venue: syms}, ping_interval_s=None) as server:
        vc = server.configure(Settings()).venues[venue]
        cls = adapter_class(venue)
        runner = StreamRunner(lambda: cls(vc, list(vc.symbols)), FeedsConfig(), seed=1)
        task = asyncio.create_task(runner.run())
        try:
            sim = server.sims[venue]

            def synced() -> bool:
                return all(st.status is StreamStatus.LIVE
                           and st.book.to_dict() == sim.true_book(s).to_dict() for s, st in runner.states.items())

            async def until(pred: Any, timeout: float) -> None:
                async with asyncio.timeout(timeout):
                    while not pred():
                        await server.step()
                        await asyncio.sleep(0.005)

            await until(synced, 10)
            frames0 = sum(st.counters.frames for st in runner.states.values())
            t0 = time.perf_counter()
            await server.step(steps)
            async with asyncio.timeout(30):
                while not synced():
                    await asyncio.sleep(0.001)
            dt = time.perf_counter() - t0
            frames = sum(st.counters.frames for st in runner.states.values()) - frames0
            return frames / dt
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def run(quick: bool = False) -> dict[str, Any]:
    steps = 300 if quick else 3000
    repeat = 2 if quick else 5
    rows: list[tuple[str, float, float | None, str]] = []
    js: dict[str, Any] = {}
    for venue in registry.names():
        try:
            res = _adapter_rate(venue, steps, repeat)
        except (ImportError, KeyError, AttributeError):
            res = None
        if res is None:
            continue
        rate, n = res
        rows.append((f"feeds: {venue} parse+validate+apply ({n} frames)", round(rate), None, "frames/s"))
        js[f"feeds_{venue}_frames_per_s"] = round(rate)
    lb_steps = 200 if quick else 2000
    for venue in ("binance", "binance-usdm"):
        rate = asyncio.run(_loopback(venue, lb_steps))
        label = f"feeds: {venue} loopback end to end, simulator in-process ({lb_steps} steps)"
        rows.append((label, round(rate), None, "frames/s"))
        js[f"feeds_{venue}_loopback_frames_per_s"] = round(rate)
    return {"rows": rows, "json": js}
