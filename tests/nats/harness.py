"""Collectors and viewers run in-process exactly as ``lcm-tui collect`` / ``attach`` run them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lcm_tui.config import Settings, load_settings
from lcm_tui.runtime.bus.collector import Collector
from lcm_tui.runtime.bus.connect import NatsOptions
from lcm_tui.runtime.bus.run import collect

SAMPLE_S = 0.2  # a fast sample clock keeps the suite short; nothing depends on its value


def shard_settings(venues: list[str], *, sample_s: float = SAMPLE_S, seed: int = 7) -> Settings:
    s = load_settings(None)
    for name, vc in s.venues.items():
        vc.enabled = name in venues
    s.metrics.sample_interval_s = sample_s
    s.demo.seed = seed
    return s


@dataclass
class RunningCollector:
    settings: Settings
    opts: NatsOptions
    collector_id: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[int] | None = None
    col: Collector | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Collector:
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()

        def on_ready(c: Collector) -> None:
            self.col = c
            self.ready.set()

        self.task = asyncio.create_task(collect(self.settings, self.opts, demo=True, collector_id=self.collector_id,
                                                stop=self.stop, on_ready=on_ready, demo_fault_rate=0.0,
                                                demo_step_interval_s=0.05))
        done, _ = await asyncio.wait({self.task, asyncio.create_task(self.ready.wait())}, timeout=20,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            raise AssertionError(f"collector exited early: {self.task.result()}")
        assert self.col is not None
        return self.col

    async def halt(self) -> int:
        self.stop.set()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 20)


@contextlib.asynccontextmanager
async def running(rc: RunningCollector) -> AsyncIterator[Collector]:
    col = await rc.start()
    try:
        yield col
    finally:
        if rc.task is not None and not rc.task.done():
            await rc.halt()
