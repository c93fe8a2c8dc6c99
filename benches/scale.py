"""Speed end to end: ``--headless`` over N simulated streams, with the simulator in ANOTHER process.

The simulator (``lcm_tui.runtime.sim.server.SimServer``, ``bybit-spot`` and ``okx`` with N/2 synthetic
assets each, so every asset's consolidated entry has two members, at the default 10 market steps a
second) runs in a child process; this process runs the engine exactly as ``lcm-tui --headless`` does
(``open_live`` + ``run_sample_clock`` + ``jsonout.HeadlessLines``), writing the JSON lines to
/dev/null and counting their bytes. Figures, per N:

* frames per CPU-second of this process (``time.process_time``: socket -> adapter -> book -> sample
  -> detector -> consolidated -> JSON), and the share of a core it used;
* the share of a core the 1 s cadence needs (one tick's CPU plus the CPU per second outside the ticks:
  on a loaded machine CPU / wall undercounts it, as ticks run late) and the streams one core holds
  (linear from that need, and said so);
* the sample clock's worst lag (how late the last tick ran against its schedule) and the mean tick cost;
* the JSON output volume per minute;
* the CPU the garbage collector took in the window (already inside the figures above, charged to
  whatever allocated when a collection ran);
* the frame path (full run only): 20 streams on a fast market (200 steps/s), where frames, not
  samples, take the CPU.

Run alone: ``python -m benches.scale [--quick] [--n 900 1800] [--seconds 10] [--step S] [--loop uvloop]
[--profile FILE]`` (``--profile`` writes a cProfile of the measured window and prints its top entries by
own time; ``--loop uvloop`` runs the client on uvloop, for comparison).
Benchmarks measure, they assert nothing. The machine is shared, and the simulator competes for the
same cores: compare figures only within one run or interleaved runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOT_N, HOT_STEP_S = 20, 0.005
SHUTDOWN_TIMEOUT_S = 15.0  # stopping the feeds is not measured; a slow stop is reported, not waited for
VENUES = ("bybit-spot", "okx")  # both send their book over the WebSocket: N streams are LIVE within seconds
_CONSOLIDATED = b'"venue":"consolidated"'  # how a consolidated line starts, after its "ts"


# ------------------------------------------------------------------------------------ the simulator
async def _sim_main(n: int, seed: int, step_s: float) -> None:
    from lcm_tui.runtime.sim.server import SimServer, venue_sims

    classes = venue_sims()
    per = max(1, n // len(VENUES))
    venues = {v: [classes[v].join_symbol(f"C{i:04d}", "USDT") for i in range(per)] for v in VENUES}
    sim = SimServer(venues, seed=seed, step_interval_s=step_s)
    await sim.start()
    print(json.dumps({v: {"symbols": syms, **sim.endpoints(v)} for v, syms in venues.items()}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


def _spawn_sim(n: int, step_s: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    p = subprocess.Popen([sys.executable, "-m", "benches.scale", "--role", "sim", "--n", str(n), "--step",
                          str(step_s)], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout is not None
    line = p.stdout.readline()
    if not line:
        p.wait(10)
        raise RuntimeError("the simulator process exited before serving")
    return p, json.loads(line)


# ------------------------------------------------------------------------------------ the client
async def _client(eps: dict[str, Any], seconds: float, profile: str | None) -> dict[str, Any]:
    from lcm_tui.config import load_settings
    from lcm_tui.core.model import StreamStatus
    from lcm_tui.frontends import jsonout
    from lcm_tui.runtime.engine import open_live

    s = load_settings(None)
    for name, vc in s.venues.items():
        vc.enabled = name in eps
        if name in eps:
            vc.symbols = list(eps[name]["symbols"])
            vc.ws_url = eps[name]["ws_url"]
            vc.snapshot_url = eps[name].get("snapshot_url", "")
    s.recorder.enabled = False
    interval = s.metrics.sample_interval_s
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    out_bytes = [0]
    cons_bytes = [0]  # of which the consolidated lines
    ticks: list[tuple[float, float]] = []  # (loop time at the tick's start, CPU seconds the tick took)
    measuring = [False]
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - closed below, after the clock stops

    measured = asyncio.Event()
    states: dict[Any, Any] = {}
    res: dict[str, Any] = {}

    async def session() -> None:
        nonlocal states
        async with open_live(s) as engine:
            lines = jsonout.HeadlessLines(engine.view)

            def tick(t_ns: int) -> bool:
                t0, c0 = loop.time(), time.process_time()
                data = lines.encode(t_ns)
                jsonout.write(devnull, data)
                if measuring[0]:
                    # The JSON lines alone (consolidated entries + encoding); the sample is timed apart.
                    ticks.append((t0, time.process_time() - c0))
                    out_bytes[0] += len(data)
                    cons_bytes[0] += sum(len(x) + 1 for x in data.split(b"\n") if _CONSOLIDATED in x[:64])
                return False

            # The sample (metrics + detectors + market signal), timed around the engine's own call.
            orig_sample = engine.sample
            sample_cpu: list[float] = []

            def timed_sample(t_ns: int | None = None) -> Any:
                c0 = time.process_time()
                r = orig_sample(t_ns)
                if measuring[0]:
                    sample_cpu.append(time.process_time() - c0)
                return r

            engine.sample = timed_sample  # type: ignore[method-assign]
            clock = asyncio.create_task(engine.run_sample_clock(tick, stop))
            states = engine.monitor.states
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                if states and all(st.status is StreamStatus.LIVE for st in states.values()):
                    break
            live = sum(st.status is StreamStatus.LIVE for st in states.values())
            await asyncio.sleep(1.5)  # the snapshot burst is over
            prof = None
            if profile:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            gc_cpu = [0.0, 0]  # CPU seconds in the garbage collector during the window, full collections
            gc_start = [0.0]

            def on_gc(phase: str, info: dict[str, int]) -> None:
                if not measuring[0]:
                    return
                if phase == "start":
                    gc_start[0] = time.process_time()
                else:
                    gc_cpu[0] += time.process_time() - gc_start[0]
                    gc_cpu[1] += info["generation"] == 2

            gc.callbacks.append(on_gc)
            frames0 = sum(st.counters.frames for st in states.values())
            computed0 = getattr(engine.monitor, "computed", 0)
            samples0 = engine.samples
            cpu0, wall0 = time.process_time(), time.monotonic()
            measuring[0] = True
            await asyncio.sleep(seconds)
            measuring[0] = False
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            gc.callbacks.remove(on_gc)
            frames = sum(st.counters.frames for st in states.values()) - frames0
            if prof is not None:
                prof.disable()
                assert profile is not None
                prof.dump_stats(profile)
            computed = getattr(engine.monitor, "computed", 0) - computed0
            ticked = engine.samples - samples0
            res.update(live=live, frames=frames, cpu=cpu, wall=wall, sample_cpu=sample_cpu, gc_cpu=gc_cpu[0],
                       gc_full=gc_cpu[1],
                       recomputed=computed / (ticked * live) if ticked and live and computed else None)
            stop.set()
            await clock
            measured.set()

    task = asyncio.create_task(session())
    await asyncio.wait([task, asyncio.create_task(measured.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not measured.is_set():
        task.result()  # it failed before measuring: raise that
    # Stopping the feeds is not what is measured: give it a bounded time, and say how long it took.
    t_stop = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task, SHUTDOWN_TIMEOUT_S)
    shutdown_s = time.monotonic() - t_stop
    devnull.close()
    starts = [t for t, _ in ticks]
    # Lag: how late each tick ran against the schedule of the first measured one.
    lag = max((starts[i] - starts[0] - i * interval for i in range(len(starts))), default=0.0)
    lag = max(lag, 0.0)
    n_ticks = len(ticks)
    sample_cpu = res["sample_cpu"]
    return {"streams": len(states), "live": res["live"], "frames": res["frames"], "cpu_s": res["cpu"],
            "wall_s": res["wall"], "ticks": n_ticks, "recomputed": res["recomputed"], "max_lag_s": lag,
            "shutdown_s": shutdown_s,
            "sample_ms": 1e3 * sum(sample_cpu) / len(sample_cpu) if sample_cpu else None,
            "encode_ms": 1e3 * sum(c for _, c in ticks) / n_ticks if n_ticks else None,
            "json_bytes": out_bytes[0], "consolidated_bytes": cons_bytes[0], "gc_cpu_s": res["gc_cpu"],
            "gc_full": res["gc_full"]}


def measure(n: int, seconds: float, step_s: float = 0.1, profile: str | None = None,
            loop: str = "asyncio") -> dict[str, Any]:
    """One run: the simulator in a child process serving ``n`` streams, the engine on ``loop`` here."""
    factory = None
    if loop == "uvloop":
        try:
            import uvloop  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise SystemExit("benches.scale: --loop uvloop needs uvloop (pip install uvloop)") from None
        factory = uvloop.new_event_loop
    sim, eps = _spawn_sim(n, step_s)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(_client(eps, seconds, profile))
    finally:
        sim.terminate()
        sim.wait(10)


def _rows(r: dict[str, Any], step_s: float = 0.1,
          interval_s: float = 1.0) -> tuple[list[tuple[str, Any, Any, str]], dict[str, Any]]:
    n = r["streams"]
    hot = step_s != 0.1
    share = r["cpu_s"] / r["wall_s"] if r["wall_s"] else 0.0
    fpc = r["frames"] / r["cpu_s"] if r["cpu_s"] else 0.0
    # On a loaded machine the client is starved and ticks run late, so cpu/wall undercounts what the
    # 1 s cadence needs: one tick's CPU (sample + JSON) plus the CPU per second outside the ticks.
    tick_s = ((r["sample_ms"] or 0.0) + (r["encode_ms"] or 0.0)) / 1e3
    outside = max(0.0, r["cpu_s"] - tick_s * r["ticks"]) / r["wall_s"] if r["wall_s"] else 0.0
    need = tick_s / interval_s + outside
    per_core = round(n / need) if need else None
    mb_min = r["json_bytes"] / r["wall_s"] * 60 / 1e6 if r["wall_s"] else 0.0
    tag = f"scale: {n} streams ({r['live']} LIVE{f', {1 / step_s:.0f} steps/s' if hot else ''})"
    rows: list[tuple[str, Any, Any, str]] = [
        (f"{tag} headless frames per CPU-second, sim in another process", round(fpc), 30_000, "frames/CPU-s"),
        (f"{tag} frames applied per wall-second", round(r["frames"] / r["wall_s"]), None, "frames/s"),
        (f"{tag} share of a core used (CPU / wall)", round(100 * share, 1), None, "% core"),
        (f"{tag} share of a core the 1 s cadence needs (tick CPU + CPU outside ticks)", round(100 * need, 1), None,
         "% core"),
        # A fast market's streams per core say nothing about the default rates: no target on that row.
        (f"{tag} streams one core holds at the 1 s cadence (linear from the need)", per_core,
         None if hot else 5000, "streams/core"),
        (f"{tag} sample-clock worst lag", round(r["max_lag_s"], 3), None, "s"),
        (f"{tag} sample (metrics + detectors) per tick", round(r["sample_ms"] or 0.0, 2), None, "ms"),
        (f"{tag} samples computed from a changed book (the rest re-stamped)",
         None if r["recomputed"] is None else round(100 * r["recomputed"], 1), None, "%"),
        (f"{tag} JSON lines (consolidated + encode) per tick", round(r["encode_ms"] or 0.0, 2), None, "ms"),
        (f"{tag} headless JSON output", round(mb_min, 1), None, "MB/min"),
        (f"{tag} of which the consolidated lines", round(100 * r["consolidated_bytes"] / r["json_bytes"], 1)
         if r["json_bytes"] else None, None, "%"),
        # Allocation-heavy ticks trigger collections whose cost is charged to whatever ran at the time.
        (f"{tag} garbage collector CPU per wall-second ({r['gc_full']} full collections)",
         round(1e3 * r["gc_cpu_s"] / r["wall_s"], 1) if r["wall_s"] else None, None, "ms/s"),
        (f"{tag} stopping the feeds after the run (not measured above)", round(r["shutdown_s"], 1), None, "s"),
    ]
    k = f"scale_hot_{n}" if hot else f"scale_{n}"
    js = {f"{k}_frames_per_cpu_s": round(fpc), f"{k}_core_share_pct": round(100 * share, 1),
          f"{k}_core_need_pct": round(100 * need, 1),
          f"{k}_streams_per_core": per_core, f"{k}_max_lag_s": round(r["max_lag_s"], 3),
          f"{k}_sample_ms": r["sample_ms"], f"{k}_json_ms": r["encode_ms"],
          f"{k}_json_mb_per_min": round(mb_min, 1),
          f"{k}_gc_ms_per_s": round(1e3 * r["gc_cpu_s"] / r["wall_s"], 1) if r["wall_s"] else None}
    return rows, js


def run(quick: bool = False, sizes: list[int] | None = None, seconds: float | None = None) -> dict[str, Any]:
    sizes = sizes or ([900] if quick else [900, 1800])
    secs = seconds if seconds is not None else (5.0 if quick else 10.0)
    rows: list[tuple[str, Any, Any, str]] = []
    js: dict[str, Any] = {}
    for n in sizes:
        r, j = _rows(measure(n, secs))
        rows += r
        js.update(j)
    if not quick:
        # The frame path: few streams on a fast market (200 steps/s), so frames, not samples, dominate.
        r, j = _rows(measure(HOT_N, secs, HOT_STEP_S), HOT_STEP_S)
        rows += r
        js.update(j)
    notes = ["scale: the simulator runs in its own process on the same 2 shared cores; frames per CPU-second "
             "counts this process only; streams per core is extrapolated linearly from the need of the 1 s cadence.",
             "scale: uvloop was measured against asyncio's loop on the frame path (20 streams, 200 steps/s, "
             "interleaved): 18.3k/16.4k against 17.1k/17.4k frames per CPU-second, no measurable gain, so it is "
             "not a dependency (--loop uvloop compares it when installed)."]
    return {"rows": rows, "json": js, "notes": notes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["sim", "bench"], default="bench")
    ap.add_argument("--n", type=int, nargs="*", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step", type=float, default=0.1, help="simulator market step (s)")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", default=None, help="write a cProfile of the measured window (first N only)")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the client's event loop")
    a = ap.parse_args()
    if a.role == "sim":
        asyncio.run(_sim_main((a.n or [200])[0], a.seed, a.step))
        return
    if a.profile:
        n = (a.n or [900])[0]
        r = measure(n, a.seconds or 10.0, a.step, a.profile, a.loop)
        import pstats

        pstats.Stats(a.profile).sort_stats("tottime").print_stats(25)
        print(json.dumps(r))
        return
    if a.loop != "asyncio" or a.step != 0.1:
        for n in a.n or [900]:
            rows, js = _rows(measure(n, a.seconds or 10.0, a.step, None, a.loop), a.step)
            for row in rows:
                print(row)
            print(json.dumps(js))
        return
    out = run(a.quick, a.n, a.seconds)
    for row in out["rows"]:
        print(row)
    for note in out.get("notes", []):
        print("note:", note)
    print(json.dumps(out["json"]))


if __name__ == "__main__":
    main()
