"""``--demo``: the whole app against the in-process loopback simulator, no network needed.

The demo runs the real adapters and runners over real sockets on 127.0.0.1, with the market clock
on a timer and a low rate of random faults, so what the user sees (resyncs, reconnects, crunches)
is exactly what the live code paths do.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from lcm_tui.runtime.sim.faults import FaultKind, FaultPlan
from lcm_tui.runtime.sim.server import SimServer, venue_sims

if TYPE_CHECKING:
    from lcm_tui.config import Settings

STEP_INTERVAL_S = 0.1
# Per market step and symbol: with ~12 streams at 10 steps/s, a fault every few minutes.
FAULT_RATE = 1 / 20_000
DEMO_FAULTS = (FaultKind.DROP, FaultKind.MALFORMED, FaultKind.DISCONNECT)


def demo_venues(settings: Settings) -> dict[str, list[str]]:
    """Simulated venue -> its spelling of every ``demo.symbols`` pair (config-enabled venues, else all).

    The spelling is the simulator's own (``VenueSim.join_symbol``), as a real venue's would be.
    """
    have = venue_sims()
    names = [v.name for v in settings.venues.values() if v.enabled and v.name in have]
    if not names:
        names = list(have)
    out = {}
    for v in names:
        out[v] = [have[v].join_symbol(*pair.split("-", 1)) for pair in settings.demo.symbols]
    return out


def demo_server(settings: Settings, *, step_interval_s: float = STEP_INTERVAL_S,
                fault_rate: float = FAULT_RATE) -> SimServer:
    seed = settings.demo.seed
    plan = FaultPlan(random_rate=fault_rate, random_kinds=DEMO_FAULTS, rng=random.Random(seed))
    return SimServer(demo_venues(settings), seed=seed, step_interval_s=step_interval_s, faults=plan)


@asynccontextmanager
async def start_demo(settings: Settings, *, step_interval_s: float = STEP_INTERVAL_S,
                     fault_rate: float = FAULT_RATE) -> AsyncIterator[Settings]:
    """Run the simulator for the duration of the block; yields settings pointing every venue at it."""
    server = demo_server(settings, step_interval_s=step_interval_s, fault_rate=fault_rate)
    await server.start()
    try:
        yield server.configure(settings)
    finally:
        await server.close()
