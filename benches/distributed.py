"""Past one machine: a collector publishing to NATS JetStream, with the simulator in another process.

Each measurement runs real processes: ``sim`` (the loopback exchange, ``bybit-spot`` with N synthetic
symbols at the default 10 market steps a second), one or two ``collector`` processes (the same code as
``lcm-tui collect``, publishing to the NATS server at $LCM_TEST_NATS_URL or nats://127.0.0.1:4222
under a private prefix that is deleted afterwards). A collector reports its own CPU time
(``time.process_time``), the frames its adapters applied, its sample-clock lateness and what it
published. Figures:

* frames per CPU-second of a collector, end to end (socket -> adapter -> book -> sample -> NATS);
* the share of a core a collector needs for N streams at the 1 s cadence, hence the streams one core
  holds (extrapolated linearly from N, and said so; the median of three 10 s runs, each listed), and the
  worst lateness of a tick;
* two collectors on two halves of 20 hot streams against one collector on all of them, each saturated
  by a pre-rendered feed (``lcm_tui/runtime/sim/firehose.py``, its own CPU per frame reported) instead
  of the simulator: frames applied per wall second, with every process's share of a core, the rest
  of the machine's, the ceiling those CPU costs allow, and the feeds' gaps/resyncs/LIVE streams;
* bytes per published sample and encode time (msgpack), and the headless output volume for comparison.

Run alone: ``python -m benches.distributed [--quick]``; ``benchmark_test.py`` runs it with the others.
The machine is shared: the simulator competes with the collectors for the same cores, and the figures
say so rather than hide it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
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


async def _firehose_main(n: int, seed: int) -> None:
    """The saturating load generator: pre-rendered frames, as fast as each collector reads them.

    ``stats`` on stdin prints its counters and CPU time, so the parent can take them over exactly the
    collectors' measurement window.
    """
    from lcm_tui.runtime.sim.firehose import FirehoseServer
    from lcm_tui.venues.bybit.sim import BybitSpotSim

    syms = [BybitSpotSim.join_symbol(f"C{i:04d}", "USDT") for i in range(n)]
    fh = await FirehoseServer(syms, seed=seed).start()
    print(json.dumps({"symbols": syms, **fh.endpoints()}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while (line := await loop.run_in_executor(None, sys.stdin.readline)):
            if line.strip() == "stats":
                st = fh.stats()
                st.pop("cycle_frames")
                t = os.times()
                print(json.dumps({**st, "cpu_s": time.process_time(), "user_s": t.user, "sys_s": t.system,
                                  "wall": time.monotonic(),
                                  "cycle_len": min(c.frames for c in fh.cycles.values())}), flush=True)
    finally:
        await fh.close()


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
    if spec.get("sync"):  # measure over the parent's window, the same for every process of the case
        print(json.dumps({"ready": True}), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
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
           "queue": len(col.outbox.queue),
           "gaps": sum(st.counters.gaps for st in col.monitor.states.values()),
           "resyncs": sum(st.counters.resyncs for st in col.monitor.states.values()),
           "malformed": sum(st.counters.malformed for st in col.monitor.states.values()),
           "live": sum(str(st.status) == "live" for st in col.monitor.states.values())}
    if spec.get("sync"):  # the window's figures now, before stopping takes its time
        print(json.dumps(out), flush=True)
    stop.set()
    t_stop = time.monotonic()
    await task
    print(f"stopped in {time.monotonic() - t_stop:.1f}s", file=sys.stderr, flush=True)
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------ the parent
def _spawn(*args: str, stdin: bool = False, stderr: Any = subprocess.DEVNULL,
           own_session: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "benches.distributed", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.PIPE if stdin else None,
                            start_new_session=own_session)


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


def _machine_jiffies() -> tuple[int, int]:
    """(busy, all) clock ticks of the whole machine so far (/proc/stat): what else ran meanwhile."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)  # idle and iowait are not busy; guest time is inside user


def _run_saturated(n: int, shards: int, seconds: float) -> dict[str, Any]:
    """The firehose and ``shards`` collectors on ``n`` streams, measured over one window shared by all.

    Every collector reports "ready" (all its streams LIVE) and waits; then the parent reads the
    generator's counters and the machine's CPU ticks, starts every collector's window at once, and
    reads both again when the last collector has reported, so each process's share of a core and the
    rest of the machine's use cover the same seconds.

    Each process runs in a session of its own, as separate services would: with the kernel's
    autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``) the processes of one session
    share one session's slice of a busy machine, so a second collector in the bench's session would
    add no CPU at all, only split it.
    """
    sim = _spawn("--role", "firehose", "--n", str(n), stdin=True, own_session=True)
    cols: list[subprocess.Popen[str]] = []
    errs: list[Any] = []  # each collector's stderr, to say why one failed
    files = contextlib.ExitStack()
    assert sim.stdout is not None and sim.stdin is not None

    def sim_stats() -> dict[str, Any]:
        assert sim.stdout is not None and sim.stdin is not None
        sim.stdin.write("stats\n")
        sim.stdin.flush()
        return dict(json.loads(sim.stdout.readline()))

    try:
        ep = json.loads(sim.stdout.readline())
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        syms = ep.pop("symbols")
        for k in range(shards):
            spec = {**ep, "symbols": syms[k::shards], "prefix": prefix, "id": f"bench-{k}", "seconds": seconds,
                    "sync": True}
            errs.append(files.enter_context(tempfile.TemporaryFile("w+")))  # noqa: SIM115 (closed by files)
            cols.append(_spawn("--role", "collector", "--spec", json.dumps(spec), stdin=True, stderr=errs[-1],
                               own_session=True))
        for c, err in zip(cols, errs, strict=True):
            assert c.stdout is not None
            if not json.loads(c.stdout.readline() or "{}").get("ready"):
                c.wait(10)
                err.seek(0)
                raise RuntimeError(f"a collector exited before it was ready: {err.read()[-600:]!r}")
        s0, m0 = sim_stats(), _machine_jiffies()
        for c in cols:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        outs = [json.loads(c.stdout.readline()) for c in cols if c.stdout is not None]
        s1, m1 = sim_stats(), _machine_jiffies()
        for c in cols:
            c.communicate(timeout=120)
        asyncio.run(_cleanup(prefix))
    finally:
        for c in cols:
            if c.poll() is None:
                c.kill()
                c.wait(10)
        files.close()
        sim.stdin.close()
        sim.terminate()
        sim.wait(10)
    wall = s1["wall"] - s0["wall"]
    busy = (m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * (os.cpu_count() or 1)  # cores busy, on average
    sim_cpu, sent = s1["cpu_s"] - s0["cpu_s"], s1["frames"] - s0["frames"]
    col_cores = sum(o["cpu_s"] / o["wall_s"] for o in outs)
    return {
        "rate": sum(o["frames"] / o["wall_s"] for o in outs),
        "frames": sum(o["frames"] for o in outs),
        "col_share": [o["cpu_s"] / o["wall_s"] for o in outs],
        "col_us": sum(o["cpu_s"] for o in outs) / max(1, sum(o["frames"] for o in outs)) * 1e6,
        "sim_share": sim_cpu / wall,
        "sim_us": sim_cpu / sent * 1e6 if sent else None,
        "sim_sys_us": (s1["sys_s"] - s0["sys_s"]) / sent * 1e6 if sent else None,  # of which in the kernel
        "sim_frames_per_s": sent / wall,
        # The share of the window each collector's connection had the feed waiting on it (1: saturated).
        "saturated": (s1["paused_s"] - s0["paused_s"]) / wall / shards,
        "others": max(0.0, busy - col_cores - sim_cpu / wall),
        "busy": busy,
        "gaps": sum(o["gaps"] for o in outs), "resyncs": sum(o["resyncs"] for o in outs),
        "malformed": sum(o["malformed"] for o in outs),
        "live": sum(o["live"] for o in outs), "streams": sum(o["streams"] for o in outs),
        "cycles": s1["cycles"] - s0["cycles"], "cycle_len": s1["cycle_len"],
        "snapshots": s1["snapshots"],
    }


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
    # 2. Streams at the default rates: the share of a core at the 1 s cadence. A few tenths of a CPU-second
    # swing by a tenth from run to run on a shared machine: the median of 3 runs of 10 s (1 of 3 s: quick).
    runs = [_run_case(n, 1, 3.0 if quick else 10.0)[0] for _ in range(1 if quick else 3)]
    shares = sorted(r["cpu_s"] / r["wall_s"] for r in runs)
    share = shares[len(shares) // 2]
    one = next(r for r in runs if r["cpu_s"] / r["wall_s"] == share)
    rows.append((f"distributed: collector share of a core for {n} streams at the 1 s cadence (10 steps/s, "
                 f"median of {len(runs)})", round(share * 100, 1), None, "% core"))
    per_core = round(n / share) if share else None
    rows.append(("distributed: streams one core holds (linear from the share above; the runs: "
                 + " / ".join(f"{n / x:.0f}" for x in shares) + ")", per_core, 5000, "streams/core"))
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
    # 3. Two collectors on two halves of the hot streams against one collector on all of them, each
    # saturated: the pre-rendered feed offers frames as fast as a collector reads, at a few us of
    # its own CPU per frame, so the collectors and not the feed set the rate. One and two alternate,
    # since the machine is shared and its load drifts.
    reps = 1 if quick else 3
    runs = [(_run_saturated(hot_n, 1, seconds), _run_saturated(hot_n, 2, seconds)) for _ in range(reps)]
    by_ratio = sorted(runs, key=lambda r: r[1]["rate"] / r[0]["rate"] if r[0]["rate"] else 0.0)
    ratios = [b["rate"] / a["rate"] if a["rate"] else 0.0 for a, b in by_ratio]
    a, b = by_ratio[len(by_ratio) // 2]  # the median run's figures explain the median ratio
    med = ratios[len(ratios) // 2]
    # What the cores allow at these CPU costs (c: a collector's us per frame, g: the feed's). One
    # collector is held to one core: 1/c frames a second. Two, and the feed that serves them, share
    # the cores: at most cores/(c+g), and one core each at most, 2/c. On 2 idle cores that is
    # 2c/(c+g) of one collector; as loaded, the cores less the rest of the machine's use, over the
    # one collector's measured rate.
    cores = float(os.cpu_count() or 1)
    g = b["sim_us"] or 0.0
    c = b["col_us"]
    ideal = min(cores / (c + g), 2.0 / c) * c
    here = min((cores - b["others"]) / (c + g), 2.0 / c) * 1e6 / a["rate"] if a["rate"] else 0.0
    rows.append((f"distributed: 2 collectors vs 1 on {hot_n} hot streams, each saturated (frames applied per "
                 f"wall-s, median of {len(ratios)})", round(med, 2) if med else None, 1.8, "x"))
    rows.append(("distributed: saturated, 1 collector / 2 collectors (frames applied per wall-s)", round(a["rate"]),
                 round(b["rate"]), "frames/s"))
    rows.append(("distributed: saturated, time the feed waited on the collectors' sockets, with 1 / with 2",
                 round(100 * a["saturated"], 1), round(100 * b["saturated"], 1), "% of wall"))
    rows.append(("distributed: saturated, share of a core, 1 collector / each of 2",
                 round(100 * a["col_share"][0], 1), "/".join(f"{100 * x:.0f}" for x in b["col_share"]), "% core"))
    rows.append(("distributed: saturated, feed generator share of a core, with 1 / with 2 collectors",
                 round(100 * a["sim_share"], 1), round(100 * b["sim_share"], 1), "% core"))
    rows.append(("distributed: saturated, rest of the machine (NATS, other users), with 1 / with 2 collectors",
                 round(100 * a["others"], 1), round(100 * b["others"], 1), "% core"))
    rows.append(("distributed: saturated, collector CPU per frame, 1 collector / 2 collectors",
                 round(a["col_us"], 2), round(b["col_us"], 2), "us/frame"))
    rows.append(("distributed: feed generator CPU per frame (baseline: a collector's, 2-collector case)",
                 round(g, 2), round(c, 2), "us/frame"))
    rows.append(("distributed: 2-vs-1 ceiling at these CPU costs: 2 idle cores, 2c/(c+g) / the cores as loaded here",
                 round(ideal, 2), round(here, 2), "x"))
    health = [(r["gaps"], r["resyncs"], r["malformed"], r["live"], r["streams"]) for p in runs for r in p]
    rows.append(("distributed: saturated feeds, gaps + resyncs + malformed over all runs (streams LIVE at the end)",
                 sum(h[0] + h[1] + h[2] for h in health), f"{sum(h[3] for h in health)}/{sum(h[4] for h in health)}",
                 "events"))
    js.update(distributed_two_vs_one=round(med, 2) if med else None, distributed_two_vs_one_runs=[
                  round(x, 3) for x in ratios],
              distributed_one_frames_per_s=round(a["rate"]), distributed_two_frames_per_s=round(b["rate"]),
              distributed_two_frames_per_cpu_s=round(1e6 / b["col_us"]) if b["col_us"] else None,
              distributed_one_cpu_share_pct=round(100 * a["col_share"][0], 1),
              distributed_two_cpu_share_pct=[round(100 * x, 1) for x in b["col_share"]],
              distributed_feed_cpu_share_pct=[round(100 * a["sim_share"], 1), round(100 * b["sim_share"], 1)],
              distributed_others_cpu_share_pct=[round(100 * a["others"], 1), round(100 * b["others"], 1)],
              distributed_feed_waited_pct=[round(100 * a["saturated"], 1), round(100 * b["saturated"], 1)],
              distributed_feed_us_per_frame=round(g, 3),
              distributed_feed_sys_us_per_frame=round(b["sim_sys_us"] or 0.0, 3),
              distributed_collector_us_per_frame=[
                  round(a["col_us"], 2), round(b["col_us"], 2)],
              distributed_two_vs_one_ceiling=[round(ideal, 2), round(here, 2)],
              distributed_saturated_gaps=sum(h[0] for h in health),
              distributed_saturated_resyncs=sum(h[1] for h in health),
              distributed_saturated_malformed=sum(h[2] for h in health),
              distributed_saturated_live=f"{sum(h[3] for h in health)}/{sum(h[4] for h in health)}",
              distributed_feed_cycles=b["cycles"], distributed_feed_cycle_frames=b["cycle_len"])
    notes.append(
        f"distributed: 2-vs-1 is measured against a pre-rendered Bybit spot feed (lcm_tui/runtime/sim/firehose.py) "
        f"that sends as fast as each collector reads, at {g:.2f} us of its CPU per frame "
        f"({b['sim_sys_us'] or 0.0:.2f} us of it in the kernel's loopback TCP) against "
        f"{b['col_us']:.1f} us for a collector, and stays valid (every u is the last + 1; the book returns to its "
        f"snapshot every {b['cycle_len']} frames). One collector used {100 * a['col_share'][0]:.0f}% of a core "
        f"({a['rate']:.0f} frames/s) beside the feed at {100 * a['sim_share']:.0f}% and "
        f"{100 * a['others']:.0f}% of a core taken by the rest of the machine; two used "
        f"{' + '.join(f'{100 * x:.0f}%' for x in b['col_share'])} ({b['rate']:.0f} frames/s) beside the feed at "
        f"{100 * b['sim_share']:.0f}% and {100 * b['others']:.0f}% of a core taken by the rest of the machine. "
        f"On {cores:.0f} cores the feed's own CPU caps the ratio at {ideal:.2f}x on an idle machine and "
        f"{here:.2f}x at the load measured; the ratios of the runs were {', '.join(f'{x:.2f}' for x in ratios)}.")
    return {"rows": rows, "json": js, "notes": notes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["sim", "firehose", "collector", "bench"], default="bench")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step", type=float, default=0.1, help="simulator market step (s)")
    ap.add_argument("--spec", default="{}")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.role == "sim":
        asyncio.run(_sim_main(a.n, a.seed, a.step))
    elif a.role == "firehose":
        asyncio.run(_firehose_main(a.n, a.seed))
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
