"""Past one machine: a collector publishing to NATS JetStream, with the simulator in another process.

Each measurement runs real processes: ``sim`` (the loopback exchange, ``bybit-spot`` with N synthetic
symbols at the default 10 market steps a second), one or two ``collector`` processes (the same code as
``lcm-tui collect``, publishing to the NATS server at $LCM_TEST_NATS_URL or nats://127.0.0.1:4222
under a private prefix that is deleted afterwards). A collector reports its own CPU time
(``time.process_time``), the frames its adapters applied, its sample-clock lateness and what it
published. Figures:

* frames per CPU-second of a collector, end to end (socket -> adapter -> book -> sample -> NATS);
* the share of a core a collector needs for N streams at the 1 s cadence, hence the streams one core
  holds (extrapolated linearly from N, and said so), and the worst lateness of a tick;
* two collectors on two shards against one collector on all of them: frames applied per wall second;
* bytes per published sample and encode time (msgpack), and the headless output volume for comparison.

Run alone: ``python -m benches.distributed [--quick]``; ``benchmark_test.py`` runs it with the others.
The machine is shared: the simulator competes with the collectors for the same cores, and the figures
say so rather than hide it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NATS_URL = os.environ.get("LCM_TEST_NATS_URL") or "nats://127.0.0.1:4222"
# Its book arrives over the WebSocket (no REST snapshot to pace), so N streams are LIVE within seconds.
VENUE = "bybit-spot"


# ------------------------------------------------------------------------------------ child roles
async def _sim_main(n: int, seed: int, step_s: float) -> None:
    from lcm_tui.runtime.sim.server import SimServer
    from lcm_tui.venues.bybit.sim import BybitSpotSim

    syms = [BybitSpotSim.join_symbol(f"C{i:04d}", "USDT") for i in range(n)]
    sim = SimServer({VENUE: syms}, seed=seed, step_interval_s=step_s)
    await sim.start()
    ep = sim.endpoints(VENUE)
    print(json.dumps({"symbols": syms, **ep}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


async def _collector_main(spec: dict[str, Any]) -> None:
    from lcm_tui.config import load_settings
    from lcm_tui.runtime.bus.collector import Collector
    from lcm_tui.runtime.bus.connect import NatsOptions
    from lcm_tui.runtime.bus.run import collect

    s = load_settings(None)
    for name, vc in s.venues.items():
        vc.enabled = name == VENUE
    vc = s.venues[VENUE]
    vc.symbols = spec["symbols"]
    vc.ws_url = spec["ws_url"]
    vc.snapshot_url = spec.get("snapshot_url", "")
    stop = asyncio.Event()
    col: Collector | None = None
    ticks: list[float] = []
    loop = asyncio.get_running_loop()

    def ready(c: Collector) -> None:
        nonlocal col
        col = c
        orig = c.tick

        def tick(t_ns: int) -> None:
            orig(t_ns)
            ticks.append(loop.time())
        c.tick = tick  # type: ignore[method-assign]

    task = asyncio.create_task(collect(s, NatsOptions(url=NATS_URL, prefix=spec["prefix"]), stop=stop,
                                       collector_id=spec["id"], on_ready=ready))
    # Warm up: every stream LIVE (snapshots fetched), then measure.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        if col is not None and col.monitor.states and all(
                str(st.status) == "live" for st in col.monitor.states.values()):
            break
    assert col is not None
    print(f"live after {time.monotonic() - deadline + 60:.1f}s", file=sys.stderr, flush=True)
    await asyncio.sleep(1.0)
    frames0 = sum(st.counters.frames for st in col.monitor.states.values())
    cpu0, wall0 = time.process_time(), time.monotonic()
    pub0, bytes0, sent0 = col.samples_published, col.outbox.bytes, col.outbox.sent
    nticks0 = len(ticks)
    await asyncio.sleep(spec["seconds"])
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    frames = sum(st.counters.frames for st in col.monitor.states.values()) - frames0
    t = ticks[nticks0:]
    late = max((t[i] - t[0] - i * s.metrics.sample_interval_s for i in range(len(t))), default=0.0)
    out = {"frames": frames, "cpu_s": cpu, "wall_s": wall, "streams": len(col.monitor.states),
           "samples": col.samples_published - pub0, "bytes": col.outbox.bytes - bytes0,
           "messages": col.outbox.sent - sent0, "ticks": len(t), "max_late_s": late,
           "queue": len(col.outbox.queue)}
    stop.set()
    t_stop = time.monotonic()
    await task
    print(f"stopped in {time.monotonic() - t_stop:.1f}s", file=sys.stderr, flush=True)
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------ the parent
def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "benches.distributed", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _run_case(n: int, shards: int, seconds: float, step_s: float = 0.1) -> list[dict[str, Any]]:
    sim = _spawn("--role", "sim", "--n", str(n), "--step", str(step_s))
    try:
        assert sim.stdout is not None
        ep = json.loads(sim.stdout.readline())
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        syms = ep.pop("symbols")
        cols = []
        for k in range(shards):
            spec = {**ep, "symbols": syms[k::shards], "prefix": prefix, "id": f"bench-{k}", "seconds": seconds}
            cols.append(_spawn("--role", "collector", "--spec", json.dumps(spec)))
        outs = []
        for c in cols:
            so, _ = c.communicate(timeout=seconds + 120)
            outs.append(json.loads(so.strip().splitlines()[-1]))
        asyncio.run(_cleanup(prefix))
        return outs
    finally:
        sim.terminate()
        sim.wait(10)


async def _cleanup(prefix: str) -> None:
    from lcm_tui.runtime.bus.collector import delete_all
    from lcm_tui.runtime.bus.connect import NatsOptions, connect
    from lcm_tui.runtime.bus.subjects import Names

    nc = await connect(NatsOptions(url=NATS_URL, prefix=prefix), name="bench-cleanup")
    await delete_all(nc.jetstream(), Names(prefix))
    await nc.close()


def _encode_cost() -> tuple[int, float, int, float]:
    """Bytes and us per sample: msgpack (what the bus sends) against the orjson line of --headless."""
    import orjson

    from lcm_tui.core.model import MetricSample, Slippage
    from lcm_tui.runtime.bus import codec

    s = MetricSample("binance", "BTCUSDT", 1_764_590_000_123_456_789, "97123.45", "97123.46", 97123.455, 0.00103,
                     {10: 123456.7, 50: 934567.1, 100: 2345678.9, 200: 4567890.1},
                     {10: 113456.7, 50: 834567.1, 100: 2245678.9, 200: 4467890.1},
                     {10: 0.04, 50: 0.05, 100: 0.02, 200: 0.01},
                     [Slippage(side, n, 97124.1, 0.3, 4, n) for side in ("buy", "sell") for n in (1e4, 1e5, 1e6)])
    n = 20_000
    t0 = time.perf_counter()
    for _ in range(n):
        b = codec.encode(s)
    mp = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for _ in range(n):
        j = orjson.dumps(s, option=orjson.OPT_NON_STR_KEYS)
    js = (time.perf_counter() - t0) / n * 1e6
    return len(b), mp, len(j), js


def run(quick: bool = False) -> dict[str, Any]:
    import socket
    from urllib.parse import urlsplit

    p = urlsplit(NATS_URL)
    try:
        socket.create_connection((p.hostname or "127.0.0.1", p.port or 4222), timeout=1).close()
    except OSError as e:
        return {"rows": [], "json": {}, "notes": [f"distributed: no NATS server at {NATS_URL} ({e}): skipped"]}
    seconds = 3.0 if quick else 6.0
    n = 150 if quick else 300
    rows: list[tuple[str, Any, Any, str]] = []
    js: dict[str, Any] = {}
    notes: list[str] = []
    # 1. The frame path: few streams, a fast market (200 steps/s), so frames dominate the collector's CPU.
    hot_n, hot_step = 20, 0.005
    hot = _run_case(hot_n, 1, seconds, hot_step)[0]
    fpc = hot["frames"] / hot["cpu_s"] if hot["cpu_s"] else 0.0
    rows.append((f"distributed: collector frames per CPU-second ({hot_n} streams, {1 / hot_step:.0f} steps/s, "
                 "sim in another process)", round(fpc), 30_000, "frames/CPU-s"))
    # 2. Streams at the default rates: the share of a core at the 1 s cadence.
    one = _run_case(n, 1, seconds)[0]
    share = one["cpu_s"] / one["wall_s"]
    rows.append((f"distributed: collector share of a core for {n} streams at the 1 s cadence (10 steps/s)",
                 round(share * 100, 1), None, "% core"))
    per_core = round(n / share) if share else None
    rows.append(("distributed: streams one core holds (linear from the share above)", per_core, 5000, "streams/core"))
    rows.append(("distributed: worst sample-tick lateness", round(one["max_late_s"], 3), None, "s"))
    bps = one["bytes"] / one["messages"] if one["messages"] else 0.0
    rows.append(("distributed: bytes per published message (samples + KV states)", round(bps), None, "bytes"))
    b, mp, j, jus = _encode_cost()
    rows.append(("distributed: sample encode, msgpack (bus) vs orjson (headless)", round(mp, 2), round(jus, 2), "us"))
    rows.append(("distributed: sample size, msgpack (bus) vs headless JSON line", b, j, "bytes"))
    js.update(distributed_frames_per_cpu_s=round(fpc), distributed_core_share_pct=round(share * 100, 1),
              distributed_streams_per_core=per_core, distributed_max_late_s=round(one["max_late_s"], 3),
              distributed_bytes_per_message=round(bps), distributed_sample_msgpack_bytes=b,
              distributed_sample_json_bytes=j, distributed_streams=n)
    # 3. Two collectors on two shards of the hot market against one collector on all of it.
    two = _run_case(hot_n, 2, seconds, hot_step)
    rate1 = hot["frames"] / hot["wall_s"]
    rate2 = sum(o["frames"] / o["wall_s"] for o in two)
    fpc2 = sum(o["frames"] for o in two) / sum(o["cpu_s"] for o in two)
    rows.append((f"distributed: 2 collectors vs 1 on {hot_n} hot streams (frames applied per wall-s)",
                 round(rate2 / rate1, 2) if rate1 else None, 1.8, "x"))
    js.update(distributed_two_vs_one=round(rate2 / rate1, 2) if rate1 else None,
              distributed_one_frames_per_s=round(rate1), distributed_two_frames_per_s=round(rate2),
              distributed_two_frames_per_cpu_s=round(fpc2), distributed_one_cpu_share_pct=round(
                  100 * hot["cpu_s"] / hot["wall_s"], 1))
    notes.append(f"distributed: one collector used {100 * hot['cpu_s'] / hot['wall_s']:.0f}% of a core on the hot "
                 f"market ({rate1:.0f} frames/s): the simulator process, not the collector, sets the frame rate, so "
                 "2-vs-1 stays near 1x unless one collector is saturated. The 2 cores are shared with the simulator "
                 "and other users of the machine.")
    return {"rows": rows, "json": js, "notes": notes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["sim", "collector", "bench"], default="bench")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step", type=float, default=0.1, help="simulator market step (s)")
    ap.add_argument("--spec", default="{}")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.role == "sim":
        asyncio.run(_sim_main(a.n, a.seed, a.step))
    elif a.role == "collector":
        asyncio.run(_collector_main(json.loads(a.spec)))
    else:
        out = run(a.quick)
        for r in out["rows"]:
            print(r)
        for note in out.get("notes", []):
            print("note:", note)
        print(json.dumps(out["json"]))


if __name__ == "__main__":
    main()
